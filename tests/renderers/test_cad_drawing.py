"""Geometry at known pixels: hidden-line removal, framing, styles and writers on real OCCT parts."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from OCP.TopAbs import TopAbs_EDGE

from renderers import occ
from renderers.cad import HLROptions, draw_shape
from renderers.drawing import HIDDEN, VISIBLE, EdgeClass, frame
from renderers.raster import coverage, dashes
from renderers.render import RenderOptions, image, pixel_lines, render_model
from renderers.styles import get_style
from renderers.views import PRESETS, parse_views
from tests.conftest import ROOT, fixture_path

SPARE11 = tuple(parse_views("spare3d11"))


def _draw(shape, names, mode="exact", **kw):
    return draw_shape(shape, [PRESETS[n] for n in names], HLROptions(mode, **kw))


def _img(drawing, **kw):
    return image(drawing, RenderOptions(SPARE11, **kw))


def dark(img):
    return (img[..., 0] < 110) & (img[..., 1] < 110) & (img[..., 2] < 110)


def red(img):
    return (img[..., 0] > 180) & (img[..., 1] < 150) & (img[..., 2] < 150)


# Box 40 x 20 x 30, window side 1.7 * 40 = 68 mm for 200 px, centred on each view's bounds.
PX = 200 / 68.0


def col(x_mm, centre_mm=20.0):
    """Pixel column (centre-of-pixel index) of a model x coordinate in the f and t views."""
    return (x_mm - centre_mm) * PX + 100 - 0.5


def test_front_view_outer_rectangle_visible_and_hole_hidden(box_with_hole):
    (d,) = _draw(box_with_hole, ["f"])
    img = _img(d)
    rows = slice(70, 130)  # inside the rectangle (z from 0 to 30 maps to rows 56..144)
    for x in (0, 40):  # outer vertical edges: visible
        c = int(round(col(x)))
        assert dark(img)[rows, c - 1 : c + 2].any(axis=1).all(), f"edge x={x} not visible at column {c}"
    for x in (15, 25):  # hole generators: hidden, and nothing visible there
        c = int(round(col(x)))
        assert red(img)[rows, c - 1 : c + 2].any(axis=1).all(), f"hole line x={x} not hidden at column {c}"
        assert not dark(img)[rows, c - 2 : c + 3].any()
    # between the lines the face is empty
    assert not (dark(img) | red(img))[rows, int(col(5)) : int(col(12))].any()
    # the generators are hidden: the silhouette at x=15 and, at x=25, the silhouette that
    # coincides with the cylinder's seam edge (so HLR reports it as a sharp edge)
    outline_x = {round(float(p[:, 0].mean()), 6) for p in d.lines[EdgeClass.HIDDEN_OUTLINE].arrays()}
    vertical_x = {round(float(p[0, 0]), 6) for p in d.polylines(HIDDEN) if np.ptp(p[:, 0]) < 1e-9 and np.ptp(p[:, 1]) > 29}
    assert 15.0 in outline_x and {15.0, 25.0} <= vertical_x


def test_top_view_shows_the_hole_circle(box_with_hole):
    (d,) = _draw(box_with_hole, ["t"])
    img = _img(d)
    r = 5 * PX
    cy = cx = 100 - 0.5  # hole centre (20, 10) is the centre of the top view's bounds
    for a in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        x, y = cx + r * np.cos(a), cy - r * np.sin(a)
        win = dark(img)[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2]
        assert win.any(), f"circle missing at angle {a:.2f}"
    assert not dark(img)[95:105, 95:105].any()  # inside the hole: nothing
    assert not red(img).any()  # a through-hole seen from above hides nothing


@pytest.mark.parametrize("pose, near, far", [("2", (40, 0, 30), (0, 20, 0)), ("3", (40, 20, 30), (0, 0, 0))])
def test_pose_drawings_match_their_view_vectors(box_with_hole, pose, near, far):
    (d,) = _draw(box_with_hole, [pose])
    view = PRESETS[pose]
    vis = np.concatenate(d.polylines(VISIBLE))
    hid = np.concatenate(d.polylines(HIDDEN))
    p_near, p_far = view.project(np.array([near, far]))

    def has(points, p):
        return np.min(np.linalg.norm(points - p, axis=1)) < 1e-6

    assert has(vis, p_near), "the corner facing the viewer must be a visible vertex"
    assert has(hid, p_far) and not has(vis, p_far), "the opposite corner must be hidden"
    # and at the expected pixel
    f = frame(d)
    px, py = f.to_pixels(p_near[None], 200)[0]
    img = _img(d)
    assert dark(img)[int(py) - 1 : int(py) + 2, int(px) - 1 : int(px) + 2].any()


def test_pose_2_and_3_differ(box_with_hole):
    a, b = _draw(box_with_hole, ["2", "3"])
    assert not np.array_equal(_img(a), _img(b))


def test_line_width_invariance_under_scale(box_with_hole, tmp_path):
    opts = RenderOptions(SPARE11, formats=("png", "svg"))
    small = occ.transformed(box_with_hole, scale=1e-3)
    big = occ.transformed(box_with_hole, scale=1e3)
    render_model(small, tmp_path / "small", opts)
    render_model(big, tmp_path / "big", opts)
    for v in SPARE11:
        a = (tmp_path / "small" / f"{v.name}.png").read_bytes()
        b = (tmp_path / "big" / f"{v.name}.png").read_bytes()
        assert a == b, f"view {v.name} differs between 1e-3 and 1e3 scale"
        assert (tmp_path / "small" / f"{v.name}.svg").read_bytes() == (tmp_path / "big" / f"{v.name}.svg").read_bytes()


def test_lines_stay_legible_at_small_sizes_and_scale_with_the_side_above_200_px(box_with_hole):
    """At 64 px the 200-px widths scaled down to 0.4 px and drew light grey: 11 of 3,083
    line pixels darker than mid-grey on the sample parts. Widths now have a floor."""
    from renderers.styles import MIN_HIDDEN_WIDTH, MIN_VISIBLE_WIDTH

    style = get_style("dashed")
    assert style.scaled(200) == (1.25, 0.75, (4.0, 3.0)) and style.scaled(400) == (2.5, 1.5, (8.0, 6.0))
    assert style.scaled(64) == (MIN_VISIBLE_WIDTH, MIN_HIDDEN_WIDTH, (4.0, 3.0)) == (1.25, 0.75, (4.0, 3.0))
    for size in (32, 64, 128, 200):
        shares = []
        for d in _draw(box_with_hole, ["f", "t", "2"]):
            img = image(d, RenderOptions(SPARE11, size=size, style="visible-only", grayscale=True))
            shares.append((img < 128).sum() / (img < 250).sum())
        assert min(shares) > 0.5, (size, shares)  # about 0.01 at 32 and 64 px before the floor
    small, big = occ.transformed(box_with_hole, scale=1e-3), occ.transformed(box_with_hole, scale=1e3)
    for a, b in zip(_draw(small, ["f", "2"]), _draw(big, ["f", "2"])):  # any one size: scale invariant
        assert np.array_equal(image(a, RenderOptions(SPARE11, size=64)), image(b, RenderOptions(SPARE11, size=64)))


def _mask(img):
    return (dark(img) | red(img)).astype(np.uint8)


def _iou_tol(a, b):
    """IoU of two line masks, each pixel counted as matched within 1 pixel of the other."""
    k = np.ones((3, 3), np.uint8)
    a_ok = a & cv2.dilate(b, k)
    b_ok = b & cv2.dilate(a, k)
    inter = (a_ok.sum() + b_ok.sum()) / 2
    union = a.sum() + b.sum() - inter
    return inter / union


@pytest.mark.parametrize("view", ["f", "t", "2", "7"])
def test_exact_and_polygonal_agree(box_with_hole, view):
    (e,) = _draw(box_with_hole, [view], "exact")
    (p,) = _draw(box_with_hole, [view], "poly")
    assert e.algorithm == "exact" and p.algorithm == "poly"
    assert _iou_tol(_mask(_img(e)), _mask(_img(p))) > 0.9


def _length(polys: list[np.ndarray]) -> float:
    return float(sum(np.linalg.norm(np.diff(q, axis=0), axis=1).sum() for q in polys))


@pytest.mark.parametrize("view", ["f", "2", "5"])
def test_polygonal_segments_of_a_box_are_its_exact_edges(view):
    # A box's tessellation is exact, so the polygonal drawing, read from its segments'
    # vertices and joined, must hold the exact drawing's lines: the same length per edge
    # class and every visible corner among its vertices.
    part = occ.box(40, 20, 30)
    (e,) = _draw(part, [view], "exact")
    (p,) = _draw(part, [view], "poly")
    for cls in EdgeClass:
        assert _length(p.polylines((cls,))) == pytest.approx(_length(e.polylines((cls,))), abs=1e-6), cls
    corners = {tuple(np.round(c, 6)) for q in e.polylines(VISIBLE) for c in q[[0, -1]]}
    vertices = {tuple(np.round(c, 6)) for q in p.polylines(VISIBLE) for c in q}
    assert len(corners) >= 4 and corners <= vertices


@pytest.mark.parametrize("mode", ["exact", "poly", "mesh"])
def test_dashed_hidden_lines_have_gaps_in_every_mode(mode):
    # The hidden half of a hole's bottom circle seen from pose 2: polygonal HLR and the
    # mesh renderer give it as tens of tiny segments, which must be joined, or each would
    # restart the 4 px dash and the line would draw solid.
    part = occ.cut(occ.box(40, 40, 10), occ.cylinder(12, 10, origin=(20, 20, 0)))
    (d,) = _draw(part, ["2"], mode)
    lines = pixel_lines(d, RenderOptions(SPARE11, style="dashed"))
    _, width, (dash, gap) = get_style("dashed").scaled(200)
    solid = coverage(lines.hidden, 200, width) > 127
    dashed = coverage(dashes(lines.hidden, dash, gap), 200, width) > 127
    assert solid.sum() > 100 and dashed.sum() < 0.7 * solid.sum()  # 4 px on, 3 off: 0.62 here
    assert len(lines.hidden) <= 10


def test_auto_is_exact_for_analytic_parts(box_with_hole):
    ds = _draw(box_with_hole, ["f", "2"], "auto")
    assert [d.algorithm for d in ds] == ["exact", "exact"]


def test_smooth_edges_are_optional():
    # a cylinder fused tangentially onto a box: the edges where they meet are smooth (G1)
    part = occ.fuse(occ.box(20, 20, 10), occ.cylinder(10, 10, origin=(10, 20, 0)))
    (plain,) = _draw(part, ["2"])
    (smooth,) = _draw(part, ["2"], smooth=True)
    tangent_edge = PRESETS["2"].project(np.array([[20.0, 20.0, 0.0], [20.0, 20.0, 10.0]]))
    assert EdgeClass.VISIBLE_SMOOTH not in plain.lines
    (line,) = smooth.lines[EdgeClass.VISIBLE_SMOOTH].arrays()
    assert np.allclose(sorted(map(tuple, line)), sorted(map(tuple, tangent_edge)))
    visible = np.concatenate(plain.polylines(VISIBLE))
    mid = tangent_edge.mean(axis=0)
    assert np.min(np.linalg.norm(visible - mid, axis=1)) > 1.0  # not drawn as a sharp edge


def test_compound_of_several_solids_draws_all():
    two = occ.compound([occ.box(10, 10, 10), occ.box(10, 10, 10, origin=(30, 0, 0))])
    (d,) = _draw(two, ["f"])
    xs = np.concatenate(d.polylines(VISIBLE))[:, 0]
    assert xs.min() == pytest.approx(0) and xs.max() == pytest.approx(40)
    assert ((xs > 10.5) & (xs < 29.5)).sum() == 0


def _distance(drawing, cls, point) -> float:
    """Distance on the view plane from a 3D point's projection to the nearest line of a class."""
    q = drawing.view.project(np.array([point], dtype=float))[0]
    best = np.inf
    for line in drawing.polylines(cls):
        a, b = line[:-1], line[1:]
        t = np.clip(np.einsum("ij,ij->i", q - a, b - a) / np.maximum(np.einsum("ij,ij->i", b - a, b - a), 1e-12), 0, 1)
        best = min(best, float(np.min(np.linalg.norm(a + t[:, None] * (b - a) - q, axis=1))))
    return best


