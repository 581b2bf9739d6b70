"""SPARE3D-CSG models as triangle meshes, without OpenCascade (manifold3d).

The same seeded primitives as `csg.py` (`csg_spec.draw_primitive`: the parameters every
engine shares), built as watertight meshes by manifold3d, the robust mesh-boolean library that
trimesh itself uses, and combined with its booleans. Curved primitives are tessellated
from a chordal tolerance: a circle of radius r gets the fewest segments whose chords stay
within `tolerance` of it, so silhouettes land where the exact surfaces would.

A model is a list of solids: overlapping primitives as SPARE3D's generator leaves them
(`variant="compound"`), or one solid (`"fused"`). The similar-object rule draws its tool
from the model's box (`csg_spec.draw_tool`, as the OpenCascade engine does) and cuts,
unites or intersects as `csg.apply_tool` does.
"""

from __future__ import annotations

import math
import os

import numpy as np

from renderers.hlr_options import POLY_MESH_FACTOR, tolerance_for

from .csg_spec import (
    OPERATIONS,
    CSGRecipe,
    GenerationError,
    PrimitiveSpec,
    ToolSpec,
    draw_primitive,
    draw_tool,
    model_extent,
    rng_for,
)

#: Chordal tolerance of curved primitives, in model units (SPARE3D-CSG models span 10-100).
TOLERANCE = 0.01

def chordal_fraction(size: int) -> float:
    """The chordal tolerance of generated meshes drawn `size` pixels wide, as a fraction of
    the model's extent: the OpenCascade engine's polygonal tolerance at that size
    (`POLY_MESH_FACTOR` times its exact curves'), so lines land on the same pixels."""
    return POLY_MESH_FACTOR * tolerance_for(size)


def _manifold():
    try:
        import manifold3d
    except ModuleNotFoundError:
        raise ModuleNotFoundError("the mesh engine needs manifold3d: pip install manifold3d", name="manifold3d") from None
    return manifold3d


def start_thread_pools(threads: int) -> None:
    """Start this process's thread pools for the mesh engine with `threads` threads each,
    once per process: manifold3d's (its own static TBB) and Embree's (trimesh's ray
    tracer, the TBB in embreex's wheel).

    Generation workers share the machine's cores: each library's pool sized to the whole
    machine oversubscribes it (16 workers of 15 threads each on a 16-core host), and
    manifold3d's idle threads spin (`sched_yield`) between booleans. TBB sizes a pool from
    the CPUs this process may run on when the pool starts, so the process is pinned to
    `threads` of them while one small boolean and one ray cast start both pools, then let
    run on all of them again. Without CPU affinity (not Linux) nothing changes."""
    global _POOLS_STARTED
    if _POOLS_STARTED or not hasattr(os, "sched_setaffinity"):
        return
    _POOLS_STARTED = True
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(sorted(allowed)[: max(1, threads)]))
    try:
        from renderers.mesh_io import Mesh
        from renderers.mesh_lines import MeshEdges

        box = _manifold().Manifold.cube((1.0, 1.0, 1.0))
        edges = MeshEdges(Mesh(*triangles([box - box.translate((0.5, 0.5, 0.5))])))
        edges.tracer.intersects_first(np.array([[-0.25, -0.25, 5.0]]), np.array([[0.0, 0.0, -1.0]]))
    finally:
        os.sched_setaffinity(0, allowed)


_POOLS_STARTED = False


def segments(radius: float, tolerance: float = TOLERANCE, sweep: float = 360.0) -> int:
    """Segments of a full circle whose chords stay within `tolerance` of a circle of
    `radius` (at least 8; a multiple of 4 so that the axes' extremes are vertices)."""
    if radius <= tolerance:
        return 8
    per_chord = 2 * math.acos(1 - tolerance / radius)
    n = max(8, math.ceil(2 * math.pi / per_chord))
    return n + (-n) % 4


