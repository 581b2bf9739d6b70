"""The `Drawing` value: 2D polylines per edge class for one view, in model units.

Everything downstream (PNG, SVG, arrays, datasets) consumes a Drawing; nothing here
imports OCCT. Framing turns a Drawing into a square window of the view plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .views import View


@dataclass(frozen=True)
class Polylines:
    """Many polylines packed in one array, so numpy works on all of them at once.

    Attributes:
        points: (N, 2) float64 vertices of every polyline, one after another.
        starts: (k + 1,) int64 offsets; polyline i is points[starts[i]:starts[i + 1]].
    """

    points: np.ndarray
    starts: np.ndarray

    @staticmethod
    def empty() -> "Polylines":
        return Polylines(np.zeros((0, 2)), np.zeros(1, dtype=np.int64))

    @staticmethod
    def from_list(polys: list[np.ndarray]) -> "Polylines":
        """Pack a list of (n_i, 2) arrays."""
        if not polys:
            return Polylines.empty()
        lengths = [len(p) for p in polys]
        starts = np.zeros(len(polys) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        return Polylines(np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polys]), starts)

    @staticmethod
    def concat(parts: "list[Polylines]") -> "Polylines":
        """One Polylines holding all the polylines of `parts`, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Polylines.empty()
        offsets = np.cumsum([0] + [len(p.points) for p in parts[:-1]])
        starts = np.concatenate([parts[0].starts[:1]] + [p.starts[1:] + o for p, o in zip(parts, offsets)])
        return Polylines(np.concatenate([p.points for p in parts]), starts)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def arrays(self) -> list[np.ndarray]:
        """The polylines as a list of (n_i, 2) views into `points`.

        Plain slicing: np.split costs ~4x more per piece, and HLR drawings hold thousands.
        """
        s = self.starts.tolist()
        return [self.points[i:j] for i, j in zip(s[:-1], s[1:])]

    def slice(self, i: int, j: int) -> "Polylines":
        """Polylines i .. j-1."""
        lo, hi = self.starts[i], self.starts[j]
        return Polylines(self.points[lo:hi], self.starts[i : j + 1] - lo)

    def map(self, points: np.ndarray) -> "Polylines":
        """The same polylines with new vertex coordinates (same count)."""
        return Polylines(points, self.starts)


def join_segments(segments: np.ndarray) -> Polylines:
    """(n, 2, 2) line segments -> polylines, joined where exactly two segment ends meet.

    Polygonal HLR and the mesh renderer give thousands of 2-point segments per view. As
    separate polylines they restart every dash pattern (a dashed hidden line drew solid),
    bloat SVGs and slow rasterising. Ends are matched exactly (both producers emit shared
    points bit for bit); a point where three or more ends meet stays a break, a closed
    loop becomes a polyline that ends where it starts, and zero-length segments are kept
    as they are, last. Vectorised list ranking (pointer jumping), so no Python loop over
    segments; the output order depends only on the input, so drawings stay deterministic.
    """
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2)
    solo = np.all(seg[:, 0] == seg[:, 1], axis=1)
    ends = seg[~solo].reshape(-1, 2)  # port p is end p % 2 of segment p // 2
    n_ports = len(ends)
    if not n_ports:
        return _as_pairs(seg)
    # Equal points, found by one sort of x + iy (complex order is x, then y).
    z = ends[:, 0] + 1j * ends[:, 1]
    order = np.argsort(z, kind="stable")
    sz = z[order]
    sv = np.cumsum(np.r_[True, sz[1:] != sz[:-1]]) - 1  # point id of each sorted port
    degree = np.bincount(sv)
    pair = np.flatnonzero((sv[:-1] == sv[1:]) & (degree[sv[:-1]] == 2))
    mate = np.full(n_ports, -1, dtype=np.int64)
    mate[order[pair]], mate[order[pair + 1]] = order[pair + 1], order[pair]
    # A state p walks segment p // 2 from port p to port p ^ 1; the state before it left
    # the previous segment through mate[p], so it started at mate[p] ^ 1.
    pred = np.where(mate >= 0, mate ^ 1, -1)
    root, dist, low = _rank(pred)
    cyclic = pred[root] >= 0
    key = np.where(cyclic, low, root)  # a chain's first state: its head, or its lowest on a loop
    if cyclic.any():  # open each loop at its lowest state
        cut = pred.copy()
        cut[np.unique(low[cyclic])] = -1
        root, dist, _ = _rank(cut)
    # Each chain is ranked in both directions; keep the one with the lower first state.
    states = np.arange(n_ports)
    keep = states[key < key[states ^ 1]]
    keep = keep[np.lexsort((dist[keep], root[keep]))]
    is_first = np.r_[True, root[keep][1:] != root[keep][:-1]]
    first = np.flatnonzero(is_first)
    chain = np.cumsum(is_first) - 1
    points = np.empty((len(keep) + len(first), 2))
    points[np.arange(len(keep)) + chain + 1] = ends[keep ^ 1]
    points[first + np.arange(len(first))] = ends[keep[first]]
    starts = np.r_[first + np.arange(len(first)), len(points)].astype(np.int64)
    return Polylines.concat([Polylines(points, starts), _as_pairs(seg[solo])])


def _as_pairs(seg: np.ndarray) -> Polylines:
    """(n, 2, 2) segments as n 2-point polylines, unjoined."""
    return Polylines(seg.reshape(-1, 2), np.arange(0, 2 * len(seg) + 1, 2, dtype=np.int64))


