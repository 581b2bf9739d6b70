"""Orthographic view definitions: the SPARE3D presets and custom views.

A view is a pair (N, X): N points from the object toward the viewer, X is the image
x axis and image up is Y = N x X. Pure numpy, no OCCT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class View:
    """An orthographic view: `name`, unit `direction` N (toward the viewer), unit `xdir` X."""

    name: str
    direction: tuple[float, float, float]
    xdir: tuple[float, float, float]

    @property
    def ydir(self) -> tuple[float, float, float]:
        """Image up, N x X."""
        return tuple(float(v) for v in np.cross(self.direction, self.xdir))  # type: ignore[return-value]

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project (n, 3) model points to (n, 2) view coordinates (x along X, y along up)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return np.stack([pts @ np.asarray(self.xdir), pts @ np.asarray(self.ydir)], axis=1)


def make_view(name: str, direction, xdir) -> View:
    """Build a view from any (non-unit) direction and x axis; X is made orthogonal to N.

    Raises ValueError for a zero vector or an x axis parallel to the direction.
    """
    n = np.asarray(direction, dtype=np.float64).reshape(3)
    x = np.asarray(xdir, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(n)) or not np.all(np.isfinite(x)):
        raise ValueError(f"view {name!r}: direction and x axis must be finite")
    # Scaled by the largest component first: the norm of (1e308, 1e308, 1) overflows.
    big_n, big_x = np.abs(n).max(), np.abs(x).max()
    if big_n < 1e-300 or np.linalg.norm(n / big_n) * big_n < 1e-12:
        raise ValueError(f"view {name!r}: direction is the zero vector")
    n = n / big_n
    n = n / np.linalg.norm(n)
    x = x / big_x if big_x > 0 else x
    x = x - (x @ n) * n
    nx = np.linalg.norm(x)
    if nx < 1e-9:
        raise ValueError(f"view {name!r}: x axis is parallel to the view direction")
    x = x / nx
    return View(name, tuple(float(v) for v in n), tuple(float(v) for v in x))  # type: ignore[arg-type]


_POSE_X = {1: (1, -1, 0), 2: (1, 1, 0), 3: (-1, 1, 0), 4: (-1, -1, 0)}

_RAW: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "f": ((0, -1, 0), (1, 0, 0)),
    "r": ((1, 0, 0), (0, 1, 0)),
    "t": ((0, 0, 1), (1, 0, 0)),
    "1": ((-1, -1, 1), _POSE_X[1]),
    "2": ((1, -1, 1), _POSE_X[2]),
    "3": ((1, 1, 1), _POSE_X[3]),
    "4": ((-1, 1, 1), _POSE_X[4]),
    "5": ((-1, -1, -1), _POSE_X[1]),
    "6": ((1, -1, -1), _POSE_X[2]),
    "7": ((1, 1, -1), _POSE_X[3]),
    "8": ((-1, 1, -1), _POSE_X[4]),
    "9": ((0, -1, 1), (1, 0, 0)),
    "10": ((0, -1, -1), (1, 0, 0)),
    "11": ((1, 0, 1), (0, 1, 0)),
    "12": ((1, 0, -1), (0, 1, 0)),
    "13": ((0, 1, 1), (-1, 0, 0)),
    "14": ((0, 1, -1), (-1, 0, 0)),
    "15": ((-1, 0, 1), (0, -1, 0)),
    "16": ((-1, 0, -1), (0, -1, 0)),
    "17": ((-1, -1, 0), _POSE_X[1]),
    "18": ((1, -1, 0), _POSE_X[2]),
    "19": ((1, 1, 0), _POSE_X[3]),
    "20": ((-1, 1, 0), _POSE_X[4]),
}

#: Every SPARE3D preset by name: f, r, t and poses "1".."20".
PRESETS: dict[str, View] = {k: make_view(k, n, x) for k, (n, x) in _RAW.items()}

#: Named view sets.
VIEW_SETS: dict[str, tuple[str, ...]] = {
    "spare3d11": ("f", "r", "t", *(str(i) for i in range(1, 9))),
    "spare3d23": ("f", "r", "t", *(str(i) for i in range(1, 21))),
}


def parse_views(spec: str) -> list[View]:
    """Parse a view list: a set name, or comma-separated presets and custom views.

    A custom view is written `name=nx:ny:nz/xx:xy:xz`, e.g. `back=0:1:0/-1:0:0`.
    Raises ValueError naming the first bad entry.
    """
    spec = spec.strip()
    if not spec:
        raise ValueError("no views given")
    if spec in VIEW_SETS:
        return [PRESETS[k] for k in VIEW_SETS[spec]]
    views: list[View] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            raise ValueError(f"empty entry in the view list {spec!r}")
        if item in VIEW_SETS:
            views.extend(PRESETS[k] for k in VIEW_SETS[item])
        elif item in PRESETS:
            views.append(PRESETS[item])
        elif "=" in item:
            views.append(_parse_custom(item))
        else:
            known = ", ".join([*VIEW_SETS, "f", "r", "t", "1..20", "name=nx:ny:nz/xx:xy:xz"])
            raise ValueError(f"unknown view {item!r} (known: {known})")
    names = [v.name for v in views]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"view names repeat: {', '.join(dupes)}")
    return views


def _parse_custom(item: str) -> View:
    name, _, vec = item.partition("=")
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"custom view {item!r}: name must be 1-64 letters, digits, '-' or '_'")
    if name in PRESETS or name in VIEW_SETS:
        raise ValueError(f"custom view {item!r}: {name} is a preset's name, choose another")
    try:
        n_txt, x_txt = vec.split("/")
        n = [float(v) for v in n_txt.split(":")]
        x = [float(v) for v in x_txt.split(":")]
        if len(n) != 3 or len(x) != 3:
            raise ValueError
    except ValueError:
        raise ValueError(f"custom view {item!r}: expected name=nx:ny:nz/xx:xy:xz") from None
    return make_view(name, n, x)