def test_an_edge_inside_another_solid_of_a_compound_is_hidden():
    # A pillar standing in a cube, seen from above (isometric 2): its four vertical edges
    # run inside the cube below z = 10 and must be hidden there, visible above (the front
    # one). OCCT's hidden-line removal alone draws the inside parts visible.
    from OCP.BRep import BRep_Builder
    from OCP.TopoDS import TopoDS_Solid

    empty = TopoDS_Solid()  # a solid without faces, as a boolean can leave: no extent, no part in it
    BRep_Builder().MakeSolid(empty)
    pillar_in_cube = occ.compound([occ.box(10, 10, 10), empty, occ.box(2, 2, 10, origin=(4, 4, 5))])
    (d,) = _draw(pillar_in_cube, ["2"])
    assert not d.notes
    for x, y in ((4, 4), (6, 4), (6, 6), (4, 6)):
        assert _distance(d, HIDDEN, (x, y, 7.0)) < 1e-3
        assert _distance(d, VISIBLE, (x, y, 7.0)) > 0.5
    assert _distance(d, VISIBLE, (6, 4, 12.0)) < 1e-3  # the front edge above the cube
    assert _distance(d, VISIBLE, (4, 6, 12.0)) < 1e-3  # the back edge, seen above the top face
    # the cube's own edges are whole: its top front edge is visible along its length
    assert all(_distance(d, VISIBLE, (10, y, 10)) < 1e-3 for y in (0.5, 5.0, 9.5))


