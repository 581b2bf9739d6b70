"""SPARE3D questions: three-view-to-isometric (T2I), isometric-to-pose (I2P) and
pose-to-isometric (P2I), built from models with their drawings and checked.

Each builder takes one model and a question index and returns a `Question` (uint8 images
and the answer) or raises `Rejected` naming the quality filter that refused it:

* `identical_candidates`: two T2I/P2I candidates draw identically (the question has two
  right answers), or a T2I distractor also matches the three views;
* `pose_ambiguous`: for I2P/P2I, any two of the candidate poses give identical drawings
  (all pairs, not only those with the answer: a label-dependent check kept symmetric
  models only under some labels). Found by drawing the poses and comparing, not by the
  original pixel score;
* `blank`: a drawing with no visible line, or almost none (fewer line pixels than a
  quarter of the image side);
* `invisible_change`: no similar-object modification changed the drawings in the allowed
  number of tries;
* `near_duplicate` (applied across questions by the generator): the model's f/r/t
  drawings match an earlier kept model's (see `fingerprint`).

Each filter can be switched off (`TaskOptions.filters`); a switched-off filter keeps the
question (an invisible change then keeps the last modification tried).

Answers are balanced by construction: question i's answer is i mod 4 (T2I, P2I: the
position of the right candidate; I2P: the index of the pose among 1, 2, 5, 6).

Extended variants (`TaskOptions.poses = 20`, the cube-edge poses 9-20 of the 2022 paper):
P2I draws the queried and the wrong poses from 1..20, pose data has 20 isometrics, and
I2P becomes a 20-way question (label = pose - 1 = i mod 20).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from renderers.errors import RenderError
from renderers.hlr_options import HLROptions
from renderers.mesh_io import Mesh
from renderers.mesh_lines import draw_mesh
from renderers.render import RenderOptions, image
from renderers.styles import MODES, check_line_width, get_style
from renderers.views import PRESETS

from . import csg_mesh
from .csg_spec import rng_for

I2P_POSES = (1, 2, 5, 6)
FILTERS = ("identical_candidates", "pose_ambiguous", "blank", "invisible_change", "near_duplicate")
#: The filters each task's builder can apply (blank drawings and near-duplicates: all).
TASK_FILTERS = {
    "t2i": ("identical_candidates", "blank", "invisible_change", "near_duplicate"),
    "pairs": ("identical_candidates", "blank", "invisible_change", "near_duplicate"),
    "i2p": ("pose_ambiguous", "blank", "near_duplicate"),
    "p2i": ("pose_ambiguous", "blank", "near_duplicate"),
    "poses": ("pose_ambiguous", "blank", "near_duplicate"),
}


class Rejected(Exception):
    """A question refused by a quality filter; `reason` is one of FILTERS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class TaskOptions:
    """Drawing size and style, and how the similar objects are made."""

    size: int = 200
    style: str = "spare3d"
    operation: str = "cut"
    tries: int = 10
    hlr: str = "auto"
    filters: tuple[str, ...] = FILTERS
    poses: int = 8
    line_width: float = 1.0  # times the style's widths
    mode: str = "lines"  # or "shaded": grey shaded renders (renderers.shaded) instead of line drawings
    overlaps: bool = True  # OpenCascade: draw right solids that pass into one another (HLROptions.overlaps)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (use {' or '.join(MODES)})")
        if self.poses not in (8, 20):
            raise ValueError(f"poses must be 8 (SPARE3D) or 20 (extended), got {self.poses}")
        get_style(self.style)
        check_line_width(self.line_width)
        bad = [f for f in self.filters if f not in FILTERS]
        if bad:
            raise ValueError(f"unknown filter {bad[0]!r} (known: {', '.join(FILTERS)})")

    def reject(self, reason: str, detail: str) -> None:
        """Raise Rejected if the filter is on."""
        if reason in self.filters:
            raise Rejected(reason, detail)


@dataclass
class Question:
    """One question: f/r/t views, candidates (or the I2P isometric) and the answer index.

    `pose` is the queried pose for P2I and the shown pose for I2P; `candidate_poses` the
    pose of each P2I candidate; `shapes` the model behind each candidate (T2I) or the
    model (I2P, P2I), kept in memory only.
    """

    task: str
    index: int
    views: dict[str, np.ndarray]
    candidates: list[np.ndarray]
    answer: int
    pose: int | None = None
    candidate_poses: list[int] = field(default_factory=list)
    shapes: list = field(default_factory=list, repr=False)


