"""CAD model -> Drawings, choosing the hidden-line algorithm per model.

`exact` is OCCT's HLRBRep_Algo (what SPARE3D used), `poly` is HLRBRep_PolyAlgo on a
tessellation, and `auto` (the default) gives exact drawings where they are affordable.
Exact HLR time is set by the surfaces, and varies 3-4x even between two exports of one
part (hammer: 0.16-1.6 s per view from BREP, 2.3-6.5 s from IGES), so `auto` decides from
a deterministic cost predictor (the same file and options always give the same bytes)
and keeps a time budget only as a safety net:

* analytic surfaces only (planes, cylinders, cones, spheres, tori) and at most
  `AUTO_EXACT_EDGES` edges: exact, in-process. Measured here: 1-90 ms per view, the
  2,382-edge box_sides fixture 35-67 ms.
* freeform surfaces (B-spline, Bezier, revolution, extrusion, offset) with at most
  `AUTO_EXACT_POLES` control points in all: exact, in a forked helper with a per-view
  budget (the CAx-IF k1 part, 96 poles: 0.05-0.54 s per view).
* anything costlier: polygonal (the hammer, 850 poles: up to 6.5 s per view; the M6
  thread, 702 poles on helical faces: 1 min for the front view, 8 min for the top).

and per view, in a model drawn exactly: a view along a cylinder on which many freeform
edges stack up (`AUTO_STACKED_EDGES`) is drawn polygonally. Those edges all project onto
the cylinder's circle, and exact HLR crawls over overlapping projected curves: the top
views of SPARE3D-CSG models cut by a Z cylinder took 1.3-18 s, the other views mostly
under 0.2 s.

A view whose exact HLR overruns the budget, or crashes the helper, is drawn polygonally
with that model's remaining views; that is the one non-deterministic path, and the
drawing's algorithm and notes say so. Each Drawing records the algorithm that made it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import occ
from .drawing import Drawing, Timings
from .errors import RenderError
from .executors import die_with_parent
from .hlr_options import DEFAULT_BUDGET, DEFAULT_TOLERANCE, HLR_MODES, HLROptions, tolerance_for  # noqa: F401 - importable from here as before
from .mesh_io import MESH_EXTENSIONS, Mesh, check_mesh, read_mesh
from .mesh_lines import draw_mesh
from .views import View

#: `auto`: analytic-surface models with at most this many edges are drawn exactly.
AUTO_EXACT_EDGES = 10000

#: `auto`: freeform models with at most this many surface control points are drawn exactly.
AUTO_EXACT_POLES = 400

#: `auto`: a view along a cylinder whose freeform edges stack at least this deep is drawn
#: polygonally (see occ.stacked_edges for the measurements).
AUTO_STACKED_EDGES = 4

def draw_shape(
    shape: occ.Shape,
    views: list[View],
    options: HLROptions = HLROptions(),
    source: object = "<shape>",
    timings: Timings | None = None,
) -> list[Drawing]:
    """Draw an in-memory OCCT shape in each view. Raises RenderError for degenerate input."""
    timings = timings if timings is not None else Timings()
    t0 = time.perf_counter()
    prepared = occ.drawable(shape, source)
    timings.prepare += time.perf_counter() - t0
    if options.mode == "mesh":
        return _through_mesh(prepared, views, options, source, timings)
    t0 = time.perf_counter()
    plan = options.mode if options.mode != "auto" else auto_plan(occ.complexity(prepared.shape))
    timings.plan += time.perf_counter() - t0
    meshed = plan == "poly"
    t0 = time.perf_counter()
    # Plans are made on the model as it is (`auto`'s rules count edges, and pieces of one
    # edge would stack); the hidden-line removal draws it split where solids overlap.
    whole = prepared.shape
    if options.overlaps:
        prepared = occ.split_overlaps(prepared)
    mesh_seconds = 0.0
    if meshed:
        # Tessellate first: the tight box then comes from the mesh, in a fraction of the
        # time an exact box of freeform surfaces takes (hammer: 160 ms).
        rough = occ.rough_size(prepared.shape, source)
        mesh_seconds = occ.mesh(prepared.shape, occ.POLY_MESH_FACTOR * options.chordal * rough)
    box = occ.tight_box(prepared.shape, source, from_mesh=meshed)
    timings.mesh += mesh_seconds
    timings.prepare += time.perf_counter() - t0 - mesh_seconds
    deflection = options.chordal * float(np.max(box[1] - box[0]))
    notes = (f"dropped {prepared.dropped_free} free wires/edges/points",) if prepared.dropped_free else ()
    notes += prepared.notes
    if plan == "poly":
        results = _poly_views(prepared.shape, views, options, deflection, "", meshed=True)
    else:
        t0 = time.perf_counter()
        poly = _poly_view_notes(whole, views, options.force_poly) if options.mode == "auto" else {}
        timings.plan += time.perf_counter() - t0
        keep = [v for i, v in enumerate(views) if i not in poly]
        exact = iter(
            _budgeted(prepared.shape, keep, options, deflection, prepared.overlaps)
            if plan == "budgeted"
            else [("exact", occ.hlr_exact(prepared.shape, v, deflection, options.smooth, prepared.overlaps), "") for v in keep]
        )
        results = []
        for i, view in enumerate(views):
            if i in poly:
                [drawn] = _poly_views(prepared.shape, [view], options, deflection, poly[i], meshed=meshed)
                meshed = True  # the first polygonal view tessellated the shape for the others
                results.append(drawn)
            else:
                results.append(next(exact))
    drawings = []
    for view, (algorithm, res, note) in zip(views, results):
        timings.mesh += res.mesh_seconds
        timings.hlr += res.hlr_seconds
        timings.discretise += res.discretise_seconds
        drawings.append(
            Drawing(view, res.lines, box, algorithm, res.hlr_seconds, notes + ((note,) if note else ()))
        )
    return drawings


def _through_mesh(prepared: occ.Prepared, views, options: HLROptions, source, timings: Timings) -> list[Drawing]:
    t0 = time.perf_counter()
    mesh = _tessellate(prepared, options.chordal, source)
    timings.mesh += time.perf_counter() - t0
    return draw_mesh(mesh, views, options.mesh, source, timings)


def _tessellate(prepared: occ.Prepared, tolerance: float, source) -> Mesh:
    rough = occ.rough_size(prepared.shape, source)
    vertices, faces = occ.triangulate(prepared.shape, occ.POLY_MESH_FACTOR * tolerance * rough)
    return check_mesh(vertices, faces, source)


def load_mesh(source, up: str = "z", tolerance: float = DEFAULT_TOLERANCE, timings: Timings | None = None) -> Mesh:
    """A triangle mesh of any input: a mesh file, a CAD file (tessellated) or an OCCT shape."""
    timings = timings if timings is not None else Timings()
    t0 = time.perf_counter()
    if not isinstance(source, (str, os.PathLike)):
        mesh = _tessellate(occ.drawable(source), tolerance, "<shape>")
        timings.mesh += time.perf_counter() - t0
        return mesh
    if Path(source).suffix.lower() in MESH_EXTENSIONS:
        mesh = read_mesh(source, up)
        timings.read += time.perf_counter() - t0
        return mesh
    shape = _read_cad(source, up, timings)
    t1 = time.perf_counter()
    mesh = _tessellate(occ.drawable(shape, Path(source)), tolerance, Path(source))
    timings.mesh += time.perf_counter() - t1
    return mesh


def _read_cad(path, up: str, timings: Timings) -> occ.Shape:
    """Read a CAD file (turned Z-up); adds our checks' seconds to `timings.check` and the
    rest to `timings.read`."""
    t0, checked = time.perf_counter(), timings.check
    shape = occ.read_cad(path, timings)
    if up == "y":
        shape = occ.transformed(shape, rotate=((1, 0, 0), 90.0))
    elif up != "z":
        raise RenderError(path, f"up axis must be y or z, got {up!r}")
    timings.read += time.perf_counter() - t0 - (timings.check - checked)
    return shape


def draw_file(
    path: str | os.PathLike,
    views: list[View],
    options: HLROptions = HLROptions(),
    timings: Timings | None = None,
    up: str = "z",
) -> list[Drawing]:
    """Read a CAD (STEP/IGES/BREP) or mesh (STL/OBJ/PLY/OFF/GLB/GLTF) file and draw it in
    each view; `up="y"` turns a Y-up model Z-up first."""
    timings = timings if timings is not None else Timings()
    t0 = time.perf_counter()
    suffix = Path(path).suffix.lower()
    if suffix in MESH_EXTENSIONS:
        mesh = read_mesh(path, up)
        timings.read += time.perf_counter() - t0
        return draw_mesh(mesh, views, options.mesh, Path(path), timings)
    if suffix not in occ.CAD_EXTENSIONS:
        known = " ".join([*occ.CAD_EXTENSIONS, *MESH_EXTENSIONS])
        raise RenderError(path, f"unknown extension {Path(path).suffix!r} (CAD or mesh files: {known})")
    shape = _read_cad(path, up, timings)
    return draw_shape(shape, views, options, Path(path), timings)


def auto_plan(c: occ.Complexity) -> str:
    """The `auto` decision for a model: "exact", "budgeted" (exact with a time limit) or "poly"."""
    if c.freeform_faces == 0:
        return "exact" if c.edges <= AUTO_EXACT_EDGES else "budgeted"
    return "budgeted" if c.freeform_poles <= AUTO_EXACT_POLES and c.edges <= AUTO_EXACT_EDGES else "poly"


def _poly_view_notes(shape: occ.Shape, views: list[View], forced: tuple[str, ...] = ()) -> dict[int, str]:
    """{view index: why} for the views `auto` draws polygonally although the model is
    exact-able: along a cylinder whose freeform edges stack at least `AUTO_STACKED_EDGES`
    deep (occ.stacked_edges), and the `forced` ones."""
    stacks = occ.stacked_edges(shape)
    out = {}
    for i, view in enumerate(views):
        if view.name in forced:
            out[i] = "drawn polygonally on request (force_poly)"
            continue
        d = np.asarray(view.direction, dtype=float)
        d /= np.linalg.norm(d)
        depth = max((n for axis, n in stacks if abs(float(axis @ d)) > 1 - 1e-9), default=0)
        if depth >= AUTO_STACKED_EDGES:
            out[i] = f"{depth} freeform edges stacked on a cylinder seen end-on: drawn polygonally"
    return out


def _poly_views(shape, views, options, deflection, note, meshed=False):
    out = []
    for v in views:
        out.append(("poly", occ.hlr_poly(shape, v, deflection, options.smooth, meshed=meshed), note))
        meshed = True
    return out


def _exact_helper(conn, parent, shape, views, deflection, smooth, overlaps) -> None:
    """Forked helper: draw views exactly one after another, sending each result back."""
    die_with_parent(parent)  # a killed job's helper must not live on, holding the job's lock
    try:
        for v in views:
            conn.send(occ.hlr_exact(shape, v, deflection, smooth, overlaps))
    finally:
        conn.close()
        os._exit(0)


def _budgeted(shape, views, options, deflection, overlaps=None):
    """Exact views in a forked helper, each with `options.budget` seconds; poly past that."""
    if "fork" not in mp.get_all_start_methods():
        return [("exact", occ.hlr_exact(shape, v, deflection, options.smooth, overlaps), "") for v in views]
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    helper = ctx.Process(target=_exact_helper, args=(send, os.getpid(), shape, views, deflection, options.smooth, overlaps), daemon=True)
    helper.start()
    send.close()
    out: list[tuple[str, occ.HLRResult, str]] = []
    try:
        for i in range(len(views)):
            started = time.perf_counter()
            try:
                if recv.poll(options.budget):
                    out.append(("exact", recv.recv(), ""))
                    continue
                reason = f"exact HLR over the {options.budget:g} s budget"
            except (EOFError, OSError):
                reason = "exact HLR crashed"
            rest = _poly_views(shape, views[i:], options, deflection, f"{reason}: drawn polygonally")
            # The time waited was spent in OCCT's HLR (in the helper): charge it to this view.
            algorithm, first, note = rest[0]
            waited = time.perf_counter() - started
            rest[0] = (algorithm, replace(first, hlr_seconds=first.hlr_seconds + waited), note)
            out.extend(rest)
            break
    finally:
        if helper.is_alive():
            helper.kill()
        helper.join()
        recv.close()
    return out