def test_a_solid_wholly_inside_another_is_drawn_hidden():
    # A box inside a sphere, from the front: OCCT's hidden-line removal alone draws the
    # box's edges visible (no outline crosses them); every one of them is hidden.
    box_in_sphere = occ.compound([occ.sphere(20, (0, 0, 0)), occ.box(10, 10, 10, origin=(-5, -5, -5))])
    for name in ("f", "2", "5"):
        (d,) = _draw(box_in_sphere, [name])
        for point in [(-5, -5, z) for z in (-3.0, 0.0, 3.0)] + [(x, -5, 5) for x in (-3.0, 0.0, 3.0)]:
            assert _distance(d, HIDDEN, point) < 1e-3, (name, point)
            assert _distance(d, VISIBLE, point) > 0.5, (name, point)
        assert _distance(d, VISIBLE, (0, 0, 0)) < 20.5  # the sphere's outline is still drawn
    (alone,) = _draw(box_in_sphere, ["f"], overlaps=False)  # OCCT's hidden-line removal alone
    assert any(_distance(alone, VISIBLE, (-5, -5, z)) < 1e-3 for z in (-3.0, 0.0, 3.0))


def test_overlaps_split_only_edges_that_enter_another_solid():
    apart = [occ.box(10, 10, 10), occ.box(10, 10, 10, origin=(30, 0, 0))]
    assert all(a.IsSame(b) for a, b in zip(occ.Overlaps(apart).split(), apart))
    pillar_in_cube = [occ.box(10, 10, 10), occ.box(2, 2, 10, origin=(4, 4, 5))]
    cube, pillar = occ.Overlaps(pillar_in_cube).split()
    assert cube.IsSame(pillar_in_cube[0])  # no cube edge enters the pillar
    # each of the pillar's 4 vertical edges is cut once, at the cube's top face
    assert occ.count(pillar, TopAbs_EDGE) == occ.count(pillar_in_cube[1], TopAbs_EDGE) + 4 * 2


