"""Line drawings of triangle meshes: creases, open boundaries and silhouettes, with
visibility from ray casting against the mesh itself.

Lines are mesh edges: creases (faces meeting at more than `crease_angle`), open
boundaries and non-manifold edges (drawn as sharp), and per view the silhouettes (edges
whose two faces lie on the same side of the edge on screen, or with one face seen
edge-on). Every test is independent
of face orientation, so unoriented meshes draw correctly.

Visibility: points every `spacing` (a fraction of the model size; 0.5 px at 200 px with
SPARE3D framing) along each line are tested with one ray each, cast with Embree through
trimesh; the first triangle hit gives the occluder, its distance is recomputed in float64,
and a point is visible when nothing lies in front of it by more than `eps` x the model
size (lines on the surface must not hide themselves). Each change of visibility is then
bisected `refine` times, so pieces end within spacing / 2**refine (0.03 px at the
defaults). Ray casting was chosen over an OpenGL z-buffer: it needs no GPU or EGL, its
precision does not depend on a depth-buffer resolution, and Embree traces 65k rays in
about 11 ms here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .drawing import Drawing, EdgeClass, Polylines, Timings, join_segments
from .errors import RenderError
from .mesh_io import Mesh
from .views import View

#: A face is seen edge-on when the cosine between its normal and the view is below this.
EDGE_ON = 1e-9


#: With surface patches, two patches meeting at less than this angle (radians) share a
#: smooth edge (tangent surfaces), as OpenCascade's drawings leave them out.
TANGENT_ANGLE = 1e-3


@dataclass(frozen=True)
class MeshLineOptions:
    """Crease threshold (degrees); sample spacing, depth tolerance and vertex weld distance
    (fractions of the model's longest box edge); bisection steps per visibility change."""

    crease_angle: float = 40.0
    spacing: float = 0.004
    eps: float = 2e-4
    refine: int = 4
    weld: float = 1e-5

    def __post_init__(self) -> None:
        if not 0 < self.crease_angle < 180:
            raise ValueError(f"crease angle must be between 0 and 180 degrees, got {self.crease_angle!r}")
        if not 0 < self.spacing < 0.1:
            raise ValueError(f"spacing must be in (0, 0.1) of the model size, got {self.spacing!r}")
        if not 0 < self.eps < 0.1:
            raise ValueError(f"eps must be in (0, 0.1) of the model size, got {self.eps!r}")
        if not 0 <= self.refine <= 12:
            raise ValueError(f"refine must be 0..12, got {self.refine!r}")
        if not 0 <= self.weld < 0.01:
            raise ValueError(f"weld must be in [0, 0.01) of the model size, got {self.weld!r}")


class MeshEdges:
    """A mesh prepared for drawing: merged vertices, edge topology, creases, ray tracer.

    Coordinates are centred and scaled to a unit longest box edge, so that Embree's
    float32 arithmetic is equally precise for a part at 1 mm or 1 km, far from the origin
    or not. View-independent work happens once here; `draw` does one view.
    """

    def __init__(
        self, mesh: Mesh, crease_angle: float = 40.0, source: object = "<mesh>", weld: float = 1e-5
    ) -> None:
        v = mesh.vertices
        lo, hi = v.min(axis=0), v.max(axis=0)
        self.box = np.stack([lo, hi])
        self.center = (lo + hi) / 2.0
        self.size = float(np.max(hi - lo))
        if not self.size > 0:
            raise RenderError(source, "zero-size geometry (all vertices coincide)")
        self.source = source
        unit = (v - self.center) / self.size
        self.vertices, self.faces, kept = _merge_vertices(unit, mesh.faces, weld)
        self.patches = None if mesh.patches is None else np.asarray(mesh.patches)[kept]
        self._topology(np.radians(crease_angle))
        if self.open_edges and self.patches is not None:
            raise RenderError(source, f"surface patches need a closed mesh; this one has {self.open_edges} open edges")
        if self.open_edges:  # closed meshes (most) skip the T-junction search
            split = split_t_junctions(self.vertices, self.faces, max(weld, 1e-9))
            if not np.array_equal(split, self.faces):
                self.faces = split
                self._topology(np.radians(crease_angle))

    def _topology(self, crease: float) -> None:
        f = self.faces
        # every face edge (a, b) with the face's third vertex
        a = f[:, [0, 1, 2]].ravel()
        b = f[:, [1, 2, 0]].ravel()
        third = f[:, [2, 0, 1]].ravel()
        face = np.repeat(np.arange(len(f)), 3)
        key = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
        order = np.lexsort((key[:, 1], key[:, 0]))
        key, third, face = key[order], third[order], face[order]
        new = np.ones(len(key), dtype=bool)
        new[1:] = np.any(key[1:] != key[:-1], axis=1)
        group = np.cumsum(new) - 1
        counts = np.bincount(group)
        first = np.flatnonzero(new)
        uniq = key[first]
        manifold = counts[group[first]] == 2 if len(first) else np.zeros(0, dtype=bool)
        c = third[first[manifold]]
        d = third[first[manifold] + 1]
        pairs = np.column_stack([uniq[manifold], c, d])  # a, b, c, d
        angle = _crease_angles(self.vertices, pairs)
        if self.patches is None:
            is_crease = angle > crease
        else:  # a B-rep's rule: an edge between two surfaces is sharp unless they meet tangentially
            patch = self.patches[face[first[manifold]]] != self.patches[face[first[manifold] + 1]]
            is_crease = patch & (angle > TANGENT_ANGLE)
        self.open_edges = int(np.count_nonzero(counts == 1))
        # boundaries (one face) and non-manifold edges (more than two) are always drawn
        self.sharp = np.concatenate([uniq[~manifold], pairs[is_crease, :2]])
        self.smooth_pairs = pairs[~is_crease]

    @cached_property
    def tracer(self):
        """Embree ray tracer over the normalised mesh (trimesh's pyembree backend)."""
        import trimesh
        from trimesh.ray.ray_pyembree import RayMeshIntersector

        tm = trimesh.Trimesh(self.vertices, self.faces, process=False)
        return RayMeshIntersector(tm)

    @cached_property
    def _planes(self) -> tuple[np.ndarray, np.ndarray]:
        tri = self.vertices[self.faces]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        norm = np.linalg.norm(n, axis=1, keepdims=True)
        n = np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)
        return n, np.einsum("ij,ij->i", n, tri[:, 0])

    def silhouettes(self, direction: np.ndarray) -> np.ndarray:
        """(k, 2) vertex pairs of smooth edges whose two faces fold over on screen, or of
        which exactly one face is seen edge-on: the outline then runs along that face
        (common in f, r and t views of CAD tessellations), and a sign test on it would
        pick either of its two edges, or neither, by rounding."""
        p = self.smooth_pairs
        if not len(p):
            return np.zeros((0, 2), dtype=np.int64)
        va, vb, vc, vd = (self.vertices[p[:, i]] for i in range(4))
        e = vb - va
        nc, nd = np.cross(e, vc - va), np.cross(e, vd - va)
        sc, sd = nc @ direction, nd @ direction
        on_c = np.abs(sc) <= EDGE_ON * np.linalg.norm(nc, axis=1)
        on_d = np.abs(sd) <= EDGE_ON * np.linalg.norm(nd, axis=1)
        return p[((sc * sd > 0) & ~on_c & ~on_d) | (on_c ^ on_d), :2]

    def visible(self, points: np.ndarray, direction: np.ndarray, eps: float) -> np.ndarray:
        """(n,) bool: is each (normalised) point seen from far along `direction`?"""
        far = 4.0  # the normalised mesh fits in a unit box: start rays well outside it
        ray = -np.asarray(direction, dtype=np.float64)
        origins = points - ray * far
        normals, offsets = self._planes
        seen = np.ones(len(points), dtype=bool)
        todo = np.arange(len(points))
        start = np.zeros(len(points))  # distance along the ray where the search resumes
        for _ in range(8):  # faces seen edge-on hide nothing: search again behind them
            if not len(todo):
                break
            o = origins[todo] + start[todo, None] * ray
            tri = self.tracer.intersects_first(o, np.broadcast_to(ray, o.shape))
            hit = tri >= 0
            todo, tri = todo[hit], tri[hit]
            cos = normals[tri] @ ray
            grazing = np.abs(cos) < 1e-7
            flat = ~grazing
            t = (offsets[tri[flat]] - np.einsum("ij,ij->i", normals[tri[flat]], origins[todo[flat]])) / cos[flat]
            seen[todo[flat][t < far - eps]] = False
            # resume past the edge-on triangle's extent along the ray
            g, tg = todo[grazing], tri[grazing]
            depth = (self.vertices[self.faces[tg]] - origins[g][:, None, :]) @ ray
            start[g] = depth.max(axis=1) + 1e-7
            todo = g[start[g] < far - eps]
        return seen

    def draw(self, view: View, options: MeshLineOptions) -> tuple[dict[EdgeClass, Polylines], float]:
        """The lines of one view, in view coordinates of the original model; and the seconds
        spent finding silhouettes and visibility."""
        n = np.asarray(view.direction)
        t0 = time.perf_counter()
        lines: dict[EdgeClass, Polylines] = {}
        lines[EdgeClass.VISIBLE_SHARP], lines[EdgeClass.HIDDEN_SHARP] = self._split(self.sharp, n, view, options)
        outline = self.silhouettes(n)
        lines[EdgeClass.VISIBLE_OUTLINE], lines[EdgeClass.HIDDEN_OUTLINE] = self._split(outline, n, view, options)
        return lines, time.perf_counter() - t0

    def _split(self, edges: np.ndarray, n: np.ndarray, view: View, o: MeshLineOptions):
        """Split segments into visible and hidden pieces, joined into polylines."""
        if not len(edges):
            return Polylines.empty(), Polylines.empty()
        p0 = self.vertices[edges[:, 0]]
        p1 = self.vertices[edges[:, 1]]
        seg = p1 - p0
        length2d = np.linalg.norm(seg - np.outer(seg @ n, n), axis=1)
        count = np.maximum(2, np.ceil(length2d / o.spacing).astype(np.int64) + 1)
        sid = np.repeat(np.arange(len(edges)), count)
        starts = np.concatenate([[0], np.cumsum(count)[:-1]])
        t = (np.arange(len(sid)) - starts[sid]) / (count[sid] - 1)
        state = self.visible(p0[sid] + t[:, None] * seg[sid], n, o.eps)
        # visibility changes between consecutive samples of one segment: bisect them
        change = np.flatnonzero((sid[1:] == sid[:-1]) & (state[1:] != state[:-1]))
        lo, hi, seg_c = t[change], t[change + 1], sid[change]
        lo_state = state[change]
        for _ in range(o.refine):
            mid = (lo + hi) / 2
            s = self.visible(p0[seg_c] + mid[:, None] * seg[seg_c], n, o.eps)
            same = s == lo_state
            lo = np.where(same, mid, lo)
            hi = np.where(same, hi, mid)
        cut = (lo + hi) / 2
        # breakpoints: each segment's start (its first state), every change, each end
        first = starts
        b_seg = np.concatenate([np.arange(len(edges)), seg_c, np.arange(len(edges))])
        b_t = np.concatenate([np.zeros(len(edges)), cut, np.ones(len(edges))])
        b_state = np.concatenate([state[first], ~lo_state, state[first]])  # last value unused
        order = np.lexsort((b_t, b_seg))
        b_seg, b_t, b_state = b_seg[order], b_t[order], b_state[order]
        piece = b_seg[:-1] == b_seg[1:]
        s_seg, t_a, t_b, vis = b_seg[:-1][piece], b_t[:-1][piece], b_t[1:][piece], b_state[:-1][piece]
        keep = t_b > t_a
        s_seg, t_a, t_b, vis = s_seg[keep], t_a[keep], t_b[keep], vis[keep]
        a3 = p0[s_seg] + t_a[:, None] * seg[s_seg]
        # an end at t = 1 is the vertex itself, bit for bit (p0 + (p1 - p0) may be off by
        # an ulp), so that join_segments links it to the next edge's start
        b3 = np.where((t_b == 1.0)[:, None], p1[s_seg], p0[s_seg] + t_b[:, None] * seg[s_seg])
        ends = np.stack([a3, b3], axis=1) * self.size + self.center  # back to model units
        flat = view.project(ends.reshape(-1, 3)).reshape(-1, 2, 2)
        return join_segments(flat[vis]), join_segments(flat[~vis])