class Drawer:
    """Draws shapes to uint8 images with fixed options (the renderers' PNG pixels).

    One Drawer serves one question, whose images are compared with each other, so they must
    come from one hidden-line algorithm per view: once `auto` draws a view of one shape
    polygonally (renderers.cad: exact HLR would crawl), that view is drawn polygonally for
    every shape of the question, and the images already returned are redrawn in place.
    """

    def __init__(self, options: TaskOptions) -> None:
        self.options = options
        self.render = RenderOptions((PRESETS["f"],), size=options.size, style=options.style, line_width=options.line_width)
        self.poly_views: set[str] = set()
        self._drawn: list[tuple[object, dict[str, np.ndarray]]] = []

    def images(self, shape, names: list[str]) -> dict[str, np.ndarray]:
        """Draw an OCCT shape (or a renderers Mesh) in the named views."""
        out, poly = self._draw(shape, names)
        new = poly - self.poly_views if self.options.hlr == "auto" else set()
        if new:
            self.poly_views |= new
            for earlier, imgs in self._drawn:
                imgs.update(self._draw(earlier, [n for n in imgs if n in new])[0])
        self._drawn.append((shape, out))
        return out

    def _draw(self, shape, names: list[str]) -> tuple[dict[str, np.ndarray], set[str]]:
        """Images of the named views and the names drawn polygonally."""
        if not names:
            return {}, set()
        views = [PRESETS[n] for n in names]
        if is_mesh_model(shape):
            shape = csg_mesh.surface_mesh(shape)
        if self.options.mode == "shaded":
            return self._shade(shape, views), set()
        if isinstance(shape, Mesh):
            drawings = draw_mesh(shape, views, self.render.hlr.mesh)
        else:
            from renderers.cad import draw_shape  # OpenCascade, loaded for OCCT models only

            tolerance = self.render.hlr.tolerance  # scaled to the image size
            hlr = HLROptions(self.options.hlr, tolerance=tolerance, force_poly=tuple(sorted(self.poly_views)),
                             overlaps=self.options.overlaps)
            drawings = draw_shape(shape, views, hlr)
        out = {}
        for d in drawings:
            if d.is_blank():
                self.options.reject("blank", f"view {d.view.name} has no visible line")
            out[d.view.name] = self._checked(d.view.name, image(d, self.render))
        return out, {d.view.name for d in drawings if d.algorithm == "poly"}

    def _shade(self, shape, views) -> dict[str, np.ndarray]:
        """Shaded renders of the views, framed as the line drawings are (the same model
        fills the same pixels); an OCCT shape is tessellated at the drawings' tolerance."""
        from renderers.shaded import render_shaded

        if not isinstance(shape, Mesh):
            from renderers.cad import load_mesh  # OpenCascade, loaded for OCCT models only

            shape = load_mesh(shape, tolerance=self.render.hlr.tolerance)
        shaded = render_shaded(shape, views, self.options.size, self.render.framing, self.render.frame_factor)
        return {s.view.name: self._checked(s.view.name, s.color) for s in shaded}

    def _checked(self, name: str, img: np.ndarray) -> np.ndarray:
        """`img`, unless it is a speck (parts far apart framed together, say): refused as blank."""
        ink = int((img.reshape(*img.shape[:2], -1).min(axis=2) < 250).sum())  # anti-aliased too
        if ink < self.options.size // 4:
            what = "line" if self.options.mode == "lines" else "shaded"
            self.options.reject("blank", f"view {name} has only {ink} {what} pixels")
        return img


def is_mesh_model(model) -> bool:
    """Whether `model` comes from the mesh engine: a list of manifold3d solids
    (`csg_mesh`), where the OpenCascade engine's models are OCCT shapes."""
    return isinstance(model, list)


def similar_tool(model, rng: np.random.Generator, size: int = 200):
    """The similar-object rule's random primitive for a model of either engine; a mesh
    engine's tool is tessellated as its models are for `size`-pixel drawings."""
    if is_mesh_model(model):
        return csg_mesh.similar_tool(model, rng, csg_mesh.chordal_fraction(size), relative=True)
    from .csg import similar_tool as occ_similar_tool

    return occ_similar_tool(model, rng)


def apply_tool(model, tool, operation: str = "cut"):
    """Cut, unite or intersect a model of either engine with a tool (`csg.apply_tool`,
    `csg_mesh.apply_tool`); RenderError when the change leaves nothing (a mesh model
    emptied by its intersection, say): a failed try, as a boolean OpenCascade refuses."""
    if not is_mesh_model(model):
        from .csg import apply_tool as occ_apply_tool

        return occ_apply_tool(model, tool, operation)
    changed = csg_mesh.apply_tool(model, tool, operation)
    if not changed:
        raise RenderError("<csg model>", f"the {operation} left nothing of the model")
    return changed


