import numpy as np
import pytest

from renderers.views import PRESETS, VIEW_SETS, make_view, parse_views

#: ../shared/reference/spare3d.md's view table, (N toward the viewer, image x axis), typed
#: in by hand: every preset is checked against it, not only pose 2.
SPARE3D_TABLE = {
    "f": ((0, -1, 0), (1, 0, 0)), "r": ((1, 0, 0), (0, 1, 0)), "t": ((0, 0, 1), (1, 0, 0)),
    "1": ((-1, -1, 1), (1, -1, 0)), "2": ((1, -1, 1), (1, 1, 0)), "3": ((1, 1, 1), (-1, 1, 0)),
    "4": ((-1, 1, 1), (-1, -1, 0)), "5": ((-1, -1, -1), (1, -1, 0)), "6": ((1, -1, -1), (1, 1, 0)),
    "7": ((1, 1, -1), (-1, 1, 0)), "8": ((-1, 1, -1), (-1, -1, 0)),
    "9": ((0, -1, 1), (1, 0, 0)), "10": ((0, -1, -1), (1, 0, 0)),
    "11": ((1, 0, 1), (0, 1, 0)), "12": ((1, 0, -1), (0, 1, 0)),
    "13": ((0, 1, 1), (-1, 0, 0)), "14": ((0, 1, -1), (-1, 0, 0)),
    "15": ((-1, 0, 1), (0, -1, 0)), "16": ((-1, 0, -1), (0, -1, 0)),
    "17": ((-1, -1, 0), (1, -1, 0)), "18": ((1, -1, 0), (1, 1, 0)),
    "19": ((1, 1, 0), (-1, 1, 0)), "20": ((-1, 1, 0), (-1, -1, 0)),
}


@pytest.mark.parametrize("name", sorted(SPARE3D_TABLE))
def test_every_preset_matches_the_reference_table(name):
    n, x = (np.array(a, float) / np.linalg.norm(a) for a in SPARE3D_TABLE[name])
    view = PRESETS[name]
    assert np.allclose(view.direction, n) and np.allclose(view.xdir, x)
    assert np.allclose(view.ydir, np.cross(n, x))  # image up = N x X


def test_presets_follow_the_spare3d_table():
    assert sorted(PRESETS) == sorted(SPARE3D_TABLE)
    n2 = np.array([1, -1, 1]) / np.sqrt(3)
    x2 = np.array([1, 1, 0]) / np.sqrt(2)
    v = PRESETS["2"]
    assert np.allclose(v.direction, n2) and np.allclose(v.xdir, x2)
    assert np.allclose(v.ydir, np.cross(n2, x2))
    # front view looks along +y, image up is +z
    assert np.allclose(PRESETS["f"].ydir, (0, 0, 1))
    assert np.allclose(PRESETS["t"].ydir, (0, 1, 0))
    assert np.allclose(PRESETS["r"].ydir, (0, 0, 1))
    for k in range(1, 21):
        view = PRESETS[str(k)]
        assert abs(np.dot(view.direction, view.xdir)) < 1e-12
        assert view.ydir[2] >= -1e-12 or view.direction[2] < 0  # up points up except from below


def test_view_sets():
    assert [v.name for v in parse_views("spare3d11")] == ["f", "r", "t", "1", "2", "3", "4", "5", "6", "7", "8"]
    assert len(parse_views("spare3d23")) == 23 == len(VIEW_SETS["spare3d23"])
    assert [v.name for v in parse_views("f, t,2")] == ["f", "t", "2"]


def test_custom_view_is_orthonormalised():
    (v,) = parse_views("back=0:2:0/-1:0.5:0")
    assert v.name == "back"
    assert np.allclose(v.direction, (0, 1, 0))
    assert np.allclose(v.xdir, (-1, 0, 0))
    pts = v.project(np.array([[1.0, 5.0, 2.0]]))
    assert np.allclose(pts, [[-1.0, 2.0]])  # up = N x X = (0,0,1)
    (huge,) = parse_views("h=1e308:1e308:0/1e308:-1e308:0")  # the plain norm overflows to inf
    assert np.allclose(huge.direction, (2**-0.5, 2**-0.5, 0)) and np.allclose(huge.xdir, (2**-0.5, -(2**-0.5), 0))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("f,q", "unknown view 'q'"),
        ("", "no views"),
        ("f,f", "repeat"),
        ("a=0:0:0/1:0:0", "zero vector"),
        ("a=1:0:0/2:0:0", "parallel"),
        ("a=1:0/1:0:0", "expected name="),
        ("a b=1:0:0/0:1:0", "name must be"),
        ("f,,r", "empty entry"),
        ("f=0:1:0/1:0:0", "preset's name"),
        ("v" * 65 + "=1:0:0/0:1:0", "name must be 1-64"),
    ],
)
def test_bad_views_say_why(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_views(spec)


def test_make_view_rejects_nan():
    with pytest.raises(ValueError, match="finite"):
        make_view("x", (np.nan, 0, 1), (1, 0, 0))
