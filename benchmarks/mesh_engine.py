"""The mesh CSG engine against OpenCascade: how alike their drawings are, and how fast.

For N seeded SPARE3D-CSG models (28 primitives by default), draws the 11 SPARE3D views of
each model twice: OpenCascade's models through the default hidden-line removal (`auto`),
and the same models built as meshes by manifold3d (`spare3d_bench.csg_mesh`) through the
mesh line renderer. Each view is rasterised at 200 px in the SPARE3D style and compared
(`renderers.compare.line_f1`, 2 px tolerance): prints the median and lowest F1 of visible
and hidden lines over all views, the views below 0.85 visible, and the seconds per model
of each engine (model building plus drawing, one process).

Where the engines disagree, which is right? The referee takes the points, every model
unit along the mesh model's sharp edges, that the mesh engine draws hidden while
OpenCascade draws a visible line through them (within 0.1 units on the view plane, no
visible mesh line within 0.5), and casts a ray from the viewer at each against a fine
tessellation of OpenCascade's own model (0.01 units): a surface there more than 0.05 units
in front of the point means the edge is hidden in OpenCascade's geometry too, and its
hidden-line removal drew it wrongly. (HLRBRep assumes that solids do not pass through one
another, which SPARE3D's compounds of overlapping primitives do; the OpenCascade path
corrects for that, `renderers.occ.Overlaps`, and the referee counts what is left.)

    python benchmarks/mesh_engine.py [--models 50] [--primitives 28] [--size 200] [--no-referee]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from renderers.cad import draw_shape  # noqa: E402
from renderers.compare import line_f1, line_masks  # noqa: E402
from renderers.drawing import Drawing  # noqa: E402
from renderers.mesh_lines import MeshEdges, draw_mesh  # noqa: E402
from renderers.render import RenderOptions, image  # noqa: E402
from renderers.views import parse_views  # noqa: E402
from spare3d_bench.csg import csg_model  # noqa: E402
from spare3d_bench.csg_mesh import chordal_fraction, mesh_csg_model, surface_mesh  # noqa: E402
from spare3d_bench.csg_spec import CSGRecipe  # noqa: E402


def _dense(drawings: list[Drawing], visible: bool, step: float = 0.2) -> np.ndarray:
    """Points every `step` model units along the drawings' visible (or hidden) polylines."""
    out = [np.zeros((0, 2))]
    for d in drawings:
        for cls, lines in d.lines.items():
            if cls.visible != visible:
                continue
            for k in range(len(lines.starts) - 1):
                q = lines.points[lines.starts[k] : lines.starts[k + 1]]
                for a, b in zip(q[:-1], q[1:]):
                    m = max(2, int(np.linalg.norm(b - a) / step) + 1)
                    out.append(a + np.linspace(0.0, 1.0, m)[:, None] * (b - a))
    return np.concatenate(out)


def referee(reference, edges: MeshEdges, view, exact: Drawing, meshed: Drawing) -> tuple[int, int]:
    """(points the mesh engine hides under an OpenCascade visible line, of them those behind
    a surface of `reference`, a trimesh of OpenCascade's own model): see the module's
    docstring."""
    from scipy.spatial import cKDTree

    p0, p1 = edges.vertices[edges.sharp[:, 0]], edges.vertices[edges.sharp[:, 1]]
    steps = np.maximum(2, np.ceil(np.linalg.norm(p1 - p0, axis=1) * edges.size).astype(int))
    seg = np.repeat(np.arange(len(p0)), steps)
    t = (np.arange(len(seg)) - np.repeat(np.cumsum(steps) - steps, steps) + 0.5) / np.repeat(steps, steps)
    unit = p0[seg] + t[:, None] * (p1 - p0)[seg]
    direction = np.asarray(view.direction, dtype=np.float64)
    hidden = ~edges.visible(unit, direction, 2e-4)
    points = unit * edges.size + edges.center
    flat = view.project(points)
    near_exact = cKDTree(_dense([exact], True)).query(flat)[0] < 0.1
    far_mesh = cKDTree(_dense([meshed], True)).query(flat)[0] > 0.5
    picked = points[hidden & near_exact & far_mesh]
    if not len(picked):
        return 0, 0
    origins = picked + direction * 1000.0
    loc, ray, _ = reference.ray.intersects_location(
        origins, np.broadcast_to(-direction, origins.shape), multiple_hits=True)
    depth = np.einsum("ij,j->i", loc - origins[ray], -direction)
    behind = np.zeros(len(picked), dtype=bool)
    behind[ray[depth < 1000.0 - 0.05]] = True
    return len(picked), int(behind.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--primitives", type=int, default=28)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--factor", type=float, default=1.0, help="tessellate this many times finer than generation does")
    ap.add_argument("--no-referee", action="store_true", help="skip checking disagreements against OpenCascade's geometry")
    args = ap.parse_args()
    views = parse_views("spare3d11")
    options = RenderOptions(tuple(views), size=args.size)
    recipe = CSGRecipe(primitives=args.primitives)
    fraction = chordal_fraction(args.size) / args.factor
    visible, hidden, low, seconds = [], [], [], {"occ": 0.0, "mesh": 0.0}
    judged = [0, 0]
    for i in range(args.models):
        t0 = time.perf_counter()
        shape = csg_model(args.seed, i, recipe)
        exact = draw_shape(shape, views)
        t1 = time.perf_counter()
        mesh = surface_mesh(mesh_csg_model(args.seed, i, recipe, tolerance=fraction, relative=True))
        meshed = draw_mesh(mesh, views)
        t2 = time.perf_counter()
        seconds["occ"] += t1 - t0
        seconds["mesh"] += t2 - t1
        if not args.no_referee:
            import trimesh

            from renderers import occ

            reference = trimesh.Trimesh(*occ.triangulate(shape, 0.01), process=False)
            edges = MeshEdges(mesh)
        for view, a, b in zip(views, exact, meshed):
            (va, ha), (vb, hb) = line_masks(image(a, options)), line_masks(image(b, options))
            visible.append(line_f1(va, vb))
            hidden.append(line_f1(ha, hb))
            if visible[-1] < 0.85:
                low.append(f"model {i} view {view.name}: {visible[-1]:.3f}")
            if not args.no_referee:
                judged = [x + y for x, y in zip(judged, referee(reference, edges, view, a, b))]
    n = args.models
    print(f"{n} models of {args.primitives} primitives (seed {args.seed}), 11 views at {args.size} px, F1 within 2 px:")
    print("| lines | median F1 | lowest F1 | views |")
    print("|---|---|---|---|")
    for name, values in (("visible", visible), ("hidden", hidden)):
        print(f"| {name} | {np.median(values):.4f} | {min(values):.3f} | {len(values)} |")
    print(f"views below 0.85 visible: {len(low)}" + "".join(f"\n  {line}" for line in low))
    if not args.no_referee:
        share = f" ({100 * judged[1] / judged[0]:.1f}%)" if judged[0] else ""
        print(f"referee: points on mesh sharp edges drawn hidden under an OpenCascade visible line: {judged[0]}; "
              f"behind a surface of OpenCascade's own model: {judged[1]}{share}")
    print(f"seconds per model (build and draw 11 views, one process): OpenCascade {seconds['occ'] / n:.2f}, "
          f"mesh engine {seconds['mesh'] / n:.2f} ({seconds['occ'] / seconds['mesh']:.1f}x)")


if __name__ == "__main__":
    main()