def _slot(index: int, slot: int | None) -> int:
    """The answer counter: the question index, or `slot` when the generator asks one model
    several questions (generate.answer_slot: balanced, and the repeats move through the
    answers)."""
    return index if slot is None else slot


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two drawings are equal: candidates of different shapes must differ in some
    pixel (a one-pixel tolerance would merge real changes at 32-64 px)."""
    return bool(np.array_equal(a, b))


#: Largest difference (0-255) between two drawings blurred by a 1-px Gaussian that still
#: counts as the same lines. Measured: a cylinder's poses 1 and 2, 2.5-17 at 32-200 px;
#: the closest two of poses 1, 2, 5, 6 of 16 three-primitive CSG models, 39-150.
SAME_LINES_LEVEL = 25.0


def _same_lines(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two drawings of one shape show the same lines, up to anti-aliasing noise.

    For pose ambiguity, equal bytes are too strict: a round part seen from poses 1 and 2
    draws the same lines, but where OCCT starts discretising the circle moves, and the
    anti-aliasing then differs in hundreds of pixels (up to 63 levels). Blurred by one
    pixel that noise stays under SAME_LINES_LEVEL; a line that is missing or moves does not.
    """
    if a.shape != b.shape:
        return False
    if np.array_equal(a, b):
        return True
    import cv2

    fa, fb = (cv2.GaussianBlur(x.astype(np.float32), (0, 0), 1.0) for x in (a, b))
    return float(np.abs(fa - fb).max()) < SAME_LINES_LEVEL


def _reject_ambiguous(poses, imgs: dict[str, np.ndarray], drawer: Drawer) -> None:
    """pose_ambiguous if any two of `poses` draw the same lines: the check must not depend
    on which of them is the answer, or symmetric models would only carry some labels."""
    for k, p in enumerate(poses):
        for q in poses[:k]:
            if _same_lines(imgs[str(p)], imgs[str(q)]):
                drawer.options.reject("pose_ambiguous", f"poses {q} and {p} draw the same")


def t2i(model, index: int, seed: int, drawer: Drawer, slot: int | None = None) -> Question:
    """Four similar objects (four different random modifications of one model); the
    views of one of them and the pose-2 isometric of each as the candidates."""
    rng = rng_for(seed, "t2i", index)
    base = drawer.images(model, ["f", "r", "t", "2"])
    variants: list[dict[str, np.ndarray]] = []
    shapes = []
    for _ in range(4):
        shape, imgs = _visible_variant(model, base, rng, drawer)
        variants.append(imgs)
        shapes.append(shape)
    answer = _slot(index, slot) % 4
    for k in range(4):
        for j in range(k):
            if _same(variants[k]["2"], variants[j]["2"]):
                drawer.options.reject("identical_candidates", f"candidates {j} and {k} draw the same")
        if k != answer and all(_same(variants[k][v], variants[answer][v]) for v in "frt"):
            drawer.options.reject("identical_candidates", f"candidate {k} also matches the views")
    views = {v: variants[answer][v] for v in "frt"}
    return Question("t2i", index, views, [var["2"] for var in variants], answer, shapes=shapes)


def _visible_variant(model, base, rng, drawer: Drawer) -> tuple[object, dict[str, np.ndarray]]:
    """A similar object whose f, r, t or pose-2 drawing differs from the model's."""
    last = None
    for _ in range(drawer.options.tries):
        tool = similar_tool(model, rng, drawer.options.size)
        try:
            changed = apply_tool(model, tool, drawer.options.operation)
            imgs = drawer.images(changed, ["f", "r", "t", "2"])
        except (Rejected, RenderError):
            continue
        if any(not _same(imgs[v], base[v]) for v in base):
            return changed, imgs
        last = (changed, imgs)
    drawer.options.reject("invisible_change", f"no visible modification in {drawer.options.tries} tries")
    if last is None:
        raise Rejected("invisible_change", "no modification could be made")
    return last


def i2p(model, index: int, seed: int, drawer: Drawer, slot: int | None = None) -> Question:
    """The three views and one isometric; the answer is which of poses 1, 2, 5, 6 it shows
    (extended: which of poses 1..20, label = pose - 1)."""
    candidates = I2P_POSES if drawer.options.poses == 8 else tuple(range(1, 21))
    imgs = drawer.images(model, ["f", "r", "t"] + [str(p) for p in candidates])
    answer = _slot(index, slot) % len(candidates)
    shown = imgs[str(candidates[answer])]
    _reject_ambiguous(candidates, imgs, drawer)
    return Question("i2p", index, {v: imgs[v] for v in "frt"}, [shown], answer, pose=candidates[answer], shapes=[model])


