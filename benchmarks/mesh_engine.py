"""The mesh CSG engine against OpenCascade: how alike their drawings are, and how fast.

For N seeded SPARE3D-CSG models (28 primitives by default), draws the 11 SPARE3D views of
each model twice: OpenCascade's models through the default hidden-line removal (`auto`),
and the same models built as meshes by manifold3d (`spare3d_bench.csg_mesh`) through the
mesh line renderer. Each view is rasterised at 200 px in the SPARE3D style and compared
(`renderers.compare.line_f1`, 2 px tolerance): prints the median and lowest F1 of visible
and hidden lines over all views, the views below 0.85 visible, and the seconds per model
of each engine (model building plus drawing, one process).

    python benchmarks/mesh_engine.py [--models 50] [--primitives 28] [--size 200]
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
from renderers.mesh_io import Mesh  # noqa: E402
from renderers.mesh_lines import draw_mesh  # noqa: E402
from renderers.render import RenderOptions, image  # noqa: E402
from renderers.views import parse_views  # noqa: E402
from spare3d_bench.csg import csg_model  # noqa: E402
from spare3d_bench.csg_mesh import mesh_csg_model, triangles  # noqa: E402
from spare3d_bench.csg_spec import CSGRecipe  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--primitives", type=int, default=28)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    views = parse_views("spare3d11")
    options = RenderOptions(tuple(views), size=args.size)
    recipe = CSGRecipe(primitives=args.primitives)
    visible, hidden, low, seconds = [], [], [], {"occ": 0.0, "mesh": 0.0}
    for i in range(args.models):
        t0 = time.perf_counter()
        exact = draw_shape(csg_model(args.seed, i, recipe), views)
        t1 = time.perf_counter()
        v, f = triangles(mesh_csg_model(args.seed, i, recipe))
        meshed = draw_mesh(Mesh(v, f), views)
        t2 = time.perf_counter()
        seconds["occ"] += t1 - t0
        seconds["mesh"] += t2 - t1
        for view, a, b in zip(views, exact, meshed):
            (va, ha), (vb, hb) = line_masks(image(a, options)), line_masks(image(b, options))
            visible.append(line_f1(va, vb))
            hidden.append(line_f1(ha, hb))
            if visible[-1] < 0.85:
                low.append(f"model {i} view {view.name}: {visible[-1]:.3f}")
    n = args.models
    print(f"{n} models of {args.primitives} primitives (seed {args.seed}), 11 views at {args.size} px, F1 within 2 px:")
    print("| lines | median F1 | lowest F1 | views |")
    print("|---|---|---|---|")
    for name, values in (("visible", visible), ("hidden", hidden)):
        print(f"| {name} | {np.median(values):.3f} | {min(values):.3f} | {len(values)} |")
    print(f"views below 0.85 visible: {len(low)}" + "".join(f"\n  {line}" for line in low))
    print(f"seconds per model (build and draw 11 views, one process): OpenCascade {seconds['occ'] / n:.2f}, "
          f"mesh engine {seconds['mesh'] / n:.2f} ({seconds['occ'] / seconds['mesh']:.1f}x)")


if __name__ == "__main__":
    main()