def mesh_primitive(spec: PrimitiveSpec, tolerance: float = TOLERANCE):
    """The primitive as a manifold3d `Manifold`, posed as `occ_primitive` poses it."""
    m3d = _manifold()
    if spec.kind == "box":
        solid = m3d.Manifold.cube(tuple(spec.size))
    elif spec.kind == "sphere":
        r = spec.size[0]
        solid = _one_surface(m3d.Manifold.sphere(r, segments(r, tolerance)))
    elif spec.kind == "cylinder":
        r, h, sweep = spec.size
        solid = _revolved([(0.0, 0.0), (r, 0.0), (r, h), (0.0, h)], sweep, tolerance)
    else:
        r1, r2, h, sweep = spec.size
        solid = _revolved([(0.0, 0.0), (r1, 0.0), (r2, h), (0.0, h)], sweep, tolerance)
    if spec.angle:
        rotation = [0.0, 0.0, 0.0]
        rotation[spec.axis] = spec.angle
        solid = solid.rotate(tuple(rotation))
    return solid.translate(tuple(spec.move))


def _revolved(profile: list[tuple[float, float]], sweep: float, tolerance: float):
    """The (radius, height) profile revolved about +z, from +x towards +y."""
    m3d = _manifold()
    n = segments(max(p[0] for p in profile), tolerance)
    section = m3d.CrossSection([np.asarray(profile, dtype=np.float64)])
    solid = section.revolve(n, float(sweep)) if sweep < 360 else section.revolve(n)
    return _one_side(solid, sweep < 360)


def _one_side(solid, partial: bool):
    """The revolved `solid` with its side (every facet off the end planes and, in a partial
    revolution, off the two cut half-planes, whose triangles each touch the axis) labelled
    one face, as the curved face of a B-rep: the line renderer's surface patches."""
    v, t, face = _arrays(solid)
    n = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    side = np.abs(n[:, 2]) < (1 - 1e-9) * np.linalg.norm(n, axis=1)
    if partial:
        side &= ~(np.hypot(v[:, 0], v[:, 1]) <= 1e-9 * (1 + np.abs(v).max()))[t].any(axis=1)
    face[side] = face.max() + 1
    return _rebuilt(v, t, face)


def _one_surface(solid):
    """`solid` (a sphere) labelled one face: one smooth surface, no sharp edges."""
    v, t, face = _arrays(solid)
    return _rebuilt(v, t, np.zeros_like(face))


def _arrays(solid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices, triangles, face ids) of `solid`, writable copies (manifold3d takes only
    writable arrays back)."""
    mesh = solid.to_mesh64()
    v = np.array(np.asarray(mesh.vert_properties)[:, :3], dtype=np.float64, order="C")
    return v, np.array(mesh.tri_verts, dtype=np.uint64, order="C"), np.array(mesh.face_id, dtype=np.uint64)


def _rebuilt(v: np.ndarray, t: np.ndarray, face: np.ndarray):
    return _manifold().Manifold(_manifold().Mesh64(vert_properties=v, tri_verts=t, face_id=face))


def mesh_tool(spec: ToolSpec, tolerance: float = TOLERANCE):
    """The similar-object rule's primitive as a `Manifold`, placed as `csg.occ_tool` places it."""
    m3d = _manifold()
    center = np.asarray(spec.center, dtype=np.float64)
    if spec.kind == "box":
        sides = np.asarray(spec.size, dtype=np.float64)
        return m3d.Manifold.cube(tuple(sides)).translate(tuple(center - sides / 2))
    if spec.kind == "sphere":
        r = spec.size[0]
        return _one_surface(m3d.Manifold.sphere(r, segments(r, tolerance))).translate(tuple(center))
    r, h = spec.size
    tip = 0.0 if spec.kind == "cone" else r
    profile = [(0.0, 0.0), (r, 0.0), (tip, h)] + ([(0.0, h)] if tip else [])
    return _revolved(profile, 360.0, tolerance).translate((center[0], center[1], center[2] - h / 2))


def similar_tool(solids: list, rng: np.random.Generator, tolerance: float = TOLERANCE, relative: bool = False):
    """The similar-object rule's random primitive for a mesh model (see `csg.similar_tool`);
    `relative`: `tolerance` is a fraction of the model's extent."""
    lo, hi = bounds(solids)
    return mesh_tool(draw_tool(lo, hi, rng), tolerance * float(np.max(hi - lo)) if relative else tolerance)