def p2i(model, index: int, seed: int, drawer: Drawer, slot: int | None = None) -> Question:
    """The three views and a pose k; four isometrics of the model from k and three other
    poses; the answer is the candidate seen from k."""
    rng = rng_for(seed, "p2i", index)
    pose = int(rng.integers(1, drawer.options.poses + 1))
    others = [p for p in range(1, drawer.options.poses + 1) if p != pose]
    wrong = [int(p) for p in rng.choice(others, size=3, replace=False)]
    answer = _slot(index, slot) % 4
    poses = wrong[:answer] + [pose] + wrong[answer:]
    imgs = drawer.images(model, ["f", "r", "t"] + [str(p) for p in poses])
    _reject_ambiguous(sorted(poses), imgs, drawer)
    return Question(
        "p2i", index, {v: imgs[v] for v in "frt"}, [imgs[str(p)] for p in poses], answer, pose, poses, [model]
    )


def pairs(model, index: int, seed: int, drawer: Drawer) -> Question:
    """Self-supervised pair data: two similar objects (two different random changes of the
    model), f/r/t and the pose-2 isometric of each. The four pairings (views of i,
    isometric of j) for (i, j) = (0,0), (0,1), (1,0), (1,1) are labelled 1, 0, 0, 1."""
    rng = rng_for(seed, "pairs", index)
    base = drawer.images(model, ["f", "r", "t", "2"])
    objects = [_visible_variant(model, base, rng, drawer) for _ in range(2)]
    (s0, a), (s1, b) = objects
    if _same(a["2"], b["2"]) or all(_same(a[v], b[v]) for v in "frt"):
        drawer.options.reject("identical_candidates", "the two objects draw the same")
    views = {f"{k}_{v}": imgs[v] for k, (_, imgs) in enumerate(objects) for v in "frt"}
    return Question("pairs", index, views, [a["2"], b["2"]], -1, shapes=[s0, s1])


def poses(model, index: int, seed: int, drawer: Drawer) -> Question:
    """Pose-pretext data: f/r/t and the isometric from each of poses 1..8 (or 1..20)."""
    count = drawer.options.poses
    names = [str(p) for p in range(1, count + 1)]
    imgs = drawer.images(model, ["f", "r", "t"] + names)
    for k in range(count):
        for j in range(k):
            if _same_lines(imgs[names[k]], imgs[names[j]]):
                drawer.options.reject("pose_ambiguous", f"poses {names[j]} and {names[k]} draw the same")
    return Question("poses", index, {v: imgs[v] for v in "frt"}, [imgs[n] for n in names], -1,
                    candidate_poses=list(range(1, count + 1)), shapes=[model])


BUILDERS = {"t2i": t2i, "i2p": i2p, "p2i": p2i, "pairs": pairs, "poses": poses}
#: The builders with an answer slot (the others label every pairing or pose).
ANSWERED = ("t2i", "i2p", "p2i")


def fingerprint(q: Question, side: int = 32) -> np.ndarray:
    """Packed bits of the question's f/r/t line masks at `side` x `side`: models whose
    fingerprints differ in under 1% of the bits count as near-duplicates."""
    import cv2

    bits = []
    for v in ("f", "r", "t") if "f" in q.views else ("0_f", "0_r", "0_t"):
        ink = (q.views[v].min(axis=2) < 200).astype(np.float32)
        bits.append(cv2.resize(ink, (side, side), interpolation=cv2.INTER_AREA) > 0.05)
    return np.packbits(np.concatenate([b.ravel() for b in bits]))


class DuplicateFinder:
    """Remembers kept fingerprints and whose they are; `seen` says whether a new one nearly
    matches one of another model (questions asked again of one model are not duplicates)."""

    _POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)

    def __init__(self, tolerance: float = 0.01) -> None:
        self.tolerance = tolerance
        self.kept: list[np.ndarray] = []
        self.owners: list[int] = []

    def seen(self, fp: np.ndarray, owner: int) -> bool:
        """Whether `fp` nearly matches a kept fingerprint of a model other than `owner`;
        if not, it is kept."""
        if self.kept:
            diff = self._POPCOUNT[np.bitwise_xor(np.stack(self.kept), fp)].sum(axis=1)
            near = (diff < self.tolerance * fp.size * 8) & (np.asarray(self.owners) != owner)
            if near.any():
                return True
        self.kept.append(fp)
        self.owners.append(owner)
        return False