def test_a_lone_face_is_drawn_not_rejected():
    from OCP.TopAbs import TopAbs_FACE
    from OCP.TopExp import TopExp_Explorer

    exp = TopExp_Explorer(occ.box(10, 20, 30), TopAbs_FACE)
    face = exp.Current()
    (d,) = _draw(face, ["2"])
    assert not d.is_blank()


def test_fit_framing_fills_the_window(box_with_hole):
    (d,) = _draw(box_with_hole, ["r"])  # right view: 20 wide, 30 tall
    f = frame(d, "fit", 1.0)
    assert f.side == pytest.approx(30)
    img = image(d, RenderOptions(SPARE11, framing="fit", frame_factor=1.25))
    rows = np.nonzero(dark(img).any(axis=1))[0]
    assert rows.min() == pytest.approx(20, abs=2) and rows.max() == pytest.approx(179, abs=2)


def test_styles_and_grayscale(box_with_hole):
    (d,) = _draw(box_with_hole, ["f"])
    spare = _img(d)
    dashed = _img(d, style="dashed")
    vis_only = _img(d, style="visible-only")
    gray = _img(d, grayscale=True)
    assert red(spare).sum() > 50
    assert not red(dashed).any() and not red(vis_only).any()
    grey = (np.abs(dashed[..., 0].astype(int) - 128) < 40) & (dashed[..., 0] == dashed[..., 1])
    c = int(round(col(15)))
    column = grey[60:140, c - 1 : c + 2].any(axis=1)
    assert 0.3 < column.mean() < 0.9, "dashed hidden lines must have gaps"
    assert np.array_equal(dark(vis_only), dark(spare))
    assert gray.shape == (200, 200) and gray.dtype == np.uint8
    assert gray[100, 100] == 255 and gray.min() < 60


