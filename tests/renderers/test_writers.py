"""Writers: PNG bytes decode to the same pixels, writes are atomic, palettes compose right."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from renderers.drawing import Polylines
from renderers.raster import PixelLines, coverage, dashes, rasterize
from renderers.styles import STYLES
from renderers.writers import atomic_write, png_bytes


@pytest.mark.parametrize("shape", [(200, 200, 3), (37, 53), (64, 16, 3)])
def test_png_round_trips_through_two_decoders(shape):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = png_bytes(img)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), img)
    dec = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(dec if dec.ndim == 2 else dec[..., ::-1], img)


def test_png_rejects_other_arrays():
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(np.zeros((4, 4), dtype=np.float32))


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "a.png"
    atomic_write(target, b"old")
    atomic_write(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


@pytest.mark.parametrize("width", [0.25, 0.75, 1.25, 1.75, 2.25])
def test_coverage_of_a_line_has_the_requested_width(width):
    line = Polylines.from_list([np.array([[20.0, 50.5], [80.0, 50.5]])])  # centre of pixel row 50
    cov = coverage(line, 100, width).astype(float) / 255
    column = cov[:, 50]
    assert column.sum() == pytest.approx(width, abs=0.01)  # ink across the line = its width
    centre = (column * (np.arange(100) + 0.5)).sum() / column.sum()
    assert centre == pytest.approx(50.5, abs=0.25)  # centred to within a sub-pixel (OpenCV rounding)
    reach = int(np.ceil(width / 2))  # round caps reach half a width past the ends
    assert cov[:, : 20 - reach].sum() == 0 and cov[:, 81 + reach :].sum() == 0


def test_hidden_is_painted_under_visible():
    same = Polylines.from_list([np.array([[10.0, 20.5], [30.0, 20.5]])])
    img = rasterize(PixelLines(200, same, same), STYLES["spare3d"])
    assert tuple(img[20, 20]) == (0, 0, 0)  # black wins where both are drawn
    only_hidden = rasterize(PixelLines(200, Polylines.empty(), same), STYLES["spare3d"])
    assert only_hidden[20, 20, 0] == 255 and only_hidden[20, 20, 1] < 100


def test_dashes_follow_the_pattern():
    line = Polylines.from_list([np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])])
    pieces = dashes(line, 4.0, 3.0).arrays()
    lengths = [np.linalg.norm(np.diff(p, axis=0), axis=1).sum() for p in pieces]
    assert lengths == pytest.approx([4.0, 4.0, 4.0])  # starts at 0, 7, 14 of a 20-long path
    assert np.allclose(pieces[1][[0, -1]], [[7.0, 0.0], [10.0, 1.0]]) and len(pieces[1]) == 3


def test_line_width_multiplies_the_styles_widths_and_dashes():
    from renderers.render import RenderOptions
    from renderers.views import PRESETS

    for size in (64, 200):
        line = Polylines.from_list([np.array([[0.1, 0.5], [0.9, 0.5]]) * size])  # at 64 px the widths are at their floors: the factor applies after them
        ink = []
        for factor in (1.0, 2.0):
            img = rasterize(PixelLines(size, line, Polylines.empty()), STYLES["spare3d"].widened(factor))
            ink.append((255 - img[:, size // 2, 1].astype(float)).sum() / 255)  # ink across the line: its width
        assert ink[0] == pytest.approx(1.25, abs=0.05) and ink[1] == pytest.approx(2 * ink[0], rel=0.12)
    assert STYLES["dashed"].widened(2.0).scaled(200) == (2.5, 1.5, (8.0, 6.0))
    assert STYLES["visible-only"].widened(3.0).scaled(64) == (3.75, None, None)
    default, wide = (RenderOptions((PRESETS["f"],), line_width=w) for w in (1.0, 2.0))
    assert "line_width" not in default.settings() and wide.settings()["line_width"] == 2.0  # old renders keep their hash
    assert default.fingerprint() != wide.fingerprint()
    with pytest.raises(ValueError, match="line width must be from 0.25 to 8"):
        RenderOptions((PRESETS["f"],), line_width=0.1)
