"""Mesh line drawings: known answers on simple meshes, agreement with CAD, bad meshes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh

from renderers.cad import HLROptions, draw_file, draw_shape
from renderers.drawing import HIDDEN, VISIBLE, EdgeClass
from renderers.errors import RenderError
from renderers.mesh_io import Mesh, check_mesh, read_mesh
from renderers.mesh_lines import MeshLineOptions, _edge_keys, draw_mesh, split_t_junctions
from renderers.raster import coverage
from renderers.render import RenderOptions, image, pixel_lines
from renderers.views import PRESETS, parse_views
from tests.conftest import fixture_path

SPARE11 = tuple(parse_views("spare3d11"))


def _mesh(tm: trimesh.Trimesh) -> Mesh:
    return Mesh(np.asarray(tm.vertices, dtype=float), np.asarray(tm.faces))


def _draw(mesh, names, **kw):
    return draw_mesh(mesh, [PRESETS[n] for n in names], MeshLineOptions(**kw))


def _length(polys) -> float:
    return float(sum(np.linalg.norm(np.diff(p, axis=0), axis=1).sum() for p in polys))


def test_cube_isometric_hides_only_the_three_back_edges():
    cube = _mesh(trimesh.creation.box((2, 2, 2)))  # corners at +-1
    (d,) = _draw(cube, ["2"])
    view = PRESETS["2"]
    back = view.project(np.array([[-1.0, 1.0, -1.0]]))[0]  # the corner facing away from (1,-1,1)
    hidden = d.polylines(HIDDEN)
    edge = float(np.linalg.norm(view.project(np.array([[-1.0, 1, -1], [1.0, 1, -1]]))[1] - back))
    # pieces end within spacing / 2**refine of a visibility change: 5e-4 of the size here
    assert _length(hidden) == pytest.approx(3 * edge, rel=1e-3)
    for p in hidden:  # every hidden piece lies on a back edge, collinear with the back corner
        for q in p:
            assert any(np.allclose(q, back) or _on_segment(q, back, other, view) for other in _back_ends())
    assert _length(d.polylines(VISIBLE)) == pytest.approx(9 * edge, rel=1e-3)
    assert not len(d.lines[EdgeClass.VISIBLE_OUTLINE])  # a cube has creases, no silhouettes


def _back_ends():
    return [np.array(c, dtype=float) for c in ((1, 1, -1), (-1, -1, -1), (-1, 1, 1))]


def _on_segment(q, a2, b3, view):
    b2 = view.project(b3[None])[0]
    ab, aq = b2 - a2, q - a2
    return abs(ab[0] * aq[1] - ab[1] * aq[0]) < 1e-9 and -1e-9 <= aq @ ab <= ab @ ab + 1e-9


def test_a_box_in_front_hides_the_box_behind():
    front = trimesh.creation.box((4, 1, 4))  # centred at the origin, y in [-0.5, 0.5]
    behind = trimesh.creation.box((1, 1, 1))
    behind.apply_translation((0, 3, 0))  # further along +y, away from the front viewer
    mesh = _mesh(trimesh.util.concatenate([front, behind]))
    (f,) = _draw(mesh, ["f"])

    def inside(polys):  # pieces strictly inside the front box's outline
        return [p for p in polys if np.all(np.abs(p) < 2.0 - 1e-6)]

    # the small box's 8 unit edges that do not point at the viewer: all hidden
    assert _length(inside(f.polylines(HIDDEN))) == pytest.approx(8.0, rel=1e-6)
    assert not inside(f.polylines(VISIBLE))
    for p in f.polylines(VISIBLE):  # the rest is the outline (back-face edges tie with it)
        assert np.all(np.isclose(np.abs(p), 2.0).any(axis=1))
    (r,) = _draw(mesh, ["r"])  # from the side both boxes are in full view
    xs = np.concatenate(r.polylines(VISIBLE))[:, 0]
    assert xs.max() == pytest.approx(3.5) and xs.min() == pytest.approx(-0.5)


def test_cylinder_front_view_has_two_silhouettes_and_no_facets():
    cyl = _mesh(trimesh.creation.cylinder(radius=1.0, height=4.0, sections=64))
    (d,) = _draw(cyl, ["f"])
    outline = d.lines[EdgeClass.VISIBLE_OUTLINE].arrays()
    xs = sorted({round(float(x), 6) for p in outline for x in p[:, 0]})
    assert len(xs) == 2 and xs[0] == pytest.approx(-1.0, abs=0.01) and xs[1] == pytest.approx(1.0, abs=0.01)
    assert _length(outline) == pytest.approx(8.0, rel=1e-6)  # two generator lines of height 4
    sharp = np.concatenate(d.lines[EdgeClass.VISIBLE_SHARP].arrays())
    assert np.allclose(np.abs(sharp[:, 1]), 2.0)  # only the cap rims, seen edge-on: no facet lines


@pytest.mark.parametrize("sections", [14, 30])
def test_facets_seen_edge_on_keep_both_silhouettes(sections):
    """With an even number of sections, f or r sees two side facets exactly edge-on: the
    sign test on them dropped the outline there (view r drew the caps only)."""
    tm = trimesh.creation.cylinder(radius=1.0, height=3.0, sections=sections)
    for d in _draw(_mesh(tm), ["f", "r"]):
        outline = d.lines[EdgeClass.VISIBLE_OUTLINE].arrays()
        edge = np.abs(d.view.project(np.asarray(tm.vertices))[:, 0]).max()
        for side in (-edge, edge):  # a full-height generator line on each side
            on_side = [p for p in outline if np.allclose(p[:, 0], side)]
            assert _length(on_side) >= 3.0 - 1e-9, (d.view.name, side)
        assert all(np.allclose(np.abs(p[:, 0]), edge) for p in outline)


def test_cad_cylinder_through_the_mesh_path_matches_exact():
    """A tessellated CAD cylinder has facets edge-on in f and r: its left outline was drawn
    hidden (visible F1 0.86, hidden 0)."""
    from renderers import occ

    opts = RenderOptions(SPARE11)
    shape = occ.cylinder(5, 10)
    for e, m in zip(draw_shape(shape, list(SPARE11), HLROptions("exact")), draw_shape(shape, list(SPARE11), HLROptions("mesh"))):
        (ev, eh), (mv, mh) = _masks(e, opts), _masks(m, opts)
        assert _f1(ev, mv) >= 0.98 and _f1(eh, mh) >= 0.95, e.view.name


def test_unused_vertices_do_not_set_the_framing():
    """A stray vertex no face uses (or one of a dropped zero-area face) made the framing
    100 times too large: the cube came out as a dot."""
    cube = trimesh.creation.box((1, 1, 1))
    v, f = np.asarray(cube.vertices, float), np.asarray(cube.faces)
    stray = check_mesh(np.vstack([v, [[100.0, 100, 100]]]), f)
    sliver = check_mesh(np.vstack([v, [[50.0, 0, 0], [51.0, 0, 0], [52.0, 0, 0]]]), np.vstack([f, [[8, 9, 10]]]))
    opts = RenderOptions(tuple(parse_views("f,1")))
    plain = [image(d, opts) for d in draw_mesh(check_mesh(v, f), list(opts.views))]
    assert (plain[0] < 128).any(axis=2).sum() > 400  # a 1.7x-framed square, not a dot
    for m in (stray, sliver):
        assert len(m.vertices) == 8
        assert all(np.array_equal(image(d, opts), p) for d, p in zip(draw_mesh(m, list(opts.views)), plain))


def test_face_orientation_does_not_matter():
    tm = trimesh.creation.cylinder(radius=1.0, height=2.0, sections=32)
    faces = np.array(tm.faces)
    faces[::2] = faces[::2, ::-1]  # flip every other triangle
    a = _draw(_mesh(tm), ["2", "f"])
    b = _draw(Mesh(np.asarray(tm.vertices, float), faces), ["2", "f"])
    for x, y in zip(a, b):
        for cls in EdgeClass:
            if cls in x.lines:
                assert _length(x.lines[cls].arrays()) == pytest.approx(_length(y.lines[cls].arrays()), rel=1e-9)


def test_y_up_turns_the_model_upright(tmp_path):
    tall = trimesh.creation.box((1, 3, 1))  # tall along y: a Y-up model standing upright
    path = tmp_path / "tall.obj"
    tall.export(path)
    (d,) = draw_file(path, [PRESETS["f"]], up="y")
    b = d.bounds2d()
    assert b[1, 1] - b[0, 1] == pytest.approx(3.0)  # upright in the front view
    assert np.allclose(d.model_box[1] - d.model_box[0], (1, 1, 3))


def _masks(d, opts):
    pl = pixel_lines(d, opts)
    v = coverage(pl.visible, opts.size, 1.25) > 60
    return v, (coverage(pl.hidden, opts.size, 1.25) > 60) & ~v


def _f1(a, b, tol=2):
    if a.sum() < 5 and b.sum() < 5:
        return 1.0
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tol + 1, 2 * tol + 1))
    da = cv2.dilate(a.astype(np.uint8), k) > 0
    db = cv2.dilate(b.astype(np.uint8), k) > 0
    precision = (b & da).sum() / max(b.sum(), 1)
    recall = (a & db).sum() / max(a.sum(), 1)
    return 2 * precision * recall / max(precision + recall, 1e-12)


def test_cad_and_mesh_of_one_part_agree_in_every_view():
    """pairs/featuretype: the STEP in mm and the STL in inches are the same part."""
    opts = RenderOptions(SPARE11)
    cad = draw_file(fixture_path("pairs/featuretype.STEP"), list(SPARE11), HLROptions("exact"))
    mesh = draw_file(fixture_path("pairs/featuretype.STL"), list(SPARE11))
    for c, m in zip(cad, mesh):
        (cv, ch), (mv, mh) = _masks(c, opts), _masks(m, opts)
        assert _f1(cv, mv) >= 0.98, f"visible lines of view {c.view.name}"
        assert _f1(ch, mh) >= 0.95, f"hidden lines of view {c.view.name}"


def test_cad_model_through_the_mesh_path_matches_exact(box_with_hole):
    opts = RenderOptions(SPARE11)
    exact = draw_shape(box_with_hole, list(SPARE11), HLROptions("exact"))
    meshed = draw_shape(box_with_hole, list(SPARE11), HLROptions("mesh"))
    assert {d.algorithm for d in meshed} == {"mesh"}
    for e, m in zip(exact, meshed):
        (ev, eh), (mv, mh) = _masks(e, opts), _masks(m, opts)
        assert _f1(ev, mv) >= 0.98 and _f1(eh, mh) >= 0.95, e.view.name


def test_a_single_triangle_draws_its_three_edges():
    tri = Mesh(np.array([[0.0, 0, 0], [1, 0, 0], [0, 0, 1]]), np.array([[0, 1, 2]]))
    (d,) = _draw(tri, ["f"])
    assert _length(d.polylines(VISIBLE)) == pytest.approx(2 + np.sqrt(2))


@pytest.mark.parametrize(
    "vertices, faces, message",
    [
        (np.zeros((0, 3)), np.zeros((0, 3), int), "mesh is empty"),
        (np.array([[0, 0, 0], [1, 0, np.nan], [0, 1, 0]]), np.array([[0, 1, 2]]), "NaN or infinite"),
        (np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]]), np.array([[0, 1, 2]]), "zero area"),
        (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]]), np.array([[0, 1, 5]]), "outside the vertex list"),
        (np.ones((3, 3)), np.array([[0, 1, 2]]), "zero-size"),
    ],
)
def test_bad_meshes_say_why(vertices, faces, message):
    with pytest.raises(RenderError, match=message):
        check_mesh(vertices, faces, "bad.stl")


def test_zero_area_faces_are_dropped_not_fatal():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0]], dtype=float)
    m = check_mesh(v, np.array([[0, 1, 2], [0, 1, 3]]))
    assert len(m.faces) == 1


def test_face_limit_is_enforced(monkeypatch):
    import renderers.mesh_io as mio

    monkeypatch.setattr(mio, "MAX_FACES", 10)
    big = trimesh.creation.icosphere(subdivisions=1)
    with pytest.raises(RenderError, match="above the limit of 10"):
        mio.check_mesh(big.vertices, big.faces, "big.stl")


def test_truncated_or_oversized_binary_stl_is_refused_before_reading(tmp_path, monkeypatch):
    """A truncated binary STL was reported as 'mesh is empty'; the face limit applied only
    after trimesh had loaded the whole file."""
    import renderers.mesh_io as mio

    whole = tmp_path / "ico.stl"
    trimesh.creation.icosahedron().export(whole)  # binary: 84 + 20 x 50 bytes
    cut = tmp_path / "cut.stl"
    cut.write_bytes(whole.read_bytes()[:-30])
    with pytest.raises(RenderError, match=r"cut.stl: binary STL header promises 20 triangles \(1,084 bytes\) but the file has 1,054"):
        read_mesh(cut)
    assert len(read_mesh(whole).faces) == 20
    monkeypatch.setattr(mio, "MAX_FACES", 10)
    monkeypatch.setattr(trimesh, "load", lambda *a, **k: pytest.fail("loaded before the limit was checked"))
    with pytest.raises(RenderError, match="20 faces, above the limit of 10"):
        read_mesh(whole)


def test_cut_ply_and_off_files_are_refused_as_truncated(tmp_path):
    """trimesh drew a text OFF cut at a line end from what remained, called a cut PLY
    'empty' and a cut OFF an array-shape error: each is now refused as truncated."""
    ply = fixture_path("mesh/octagonal_pocket.ply").read_bytes()
    off = fixture_path("mesh/hole_capsule.off").read_text()
    lines = off.splitlines(keepends=True)
    cases = {"half.ply": ply[: len(ply) // 2], "half.off": off[: len(off) // 2].encode(),
             "lines.off": "".join(lines[:-5]).encode()}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(RenderError, match=rf"{name}: truncated.*header promises 1,658 vertices and 3,262 faces"
                           if name.endswith("ply") else rf"{name}: truncated.*header promises 89 vertices and 76 faces"):
            read_mesh(tmp_path / name)
    assert len(read_mesh(fixture_path("mesh/hole_capsule.off")).faces) == 152


def test_face_limit_applies_before_reading_ply_off_and_obj(tmp_path, monkeypatch):
    """A header (PLY, OFF) or a count of face lines (OBJ) above the limit is refused without
    trimesh loading the file."""
    import renderers.mesh_io as mio

    monkeypatch.setattr(mio, "MAX_FACES", 3)
    monkeypatch.setattr(trimesh, "load", lambda *a, **k: pytest.fail("loaded before the limit was checked"))
    (tmp_path / "big.off").write_text("OFF\n# a comment\n4 2000000000 0\n")
    (tmp_path / "big.ply").write_bytes(fixture_path("mesh/octagonal_pocket.ply").read_bytes())
    (tmp_path / "big.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n" + "f 1 2 3\n" * 4)
    for name, faces in (("big.off", "2,000,000,000"), ("big.ply", "3,262"), ("big.obj", "4")):
        with pytest.raises(RenderError, match=rf"{name}: mesh has {faces} faces, above the limit of 3"):
            read_mesh(tmp_path / name)


def test_garbage_files_with_mesh_names(tmp_path):
    cases = [("junk.stl", np.random.default_rng(1).bytes(3000), "truncated, or not an STL"), ("empty.obj", b"", "empty"),
             ("bad.off", b"OFF\n3 1 0\n0 0", ""), ("bad.gltf", b"{garbage", "not a glTF file (invalid JSON"),
             ("list.gltf", b"[1, 2]", "no 'asset'"), ("bad.glb", np.random.default_rng(2).bytes(500), "not a GLB file")]
    for name, data, reason in cases:
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(RenderError) as info:
            read_mesh(p)
        assert str(info.value).startswith(str(p)) and "\n" not in str(info.value) and reason in str(info.value)


def test_binary_off_that_trimesh_cannot_read():
    m = read_mesh(fixture_path("mesh/fairing-cross.off"))
    assert m.vertices.shape == (4983, 3) and len(m.faces) == 9762


def test_repeated_faces_draw_like_the_clean_mesh():
    """A mesh concatenated with itself, or a double-sided export (each face again with the
    other winding): every edge then has four faces, which drew the whole tessellation."""
    tm = trimesh.creation.cylinder(radius=1.0, height=3.0, sections=32)
    v, f = np.asarray(tm.vertices, float), np.asarray(tm.faces)
    clean = _draw(Mesh(v, f), ["2", "f"])
    for faces in (np.concatenate([f, f]), np.concatenate([f, f[:, ::-1]])):
        for x, y in zip(clean, _draw(Mesh(v, faces), ["2", "f"])):
            for cls in EdgeClass:
                if cls in x.lines or cls in y.lines:
                    assert _length(x.lines[cls].arrays()) == pytest.approx(_length(y.lines[cls].arrays()), rel=1e-9)


def test_damaged_mesh_degrades_gracefully():
    """featuretype STL with 3% of its triangles missing, 30% flipped and corners of
    neighbouring faces no longer coinciding (5e-6 in): still close to the CAD drawing."""
    opts = RenderOptions(SPARE11)
    cad = draw_file(fixture_path("pairs/featuretype.STEP"), list(SPARE11), HLROptions("exact"))
    m = read_mesh(fixture_path("pairs/featuretype.STL"))
    rng = np.random.default_rng(0)
    faces = m.faces[rng.random(len(m.faces)) >= 0.03].copy()
    flip = rng.random(len(faces)) < 0.3
    faces[flip] = faces[flip][:, ::-1]
    damaged = Mesh(m.vertices + rng.normal(0, 5e-6, m.vertices.shape), faces)
    drawn = draw_mesh(damaged, list(SPARE11))
    vis = [_f1(_masks(c, opts)[0], _masks(d, opts)[0]) for c, d in zip(cad, drawn)]
    hid = [_f1(_masks(c, opts)[1], _masks(d, opts)[1]) for c, d in zip(cad, drawn)]
    assert min(vis) > 0.85 and np.mean(vis) > 0.93
    assert np.mean(hid) > 0.9


def test_near_duplicate_vertices_are_welded():
    cube = trimesh.creation.box((2, 2, 2))
    soup = np.asarray(cube.vertices)[np.asarray(cube.faces)].reshape(-1, 3)  # every corner per face
    soup = soup + np.random.default_rng(2).normal(0, 1e-7, soup.shape)
    (d,) = _draw(Mesh(soup, np.arange(len(soup)).reshape(-1, 3)), ["2"])
    (ref,) = _draw(_mesh(cube), ["2"])
    assert _length(d.polylines(VISIBLE)) == pytest.approx(_length(ref.polylines(VISIBLE)), rel=1e-3)


def test_gltf_scene_is_flattened_with_its_transforms(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box((1, 1, 1)), node_name="a")
    moved = np.eye(4)
    moved[:3, 3] = (5, 0, 0)
    scene.add_geometry(trimesh.creation.box((1, 1, 1)), node_name="b", transform=moved)
    path = tmp_path / "two.glb"
    scene.export(path)
    m = read_mesh(path)
    assert np.allclose(m.vertices.min(axis=0), (-0.5, -0.5, -0.5)) and np.allclose(m.vertices.max(axis=0), (5.5, 0.5, 0.5))


def _cube_with_top(top_points, top_faces):
    """The 2-unit cube with its top face (z = 1) triangulated as given: `top_faces` index
    the four top corners (0-3: (-1,-1), (1,-1), (1,1), (-1,1)) and then `top_points`."""
    cube = trimesh.creation.box((2, 2, 2))
    v, f = np.asarray(cube.vertices, float), np.asarray(cube.faces)
    f = f[~np.all(v[f][:, :, 2] == 1, axis=1)]
    corners = [int(np.flatnonzero(np.all(v == (x, y, 1), axis=1))[0]) for x, y in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    extra = np.array([(x, y, 1.0) for x, y in top_points]).reshape(-1, 3)
    ids = np.array(corners + list(range(len(v), len(v) + len(extra))))
    return check_mesh(np.vstack([v, extra]), np.vstack([f, ids[np.asarray(top_faces)]]), "cube")


@pytest.mark.parametrize(
    "points, faces",
    [
        # a T-junction: the left half is two triangles on the line x = 0 (E-F), the right
        # half three that meet at G, the middle of E-F (as exporters that mesh faces apart do)
        ([(0, -1), (0, 1), (0, 0)], [(0, 4, 5), (0, 5, 3), (4, 1, 6), (1, 2, 6), (2, 5, 6)]),
        # a zero-area sliver along the diagonal, dropped on reading: its neighbours' edges
        # on the diagonal lose their partners
        ([(0, 0)], [(0, 1, 2), (0, 4, 3), (4, 2, 3), (0, 2, 4)]),
    ],
    ids=["t-junction", "sliver"],
)
def test_t_junctions_do_not_draw_lines_across_a_face(points, faces):
    """Unsplit, the seam's edges were open boundaries and drew across the flat top face."""
    clean = _draw(_cube_with_top([], [(0, 1, 2), (0, 2, 3)]), [v.name for v in SPARE11])
    seamed = _draw(_cube_with_top(points, faces), [v.name for v in SPARE11])
    for x, y in zip(clean, seamed):
        xs, ys = (list(d.polylines(VISIBLE)) + list(d.polylines(HIDDEN)) for d in (x, y))
        assert _covered(ys, xs) and _covered(xs, ys), x.view.name  # the same lines, wherever drawn
        if x.view.name not in ("f", "r", "t"):  # there back edges lie on front ones: either may win
            for cls in (VISIBLE, HIDDEN):
                assert _length(y.polylines(cls)) == pytest.approx(_length(x.polylines(cls)), rel=1e-4), x.view.name


