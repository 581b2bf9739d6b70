"""How hidden lines are removed, without OpenCascade: the options every drawing path
reads (`cad` draws CAD models with them; `render` and the mesh-only paths import them
without loading OCCT)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .executors import check_timeout
from .mesh_lines import MeshLineOptions

HLR_MODES = ("auto", "exact", "poly", "mesh")

#: Default per-view safety budget (seconds) for budgeted exact HLR in `auto` mode.
DEFAULT_BUDGET = 10.0

#: Default chordal tolerance, as a fraction of the model's longest box edge: 0.03 px at
#: 200 px with SPARE3D framing, 0.15 px at 1000 px.
DEFAULT_TOLERANCE = 2.5e-4

#: Tessellations (the polygonal algorithm's, `--hlr mesh`'s, the mesh CSG engine's) are this
#: many times coarser than the chordal tolerance of exact curves: 0.1 px at 200 px.
POLY_MESH_FACTOR = 4.0


def tolerance_for(size: int) -> float:
    """The default tolerance for drawings `size` pixels wide: DEFAULT_TOLERANCE up to 1000 px
    (0.15 px there), then finer in proportion, so that curves, and the tessellation the
    polygonal algorithm draws (4x coarser), do not facet at large sizes."""
    return DEFAULT_TOLERANCE * min(1.0, 1000.0 / size)


@dataclass(frozen=True)
class HLROptions:
    """How to remove hidden lines: `mode` (auto|exact|poly|mesh), smooth edges, budget,
    tolerance, and the mesh-line options used for meshes and by `mesh` mode.

    `force_poly` names views that `auto` draws polygonally even in a model it draws
    exactly (with the model's exact framing, as if its predictor had chosen so): callers
    that compare drawings of several shapes view by view use it to draw each view with
    one algorithm.

    `mesh` tessellates a CAD model and draws it with the mesh renderer (creases,
    boundaries, silhouettes, ray-cast visibility), so one part can go through both paths.

    `tolerance` is the chordal error as a fraction of the model size; unset, it is
    DEFAULT_TOLERANCE, and a RenderOptions sets it to `tolerance_for` its image size.

    `overlaps`: draw right the edges of solids that pass into one another
    (`renderers.occ.Overlaps`); off, OCCT's hidden-line removal draws them alone, in
    about half the time on SPARE3D-CSG compounds, with parts inside other solids visible.
    """

    mode: str = "auto"
    smooth: bool = False
    budget: float = DEFAULT_BUDGET
    tolerance: float | None = None
    mesh: MeshLineOptions = field(default_factory=MeshLineOptions)
    force_poly: tuple[str, ...] = ()
    overlaps: bool = True

    def __post_init__(self) -> None:
        if self.mode not in HLR_MODES:
            raise ValueError(f"unknown HLR mode {self.mode!r} (use {', '.join(HLR_MODES)})")
        if self.smooth and self.mode == "mesh":
            raise ValueError("smooth edges come from OCCT's hidden-line removal; the mesh renderer draws "
                             "creases above the crease angle instead")
        check_timeout(self.budget, "HLR budget")
        if self.tolerance is not None and not (1e-6 <= self.tolerance < 0.1):  # below 1e-6 meshing explodes
            raise ValueError(f"tolerance must be in [1e-6, 0.1) of the model size, got {self.tolerance!r}")

    @property
    def chordal(self) -> float:
        """The tolerance in use: `tolerance`, or DEFAULT_TOLERANCE when unset."""
        return DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance
