"""Benchmark the mesh line renderer: 11 SPARE3D views of meshes of about 10k, 100k and 1M faces.

Each case runs in its own process pinned to one core and prints views per second, the
time split (edge extraction, visibility, rasterisation) and the process's peak memory.
Target (issue 3): a 100k-face mesh renders its 11 views at 200 px in under 2 s on one core.

    python benchmarks/render_mesh.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from renderers.drawing import Drawing  # noqa: E402
from renderers.mesh_io import Mesh  # noqa: E402
from renderers.mesh_lines import MeshEdges, MeshLineOptions  # noqa: E402
from renderers.render import RenderOptions, image  # noqa: E402
from renderers.views import parse_views  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "pairs" / "featuretype.STL"


def bumpy_sphere(faces: int) -> Mesh:
    """A scan-like closed surface: a latitude-longitude sphere of about `faces` triangles with
    smooth bumps (curved everywhere, so silhouettes grow with resolution)."""
    import trimesh

    rows = max(4, int(round(np.sqrt(faces / 8))))
    s = trimesh.creation.uv_sphere(count=[rows, 2 * rows])
    v = np.asarray(s.vertices)
    bumps = 1 + 0.15 * np.sin(5 * v[:, 0]) * np.sin(4 * v[:, 1]) * np.sin(3 * v[:, 2] + 1)
    return Mesh(v * bumps[:, None], np.asarray(s.faces))


def noisy_scan(faces: int) -> Mesh:
    """A raw-scan stand-in: the same sphere with 1% radial noise on every vertex (seeded), so
    neighbouring faces fold against each other everywhere and silhouettes are everywhere."""
    import trimesh

    rows = max(4, int(round(np.sqrt(faces / 8))))
    s = trimesh.creation.uv_sphere(count=[rows, 2 * rows])
    noise = 1 + 0.01 * np.random.default_rng(0).standard_normal(len(s.vertices))
    return Mesh(np.asarray(s.vertices) * noise[:, None], np.asarray(s.faces))


def cad_like(faces: int) -> Mesh:
    """The featuretype part (a machined block), its triangles split 4-way until at least `faces`."""
    import trimesh

    m = trimesh.load(str(FIXTURE), force="mesh")
    v, f = np.asarray(m.vertices), np.asarray(m.faces)
    while len(f) < faces:
        v, f = trimesh.remesh.subdivide(v, f)
    return Mesh(np.asarray(v, float), np.asarray(f))


def run_case(kind: str, faces: int, queue) -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    mesh = {"bumpy sphere": bumpy_sphere, "noisy scan": noisy_scan, "CAD-like block": cad_like}[kind](faces)
    views = parse_views("spare3d11")
    opts = RenderOptions(tuple(views))
    t0 = time.perf_counter()
    edges = MeshEdges(mesh, MeshLineOptions().crease_angle)
    t1 = time.perf_counter()
    drawings, vis = [], 0.0
    for v in views:
        lines, seconds = edges.draw(v, MeshLineOptions())
        vis += seconds
        drawings.append(Drawing(v, lines, edges.box, "mesh"))
    t2 = time.perf_counter()
    for d in drawings:
        image(d, opts)
    t3 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((kind, len(mesh.faces), t1 - t0, vis, t3 - t2, t3 - t0, rss))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    args = ap.parse_args()
    ctx = mp.get_context("fork")
    cases = [("bumpy sphere", int(n)) for n in args.sizes.split(",")] + [("noisy scan", 100_000)]
    if FIXTURE.exists():
        cases.append(("CAD-like block", 100_000))
    print(f"{'mesh':16s} {'faces':>9s} {'edges s':>8s} {'visib. s':>8s} {'raster s':>8s} {'total s':>8s} {'views/s':>8s} {'peak MB':>8s}")
    for kind, n in cases:
        q = ctx.Queue()
        p = ctx.Process(target=run_case, args=(kind, n, q))
        p.start()
        kind, faces, prep, vis, raster, total, rss = q.get()
        p.join()
        print(f"{kind:16s} {faces:9d} {prep:8.2f} {vis:8.2f} {raster:8.2f} {total:8.2f} {11 / total:8.1f} {rss:8.0f}")
    print("target: 11 views of a 100k-face mesh in under 2 s on one core")


if __name__ == "__main__":
    main()