def _covered(polys, by) -> bool:
    """Whether every point of `polys` lies on some segment of `by` (within 1e-9)."""
    segs = np.concatenate([np.stack([p[:-1], p[1:]], axis=1) for p in by if len(p) > 1])
    a, d = segs[:, 0], segs[:, 1] - segs[:, 0]
    for p in polys:
        pts = (p[:-1, None] + np.linspace(0, 1, 5)[None, :, None] * np.diff(p, axis=0)[:, None]).reshape(-1, 2)
        t = np.clip(np.einsum("pk,sk->ps", pts, d) - np.einsum("sk,sk->s", a, d), 0, None) / np.maximum(np.einsum("sk,sk->s", d, d), 1e-300)
        near = a[None] + np.minimum(t, 1)[..., None] * d[None]
        if np.linalg.norm(near - pts[:, None], axis=2).min(axis=1).max() > 1e-9:
            return False
    return True


def test_t_junction_chains_on_two_edges_of_one_face_are_all_split():
    """A big triangle whose bottom and left edges each meet a strip of finer triangles (three
    T-vertices per edge): the fans keep the winding and the area, every T-junction goes,
    and only the outline stays open."""
    v = [(0.0, 0.0), (4.0, 0.0), (0.0, 4.0)]
    faces = [(0, 1, 2)]

    def strip(ends, along, across):
        ids = [ends[0]] + [len(v) + k for k in range(3)] + [ends[1]]
        v.extend(along(x) for x in (1, 2, 3))
        outer = list(range(len(v), len(v) + 5))
        v.extend(across(x) for x in range(5))
        return ids, outer

    bottom, low = strip((0, 1), lambda x: (x, 0.0), lambda x: (x, -1.0))
    faces += [f for i in range(4) for f in ((bottom[i], low[i], low[i + 1]), (bottom[i], low[i + 1], bottom[i + 1]))]
    left, out = strip((0, 2), lambda y: (0.0, y), lambda y: (-1.0, y))
    faces += [f for i in range(4) for f in ((left[i], left[i + 1], out[i + 1]), (left[i], out[i + 1], out[i]))]
    verts = np.array([(x, y, 0.0) for x, y in v])
    f = np.array(faces)

    def signed_area(f):
        t = verts[f]
        return np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])[:, 2].sum() / 2

    split = split_t_junctions(verts, f, 1e-9)
    assert signed_area(split) == pytest.approx(signed_area(f)) == pytest.approx(16.0)
    directed = np.stack([split.ravel(), split[:, [1, 2, 0]].ravel()], axis=1)
    assert len(np.unique(directed, axis=0)) == len(directed)  # one winding: no directed edge twice
    assert np.array_equal(split_t_junctions(verts, split, 1e-9), split)  # nothing left to split
    _, counts = np.unique(_edge_keys(split), return_counts=True)
    assert (counts == 1).sum() == 1 + 2 * (4 + 2)  # the outline: the hypotenuse, each strip's far side and ends
    assert (counts > 2).sum() == 0