def _rank(pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """List ranking over `pred` (-1 at a head): each state's root (its head, or a state of
    its cycle), its distance from the root, and the lowest state at or before it (over a
    whole cycle for states on one)."""
    states = np.arange(len(pred))
    head = pred < 0
    up = np.where(head, states, pred)
    dist = (~head).astype(np.int64)
    low = np.minimum(states, up)
    for _ in range(max(1, int(np.ceil(np.log2(len(pred)))) + 1)):
        dist = dist + dist[up]
        low = np.minimum(low, low[up])
        up = up[up]
    return up, dist, low


class EdgeClass(str, Enum):
    """Edge classes of a hidden-line drawing."""

    VISIBLE_SHARP = "visible_sharp"
    VISIBLE_OUTLINE = "visible_outline"
    VISIBLE_SMOOTH = "visible_smooth"
    HIDDEN_SHARP = "hidden_sharp"
    HIDDEN_OUTLINE = "hidden_outline"
    HIDDEN_SMOOTH = "hidden_smooth"

    @property
    def visible(self) -> bool:
        return self.value.startswith("visible")


VISIBLE = (EdgeClass.VISIBLE_SHARP, EdgeClass.VISIBLE_OUTLINE, EdgeClass.VISIBLE_SMOOTH)
HIDDEN = (EdgeClass.HIDDEN_SHARP, EdgeClass.HIDDEN_OUTLINE, EdgeClass.HIDDEN_SMOOTH)


@dataclass(frozen=True)
class Drawing:
    """One view of a model as polylines.

    Attributes:
        view: the view it was drawn for.
        lines: edge class -> Polylines in view coordinates (x along view.xdir, y along
            view.ydir, model units).
        model_box: (2, 3) tight 3D bounds (min row, max row) of what was drawn; the
            shared SPARE3D framing scales every view of a model by this box.
        algorithm: "exact" (HLRBRep_Algo) or "poly" (HLRBRep_PolyAlgo).
        hlr_seconds: wall time spent in OCCT's hidden-line removal for this view.
    """

    view: View
    lines: dict[EdgeClass, Polylines]
    model_box: np.ndarray
    algorithm: str
    hlr_seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def packed(self, classes: tuple[EdgeClass, ...] | None = None) -> Polylines:
        """The polylines of the given classes (default: all) packed together."""
        keep = classes if classes is not None else tuple(EdgeClass)
        return Polylines.concat([self.lines[c] for c in keep if c in self.lines])

    def polylines(self, classes: tuple[EdgeClass, ...] | None = None) -> list[np.ndarray]:
        """The polylines of the given classes (default: all) as a list of (n, 2) arrays."""
        return self.packed(classes).arrays()

    def bounds2d(self) -> np.ndarray:
        """(2, 2) min/max of every polyline point, or the projected model box if empty."""
        pts = self.packed().points
        if not len(pts):
            return _box_corners_bounds(self.view, self.model_box)
        return np.stack([pts.min(axis=0), pts.max(axis=0)])

    def is_blank(self) -> bool:
        """True when no visible line was drawn."""
        return len(self.packed(VISIBLE).points) < 2


def _box_corners_bounds(view: View, box: np.ndarray) -> np.ndarray:
    lo, hi = np.asarray(box, dtype=np.float64)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    p = view.project(corners)
    return np.stack([p.min(axis=0), p.max(axis=0)])


@dataclass(frozen=True)
class Frame:
    """A square window of the view plane: `center` (2,) and `side`, both in model units."""

    center: tuple[float, float]
    side: float

    def to_pixels(self, points: np.ndarray, size: int) -> np.ndarray:
        """Map (n, 2) view points to pixel coordinates (x right, y down, pixel centres at +0.5)."""
        s = size / self.side
        c = np.asarray(self.center)
        px = (np.asarray(points, dtype=np.float64) - c) * s
        return np.stack([px[:, 0] + size / 2.0, size / 2.0 - px[:, 1]], axis=1)


#: Default window factors: SPARE3D's shared 1.7 x the longest box edge; per-view fit margin.
DEFAULT_FACTOR = {"shared": 1.7, "fit": 1.15}


def frame(drawing: Drawing, mode: str = "shared", factor: float | None = None) -> Frame:
    """Choose the window for a drawing.

    `shared` (SPARE3D 2020-09): side = factor x the longest edge of the model's 3D box,
    the same for every view of a model, centred on the centre of this view's 2D bounds.
    `fit` (SPARE3D 2020-03): side = factor x the larger 2D extent of this view.
    """
    return frame_from_bounds(drawing.bounds2d(), drawing.model_box, mode, factor)


def frame_from_bounds(b2: np.ndarray, model_box: np.ndarray, mode: str = "shared", factor: float | None = None) -> Frame:
    """The window for a view whose content has 2D bounds `b2` (2, 2), of a model with 3D
    box `model_box` (2, 3); see `frame`."""
    if mode not in DEFAULT_FACTOR:
        raise ValueError(f"unknown framing {mode!r} (use shared or fit)")
    f = DEFAULT_FACTOR[mode] if factor is None else float(factor)
    if not np.isfinite(f) or f <= 0:
        raise ValueError(f"frame factor must be a positive number, got {factor!r}")
    center = (b2[0] + b2[1]) / 2.0
    model_extent = float(np.max(model_box[1] - model_box[0]))
    if mode == "shared":
        extent = model_extent
    else:
        extent = float(np.max(b2[1] - b2[0])) or model_extent
    return Frame((float(center[0]), float(center[1])), f * extent)


@dataclass
class Timings:
    """Seconds per stage, summed over a model's views: check (our checks of a CAD file
    before OCCT reads it), read (OCCT's reader), prepare (OCCT's regularity marking and
    tight bounds), plan (`auto`'s cost analysis), mesh, hlr and discretise (HLR's output
    to polylines)."""

    check: float = 0.0
    read: float = 0.0
    prepare: float = 0.0
    plan: float = 0.0
    mesh: float = 0.0
    hlr: float = 0.0
    discretise: float = 0.0