def apply_tool(solids: list, tool, operation: str = "cut") -> list:
    """Cut, unite or intersect a mesh model with a tool, as `csg.apply_tool` does: a fused
    model (one solid) takes the boolean whole; in a compound one only the solids whose
    boxes meet the tool's take part (cut: the rest kept; intersection: the rest dropped),
    and a union adds the tool as one more solid. Solids a boolean empties are dropped: an
    empty list is an emptied model, for the caller to filter."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r} (use {', '.join(OPERATIONS)})")
    if len(solids) == 1:
        whole = solids[0]
        out = [whole - tool if operation == "cut" else whole + tool if operation == "union" else whole ^ tool]
        return [s for s in out if not s.is_empty()]
    if operation == "union":
        return [*solids, tool]
    t_lo, t_hi = bounds([tool])
    out = []
    for solid in solids:
        lo, hi = bounds([solid])
        touches = bool(np.all(lo <= t_hi) and np.all(t_lo <= hi))
        if operation == "cut":
            out.append(solid - tool if touches else solid)
        elif touches:
            out.append(solid ^ tool)
    return [s for s in out if not s.is_empty()]


def mesh_csg_model(seed: int, index: int, recipe: CSGRecipe = CSGRecipe(), tries: int = 10,
                   tolerance: float = TOLERANCE, relative: bool = False) -> list:
    """Model `index` of `seed` as meshes: the same primitive draws as `csg.csg_model`, one
    cut by another; a list of `Manifold` solids (compound) or one (fused). `relative`:
    `tolerance` is a fraction of the model's extent (`csg_spec.model_extent`, known from the
    draws before anything is built), as the renderers' tolerance is."""
    rng = rng_for(seed, "model", index)
    for _ in range(tries):
        specs = [draw_primitive(rng) for _ in range(recipe.primitives)]
        i, j = (int(v) for v in rng.choice(recipe.primitives, size=2, replace=False))
        chordal = tolerance * model_extent(specs) if relative else tolerance
        prims = [mesh_primitive(s, chordal) for s in specs]
        cut = prims[i] - prims[j]
        if cut.is_empty():  # the tool swallowed the primitive: draw again, as the OCCT engine does
            continue
        prims[i] = cut
        if recipe.variant == "compound":
            return prims
        return [_manifold().Manifold.batch_boolean(prims, _manifold().OpType.Add)]
    raise GenerationError(f"model {index} of seed {seed}: no valid model in {tries} tries")


def triangles(solids: list) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, faces (F, 3) int64) of the solids together, as the mesh
    line renderer reads them."""
    return _joined([s.to_mesh64() if hasattr(s, "to_mesh64") else s.to_mesh() for s in solids])


def _joined(meshes: list) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) of manifold3d meshes together."""
    verts, faces, base = [], [], 0
    for mesh in meshes:
        v = np.asarray(mesh.vert_properties, dtype=np.float64)[:, :3]
        f = np.asarray(mesh.tri_verts, dtype=np.int64)
        verts.append(v)
        faces.append(f + base)
        base += len(v)
    if not verts:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    return np.concatenate(verts), np.concatenate(faces)


def surface_mesh(solids: list):
    """The solids together as a renderers `Mesh` whose patches are the faces they were
    built with (each primitive's planes and curved sides, kept through the booleans), so
    that the line renderer draws the edges a B-rep has: a 178-degree partial cone's axis,
    where its two cut planes meet at 2 degrees, but no facet edge of a curved side."""
    from renderers.mesh_io import Mesh

    meshes = [s.to_mesh64() for s in solids]
    labels = []
    for mesh in meshes:
        runs = np.asarray(mesh.run_index, dtype=np.int64) // 3
        original = np.repeat(np.asarray(mesh.run_original_id, dtype=np.int64), np.diff(runs))
        labels.append(original << 32 | np.asarray(mesh.face_id, dtype=np.int64))
    patches = np.unique(np.concatenate(labels), return_inverse=True)[1].reshape(-1) if labels else np.zeros(0, np.int64)
    return Mesh(*_joined(meshes), patches)


def bounds(solids: list) -> np.ndarray:
    """(2, 3) bounds of the solids together."""
    boxes = np.asarray([s.bounding_box() for s in solids], dtype=np.float64)
    return np.stack([boxes[:, :3].min(0), boxes[:, 3:].max(0)])


def stl_bytes(solids: list) -> bytes:
    """The solids together as a binary STL file (trimesh's writer: fixed header, same
    bytes for the same model), for `generate --save-models` with the mesh engine."""
    import trimesh

    v, f = triangles(solids)
    return trimesh.Trimesh(v, f, process=False).export(file_type="stl")
