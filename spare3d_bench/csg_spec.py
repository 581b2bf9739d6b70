"""The engine-free half of SPARE3D-CSG: the recipe, the seeded generators and the primitive
parameters every engine builds from (`csg.py` with OpenCascade, `csg_mesh.py` with
manifold3d). Imports neither."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIMITIVES = ("box", "cylinder", "cone", "sphere")
VARIANTS = ("compound", "fused")
OPERATIONS = ("cut", "union", "intersection")


class GenerationError(RuntimeError):
    """A model or a modification could not be made within the allowed number of tries."""


def rng_for(seed: int, stream: str, index: int) -> np.random.Generator:
    """The random generator of one unit of work: independent of every other unit."""
    words = [int(seed), int.from_bytes(stream.encode()[:8].ljust(8, b"\0"), "little"), int(index)]
    return np.random.default_rng(np.random.SeedSequence(words))


@dataclass(frozen=True)
class CSGRecipe:
    """How many primitives, and whether they stay a compound or are fused."""

    primitives: int = 28
    variant: str = "compound"

    def __post_init__(self) -> None:
        if not 2 <= self.primitives <= 200:
            raise ValueError(f"primitives must be 2..200, got {self.primitives}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r} (use {', '.join(VARIANTS)})")


@dataclass(frozen=True)
class PrimitiveSpec:
    """One primitive's parameters, engine-free: `kind` and its `size` (box: dx, dy, dz;
    cylinder: r, h, sweep degrees; cone: r1, r2, h, sweep; sphere: r), then a rotation by
    `angle` degrees about principal `axis` (0 x, 1 y, 2 z) through the origin, then a
    translation by `move`. Cylinders and cones stand on z = 0 along +z, their sweep starting
    at +x towards +y; boxes span [0, size]; spheres sit on the origin."""

    kind: str
    size: tuple[float, ...]
    axis: int
    angle: float
    move: tuple[float, float, float]


def draw_primitive(rng: np.random.Generator) -> PrimitiveSpec:
    """The parameters of one SPARE3D-CSG primitive (the draws every engine shares)."""
    kind = PRIMITIVES[int(rng.integers(4))]
    if kind == "box":
        size = tuple(float(v) for v in rng.integers(5, 51, size=3))
    elif kind == "cylinder":
        size = (float(rng.integers(1, 26)), float(rng.integers(1, 51)), float(rng.integers(1, 361)))
    elif kind == "cone":
        r1 = int(rng.integers(5, 26))
        r2 = int(rng.integers(10, 51))
        h, sweep = int(rng.integers(1, 51)), int(rng.integers(1, 361))
        if r2 == r1:  # OCCT needs two radii; equal radii would be a cylinder
            r2 += 1
        size = (float(r1), float(r2), float(h), float(sweep))
    else:
        size = (float(rng.integers(5, 26)),)
    axis = int(rng.integers(3))
    angle = 90.0 * int(rng.integers(4))
    move = tuple(float(v) for v in rng.integers(0, 11, size=3))
    return PrimitiveSpec(kind, size, axis, angle, move)


@dataclass(frozen=True)
class ToolSpec:
    """The similar-object rule's primitive: `kind`, `size` (box: three sides; sphere: R;
    cone and cylinder: R, height along +z, the cone's tip up) and `center`."""

    kind: str
    size: tuple[float, ...]
    center: tuple[float, float, float]


def draw_tool(lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> ToolSpec:
    """The similar-object rule's random primitive for a model whose box is (lo, hi).

    A = (X + Y + Z) / 5 from the box extents; centre uniform in the middle half of the box
    on each axis; box sides U(0.5A, A); sphere R U(0.25A, 0.5A); cone base R U(0.25A, 0.5A)
    and height U(0.5A, A) along +Z; cylinder likewise.
    """
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    ext = hi - lo
    a = float(ext.sum()) / 5.0
    center = lo + ext * rng.uniform(0.25, 0.75, size=3)
    kind = PRIMITIVES[int(rng.integers(4))]
    if kind == "box":
        size = tuple(float(v) for v in rng.uniform(0.5 * a, a, size=3))
    elif kind == "sphere":
        size = (float(rng.uniform(0.25 * a, 0.5 * a)),)
    else:
        r = float(rng.uniform(0.25 * a, 0.5 * a))
        size = (r, float(rng.uniform(0.5 * a, a)))
    return ToolSpec(kind, size, tuple(float(v) for v in center))


def primitive_box(spec: PrimitiveSpec) -> np.ndarray:
    """(2, 3) box holding the posed primitive: exact for boxes and spheres, the full turn's
    box for partial cylinders and cones. Known before any engine builds it, so an engine can
    size its tessellation from the whole model's extent, as the renderers do."""
    if spec.kind == "box":
        lo, hi = np.zeros(3), np.asarray(spec.size, dtype=np.float64)
    elif spec.kind == "sphere":
        r = spec.size[0]
        lo, hi = np.full(3, -r), np.full(3, r)
    else:
        r, h = (spec.size[0], spec.size[1]) if spec.kind == "cylinder" else (max(spec.size[:2]), spec.size[2])
        lo, hi = np.array([-r, -r, 0.0]), np.array([r, r, h])
    corners = np.stack(np.meshgrid(*zip(lo, hi), indexing="ij"), axis=-1).reshape(-1, 3)
    if spec.angle:
        a = np.radians(spec.angle)
        c, s = round(float(np.cos(a))), round(float(np.sin(a)))  # multiples of 90 degrees: exact
        i, j = (spec.axis + 1) % 3, (spec.axis + 2) % 3  # right-handed about the axis
        turned = corners.copy()
        turned[:, i], turned[:, j] = c * corners[:, i] - s * corners[:, j], s * corners[:, i] + c * corners[:, j]
        corners = turned
    corners = corners + np.asarray(spec.move)
    return np.stack([corners.min(axis=0), corners.max(axis=0)])


def model_extent(specs: list[PrimitiveSpec]) -> float:
    """The longest edge of the box holding all the primitives (`primitive_box`)."""
    boxes = np.stack([primitive_box(s) for s in specs])
    return float(np.max(boxes[:, 1].max(axis=0) - boxes[:, 0].min(axis=0)))