def test_png_svg_npy_agree_and_are_deterministic(box_with_hole, tmp_path):
    opts = RenderOptions(tuple(parse_views("f,2")), formats=("png", "svg", "npy"))
    render_model(box_with_hole, tmp_path / "a", opts)
    render_model(box_with_hole, tmp_path / "b", opts)
    for name in ("f.png", "f.svg", "f.npy", "2.png", "2.svg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    arr = np.load(io.BytesIO((tmp_path / "a" / "2.npy").read_bytes()), allow_pickle=False)
    png = cv2.imread(str(tmp_path / "a" / "2.png"))[..., ::-1]
    assert arr.shape == (200, 200, 3) and np.array_equal(arr, png)
    root = ET.parse(tmp_path / "a" / "2.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    groups = {g.get("id"): g for g in root.iter(f"{ns}g")}
    assert groups["visible"].get("stroke") == "#000000" and groups["hidden"].get("stroke") == "#ff0000"
    assert len(list(groups["visible"])) >= 9


def test_a_shape_draws_the_same_whatever_was_drawn_before(tmp_path):
    """Meshing is stored on the caller's shape: a finer mesh from a 2000 px drawing was
    kept, and the next 200 px polygonal drawing differed from a fresh one in 88-289 pixels."""
    views = parse_views("f,2")
    small, large = (RenderOptions(tuple(views), size=n, hlr=HLROptions("poly")) for n in (200, 2000))
    shape = occ.read_cad(fixture_path("cad/sliced_cylinder.step"))
    first = [image(d, small) for d in draw_shape(shape, views, small.hlr)]
    draw_shape(shape, views, large.hlr)
    again = [image(d, small) for d in draw_shape(shape, views, small.hlr)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_degenerate_shapes_fail_clearly():
    from renderers.errors import RenderError

    with pytest.raises(RenderError, match="no faces or edges"):
        draw_shape(occ.compound([]), [PRESETS["f"]])


def test_auto_plan_from_shape_statistics():
    from renderers.cad import auto_plan
    from renderers.occ import Complexity

    assert auto_plan(Complexity(faces=417, edges=2382, freeform_faces=0, freeform_poles=0)) == "exact"
    assert auto_plan(Complexity(faces=58, edges=296, freeform_faces=6, freeform_poles=96)) == "budgeted"
    assert auto_plan(Complexity(faces=45, edges=208, freeform_faces=45, freeform_poles=850)) == "poly"
    assert auto_plan(Complexity(faces=9000, edges=40000, freeform_faces=0, freeform_poles=0)) == "budgeted"


def test_budget_overrun_falls_back_to_polygonal_for_the_rest():
    from tests.conftest import fixture_path

    k1 = occ.read_cad(fixture_path("cad/trj5_k1-ct-214.stp"))  # freeform, 96 poles: budgeted
    views = [PRESETS[n] for n in ("f", "t")]
    within = draw_shape(k1, views, HLROptions("auto"))
    assert [d.algorithm for d in within] == ["exact", "exact"]
    over = draw_shape(k1, views, HLROptions("auto", budget=1e-4))
    assert [d.algorithm for d in over] == ["poly", "poly"]
    assert all("over the 0.0001 s budget" in " ".join(d.notes) for d in over)
    assert not over[0].is_blank()


def spheres_cut_by_a_z_cylinder(n: int):
    """n spheres stacked along Z, each cut through by one Z cylinder: 2 freeform
    (B-spline) edges each on the cylinder, all over one arc of its circle."""
    tool = occ.cylinder(6, 40 * n, origin=(8, 0, -20))
    return occ.compound([occ.cut(occ.sphere(10, (0, 0, 25 * k)), tool) for k in range(n)])


def test_freeform_edges_stacked_on_a_cylinder_are_measured_by_depth_not_count():
    from tests.conftest import fixture_path

    [(axis, depth)] = occ.stacked_edges(spheres_cut_by_a_z_cylinder(3))
    assert np.allclose(axis, (0, 0, 1)) and depth == 6
    # eight such edges side by side around a cylinder (four spheres on a ring) do not stack
    tool = occ.cylinder(20, 40, origin=(0, 0, -20))
    ring = [occ.cut(occ.sphere(6, (20 * np.cos(a), 20 * np.sin(a), 0)), tool) for a in np.radians([0, 90, 180, 270])]
    [(axis, depth)] = occ.stacked_edges(occ.compound(ring))
    assert np.allclose(axis, (0, 0, 1)) and depth == 2
    assert occ.stacked_edges(occ.cut(occ.box(20, 20, 20), occ.cylinder(5, 40, (10, 10, -10)))) == []  # circles only
    # a real part's fillet boundaries on one cylinder (10 edges) lie side by side
    k1 = occ.read_cad(fixture_path("cad/trj5_k1-ct-214.stp"))
    assert max(depth for _, depth in occ.stacked_edges(k1)) == 2


def test_auto_draws_a_view_along_stacked_freeform_edges_polygonally():
    from renderers.cad import AUTO_STACKED_EDGES

    shape = spheres_cut_by_a_z_cylinder(3)
    assert 6 >= AUTO_STACKED_EDGES
    top, right = _draw(shape, ["t", "r"], "auto")
    assert (top.algorithm, right.algorithm) == ("poly", "exact")
    assert "6 freeform edges stacked on a cylinder seen end-on" in top.notes[0]
    assert not top.is_blank()
    # a stack below the limit, and the exact mode, stay exact
    assert _draw(spheres_cut_by_a_z_cylinder(1), ["t"], "auto")[0].algorithm == "exact"
    assert _draw(shape, ["r"], "exact")[0].algorithm == "exact"


def test_step_writing_is_deterministic(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # A fresh process: its first STEP writer resets OCCT's STEP settings, later ones count
    # their writes in the names of a compound's parts unless told otherwise.
    code = ("import sys; from renderers import occ\n"
            "s = occ.compound([occ.cut(occ.box(40, 20, 30), occ.cylinder(5, 30, origin=(20, 10, 0))), occ.sphere(8)])\n"
            "for path in sys.argv[1:]: occ.write_step(s, path)")
    paths = [tmp_path / d / "part.step" for d in "abc"]
    (tmp_path / "c").mkdir()
    subprocess.run([sys.executable, "-c", code, *map(str, paths)], cwd=ROOT, check=True)
    data = paths[0].read_bytes()
    assert data == paths[1].read_bytes() == paths[2].read_bytes()
    assert len(occ.children(occ.read_cad(paths[0]))) == 2  # both solids come back
    assert b"2000-01-01T00:00:00" in data and b"PRODUCT('part','part'" in data
    again = draw_shape(occ.read_cad(tmp_path / "a" / "part.step"), [PRESETS["2"]], HLROptions("exact"))[0]
    assert not again.is_blank()


def test_validity_check_rejects_a_self_intersecting_face():
    from OCP.BRepBuilderAPI import BRepBuilderAPI_MakeFace, BRepBuilderAPI_MakePolygon
    from OCP.gp import gp_Pnt

    assert occ.is_valid(occ.cut(occ.box(20, 20, 20), occ.cylinder(5, 40, (10, 10, -10))))
    bow_tie = BRepBuilderAPI_MakePolygon(gp_Pnt(0, 0, 0), gp_Pnt(10, 10, 0), gp_Pnt(10, 0, 0), gp_Pnt(0, 10, 0), True)
    assert not occ.is_valid(BRepBuilderAPI_MakeFace(bow_tie.Wire(), True).Face())


def _slowed(monkeypatch, module, name: str, seconds: float) -> None:
    import time

    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: (time.sleep(seconds), real(*a, **k))[1])


@pytest.mark.parametrize("mode", ["auto", "poly"])
def test_stage_timings_put_each_step_in_its_own_stage(tmp_path, monkeypatch, mode):
    """The render benchmark divides the time outside HLR into OCCT's work and ours: our
    slow file check must land in `check` (not OCCT's `read`), slow bounds in `prepare`
    (not `mesh`, which they follow in poly mode), a slow cost analysis in `plan`; and no
    stage may count another's time (their sum stays within the render's wall time)."""
    import time

    _slowed(monkeypatch, occ, "_dangling_references", 0.3)
    _slowed(monkeypatch, occ, "tight_box", 0.3)
    _slowed(monkeypatch, occ, "complexity", 0.3)
    options = RenderOptions(tuple(parse_views("f,2")), hlr=HLROptions(mode))
    t0 = time.perf_counter()
    report = render_model(fixture_path("cad/tet.step"), tmp_path / "tet", options)
    wall = time.perf_counter() - t0
    s = report.seconds
    assert set(s) == {"check", "read", "prepare", "plan", "mesh", "hlr", "discretise", "rasterise", "write"}
    assert s["check"] >= 0.3 and s["read"] < 0.3  # tet.step is 8 KB: OCCT reads it in milliseconds
    assert s["prepare"] >= 0.3 and s["mesh"] < 0.3
    assert (s["plan"] >= 0.3) == (mode == "auto") and s["plan"] < 0.6
    assert min(s.values()) >= 0 and sum(s.values()) <= wall