def test_t_junction_search_ignores_a_faces_own_corner():
    """A sliver thinner than the tolerance has its third corner on its long edge: splitting
    there made faces with a repeated vertex (NaN crease angles), or lost the face."""
    verts = np.array([(0, 0, 0), (1, 0, 0), (0.5, 1e-7, 0), (0.5, 1, 0)], dtype=float)
    f = np.array([(0, 1, 2), (0, 2, 3)])
    assert np.array_equal(split_t_junctions(verts, f, 1e-6), f)


def _roof(ridge_degrees: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 2 x 1 x 1 box whose top is two planes meeting in a ridge along y at x = 1, at
    `ridge_degrees` to each other: (vertices, faces, a patch per face, one per plane)."""
    h = 1.0 + np.tan(np.radians(ridge_degrees / 2))
    base = [[0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0], [0, 0, 1], [2, 0, 1], [2, 1, 1], [0, 1, 1], [1, 0, h], [1, 1, h]]
    hull = trimesh.convex.convex_hull(np.array(base, dtype=float))
    patches = np.unique(np.round(hull.face_normals, 6), axis=0, return_inverse=True)[1].reshape(-1)
    return np.asarray(hull.vertices), np.asarray(hull.faces), patches


def test_surface_patches_draw_a_ridge_flatter_than_the_crease_angle_and_no_edge_inside_a_plane():
    v, f, patches = _roof(2.0)
    assert len(np.unique(patches)) == 7  # bottom, four walls, two roof planes
    (with_patches,) = _draw(Mesh(v, f, patches), ["t"])
    (by_angle,) = _draw(Mesh(v, f), ["t"])
    assert _length(by_angle.polylines(VISIBLE)) == pytest.approx(6.0, abs=1e-6)  # the outline: 2 degrees < 40
    assert _length(with_patches.polylines(VISIBLE)) == pytest.approx(7.0, abs=1e-6)  # and the ridge


def test_surface_patches_on_an_open_mesh_are_refused_in_one_line():
    tri = Mesh(np.array([[0.0, 0, 0], [1, 0, 0], [0, 0, 1]]), np.array([[0, 1, 2]]), np.array([0]))
    with pytest.raises(RenderError, match="patches need a closed mesh; this one has 3 open edges"):
        _draw(tri, ["f"])