def _merge_vertices(v: np.ndarray, f: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weld vertices closer than `tol` (of the unit model size); drop faces that collapse
    and faces that repeat (in either winding). Returns (vertices, faces, the input rows of
    those faces).

    Exact duplicates (STL stores every corner per face) merge by sorting; near duplicates
    (exports that rounded differently) by a k-d tree over the remaining vertices.
    """
    _, first, inverse = np.unique(v, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    uniq = v[first]
    if tol > 0 and len(uniq) > 1:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components
        from scipy.spatial import cKDTree

        pairs = cKDTree(uniq).query_pairs(tol, output_type="ndarray")
        if len(pairs):
            n = len(uniq)
            graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
            _, label = connected_components(graph, directed=False)
            # each cluster takes the position of its lowest-index member: deterministic
            rep = np.full(label.max() + 1, n, dtype=np.int64)
            np.minimum.at(rep, label, np.arange(n))
            inverse = label[inverse]
            uniq = uniq[rep]
    # A face given twice (a mesh concatenated with itself, or a double-sided export with
    # both windings) would make every edge look non-manifold, hence sharp: keep the first.
    welded = inverse[f]
    kept = _distinct_rows(welded)
    return uniq, welded[kept], kept


def _edge_keys(f: np.ndarray) -> np.ndarray:
    """One int64 key per face edge (3 per face, in face order), the same for both windings."""
    a, b = f.ravel(), f[:, [1, 2, 0]].ravel()
    return np.minimum(a, b) * (int(f.max()) + 1) + np.maximum(a, b)


#: split_t_junctions gives up (returns the faces unchanged) past this many candidate
#: (edge, vertex) pairs per open edge: only pathological meshes (a fan of thousands of
#: open triangles around one vertex) come near it.
MAX_T_CANDIDATES = 64


def split_t_junctions(v: np.ndarray, f: np.ndarray, tol: float, passes: int = 16) -> np.ndarray:
    """Faces with every T-junction split: an edge used by one face only, with another open
    edge's vertex lying on it (within `tol`), is cut at that vertex.

    Exporters that mesh neighbouring faces apart leave such edges, and so does a zero-area
    sliver dropped on reading (its long edge and its two short ones lose their partners):
    unsplit, both sides look like open boundaries and draw as lines across a smooth or flat
    surface. The other side of such an edge is a chain of open edges along it, so the
    vertices tried on an edge are its ends' neighbours along open edges: the work stays
    linear in the open edges (a ball around each edge held every vertex of a long, thin
    open mesh: 26 s and 3 GB for 16k faces). The face owning the edge becomes a fan from its
    third corner through the vertices found, in the face's winding; one edge per face is
    cut per pass, and a chain of several vertices is cut from both ends, pass after pass.
    Faces that repeat a vertex or another face are dropped, as on welding. Meshes without
    open edges come back unchanged.
    """
    for _ in range(passes):
        if not len(f):
            return f
        keys = _edge_keys(f)
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        open_edges = np.flatnonzero(counts[inverse] == 1)  # face-edge ids: face 3i + slot
        if not len(open_edges):
            return f
        a, b = f.ravel()[open_edges], f[:, [1, 2, 0]].ravel()[open_edges]
        apex = f[:, [2, 0, 1]].ravel()[open_edges]
        # each vertex's neighbours along open edges, as sorted (vertex, neighbour) pairs
        src, dst = np.concatenate([a, b]), np.concatenate([b, a])
        order = np.lexsort((dst, src))
        src, dst = src[order], dst[order]
        lo, hi = np.searchsorted(src, a), np.searchsorted(src, a, side="right")
        lo2, hi2 = np.searchsorted(src, b), np.searchsorted(src, b, side="right")
        sizes = (hi - lo) + (hi2 - lo2)
        if sizes.sum() > MAX_T_CANDIDATES * len(open_edges):
            return f
        edge = np.repeat(np.arange(len(open_edges)), sizes)
        starts = np.repeat(np.r_[0, np.cumsum(sizes)[:-1]], sizes)
        k = np.arange(len(edge)) - starts  # k-th candidate of its edge
        from_a = k < (hi - lo)[edge]
        vert = dst[np.where(from_a, lo[edge] + k, lo2[edge] + k - (hi - lo)[edge])]
        p, q = v[a], v[b]
        length = np.linalg.norm(q - p, axis=1)
        d = q[edge] - p[edge]
        t = np.einsum("ij,ij->i", v[vert] - p[edge], d) / np.maximum(length[edge] ** 2, 1e-300)
        off = np.linalg.norm(v[vert] - (p[edge] + t[:, None] * d), axis=1)
        along = t * length[edge]
        hit = (
            (vert != a[edge])
            & (vert != b[edge])
            & (vert != apex[edge])
            & (along > tol)
            & (length[edge] - along > tol)
            & (off <= tol)
        )
        if not hit.any():
            return f
        edge, vert, t = edge[hit], vert[hit], t[hit]
        face_edge = open_edges[edge]
        face = face_edge // 3
        # one edge per face this pass: the lowest slot that has a vertex on it
        first_slot = np.full(len(f), 3)
        np.minimum.at(first_slot, face, face_edge % 3)
        keep = face_edge % 3 == first_slot[face]
        face_edge, vert, t = face_edge[keep], vert[keep], t[keep]
        order = np.lexsort((vert, t, face_edge))  # along the edge; a vertex found from both ends once
        face_edge, vert = face_edge[order], vert[order]
        fresh = np.r_[True, (face_edge[1:] != face_edge[:-1]) | (vert[1:] != vert[:-1])]
        face_edge, vert = face_edge[fresh], vert[fresh]
        new_faces: list[np.ndarray] = []
        bounds = np.flatnonzero(np.r_[True, face_edge[1:] != face_edge[:-1], True])
        for lo_i, hi_i in zip(bounds[:-1], bounds[1:]):
            i, slot = divmod(int(face_edge[lo_i]), 3)
            corner = f[i, [slot, (slot + 1) % 3, (slot + 2) % 3]]  # edge corner[0] -> corner[1], apex corner[2]
            chain = np.concatenate([[corner[0]], vert[lo_i:hi_i], [corner[1]]])
            new_faces.append(np.column_stack([chain[:-1], chain[1:], np.full(len(chain) - 1, corner[2])]))
        # each split face is replaced in place by its fan (faces ascend with face_edge), so
        # the order stays deterministic
        f = _distinct_faces(_replace_rows(f, np.unique(face_edge // 3), new_faces))
    return f


def _distinct_faces(faces: np.ndarray) -> np.ndarray:
    """Faces without a repeated vertex, each kept once (in either winding), in order: a
    face given twice would make every edge of it look non-manifold, hence sharp."""
    return faces[_distinct_rows(faces)]


def _distinct_rows(faces: np.ndarray) -> np.ndarray:
    """Indices of the faces `_distinct_faces` keeps."""
    ok = np.flatnonzero((faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2]))
    _, first_face = np.unique(np.sort(faces[ok], axis=1), axis=0, return_index=True)
    return ok[np.sort(first_face)]


def _replace_rows(f: np.ndarray, rows: np.ndarray, replacements: list[np.ndarray]) -> np.ndarray:
    """`f` with each of the sorted `rows` replaced by the matching array of rows."""
    parts = []
    start = 0
    for r, rep in zip(rows.tolist(), replacements):
        parts.extend([f[start:r], rep])
        start = r + 1
    parts.append(f[start:])
    return np.concatenate(parts)


def _crease_angles(v: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Angle (radians) by which two faces sharing edge ab fold away from flat, from the
    directions toward their third vertices c and d: independent of face orientation."""
    if not len(pairs):
        return np.zeros(0)
    va, vb, vc, vd = (v[pairs[:, i]] for i in range(4))
    e = vb - va
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    u = (vc - va) - np.einsum("ij,ij->i", vc - va, e)[:, None] * e
    w = (vd - va) - np.einsum("ij,ij->i", vd - va, e)[:, None] * e
    u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-300)
    w /= np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-300)
    interior = np.arccos(np.clip(np.einsum("ij,ij->i", u, w), -1.0, 1.0))
    return np.pi - interior


def draw_mesh(
    mesh: Mesh,
    views: list[View],
    options: MeshLineOptions = MeshLineOptions(),
    source: object = "<mesh>",
    timings: Timings | None = None,
) -> list[Drawing]:
    """Drawings of a mesh in each view (algorithm "mesh"); adds to `timings`: edge
    extraction as "mesh", silhouettes and visibility as "hlr"."""
    timings = timings if timings is not None else Timings()
    t0 = time.perf_counter()
    edges = MeshEdges(mesh, options.crease_angle, source, options.weld)
    timings.mesh += time.perf_counter() - t0
    drawings = []
    for view in views:
        lines, seconds = edges.draw(view, options)
        timings.hlr += seconds
        drawings.append(Drawing(view, lines, edges.box, "mesh", seconds))
    return drawings
