"""Drawing -> anti-aliased uint8 image.

Lines are drawn with OpenCV at `SUPERSAMPLE` times the output size, with round caps and
joins, then box-filtered down: the coverage gives anti-aliasing and widths finer than a
pixel. Pure numpy + cv2, deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .drawing import HIDDEN, VISIBLE, Drawing, Frame, Polylines
from .styles import Style, gray

SUPERSAMPLE = 4
_SHIFT = 4  # cv2 fixed-point fraction bits


@dataclass(frozen=True)
class PixelLines:
    """The lines of one drawing in pixel coordinates (x right, y down), ready to paint."""

    size: int
    visible: Polylines
    hidden: Polylines


def to_pixel_lines(drawing: Drawing, frame: Frame, size: int) -> PixelLines:
    """Map a drawing's polylines into a `size` x `size` pixel window.

    Coordinates are rounded to 1e-6 px so that float noise from scaling a part (1e-3 vs
    1e3) cannot flip a sub-pixel decision: the same shape at any scale gives one image.
    """

    def conv(p: Polylines) -> Polylines:
        return p.map(np.round(frame.to_pixels(p.points, size), 6))

    return PixelLines(size, conv(drawing.packed(VISIBLE)), conv(drawing.packed(HIDDEN)))


def dashes(polylines: Polylines, dash: float, gap: float) -> Polylines:
    """Cut polylines into dashes of length `dash` separated by `gap` (pixels), per polyline."""
    if dash <= 0 or gap < 0:
        raise ValueError("dash must be positive and gap non-negative")
    period = dash + gap
    out: list[np.ndarray] = []
    for p in polylines.arrays():
        seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        total = cum[-1]
        if total <= 0:
            continue
        for start in np.arange(0.0, total, period):
            end = min(start + dash, total)
            inner = (cum > start) & (cum < end)
            s = np.array([np.interp(start, cum, p[:, 0]), np.interp(start, cum, p[:, 1])])
            e = np.array([np.interp(end, cum, p[:, 0]), np.interp(end, cum, p[:, 1])])
            out.append(np.vstack([s, p[inner], e]))
    return Polylines.from_list(out)


def cv2_thickness(width: float) -> int:
    """OpenCV thickness whose stroke is closest to `width` output pixels.

    OpenCV's thick lines cover an odd number of canvas pixels (thickness 1 -> 1, 2k -> 2k+1),
    so widths come in steps of 2 / SUPERSAMPLE px: 0.25, 0.75, 1.25, 1.75 ... at 4x.
    """
    odd = 2 * int(np.floor((width * SUPERSAMPLE - 1) / 2 + 0.5)) + 1
    return 1 if odd <= 1 else odd - 1


def coverage(polylines: Polylines, size: int, width: float) -> np.ndarray:
    """(size, size) uint8 coverage (0 = none, 255 = full) of round-capped lines `width` px wide.

    Only the pixel block around the lines is supersampled and filtered.
    """
    out = np.zeros((size, size), dtype=np.uint8)
    if not len(polylines):
        return out
    ss = SUPERSAMPLE
    pad = int(np.ceil(width / 2.0)) + 1
    lo = np.clip(np.floor(polylines.points.min(axis=0)).astype(int) - pad, 0, size)
    hi = np.clip(np.ceil(polylines.points.max(axis=0)).astype(int) + pad, 0, size)
    (x0, y0), (x1, y1) = lo, hi
    if x1 <= x0 or y1 <= y0:
        return out
    canvas = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), dtype=np.uint8)
    # Canvas pixel k has its centre at (k + 0.5) / ss output pixels from the block corner.
    local = (polylines.points - (x0, y0)) * ss - 0.5
    fixed = polylines.map(np.round(local * (1 << _SHIFT)).astype(np.int32))
    thick = cv2_thickness(width)
    cv2.polylines(canvas, fixed.arrays(), False, 255, thickness=thick, lineType=cv2.LINE_8, shift=_SHIFT)
    out[y0:y1, x0:x1] = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return out


@lru_cache(maxsize=32)
def _palette(background: tuple, hidden: tuple, visible: tuple) -> np.ndarray:
    """(65536, C) uint8 colour for every (hidden, visible) coverage pair: hidden under visible."""
    h = (np.arange(256, dtype=np.float64) / 255.0)[:, None, None]
    v = (np.arange(256, dtype=np.float64) / 255.0)[None, :, None]
    bg, hc, vc = (np.asarray(c, dtype=np.float64) for c in (background, hidden, visible))
    mix = (bg * (1.0 - h) + hc * h) * (1.0 - v) + vc * v
    return np.clip(np.rint(mix), 0, 255).astype(np.uint8).reshape(256 * 256, -1)


def _paint(palette: np.ndarray, index: np.ndarray) -> np.ndarray:
    """palette[index] as (H, W, C) uint8, each colour taken as one C-byte item: 4x faster
    than fancy indexing rows (0.13 against 0.51 ms for a 200 px RGB drawing)."""
    c = palette.shape[1]
    items = np.ascontiguousarray(palette).view(np.dtype((np.void, c))).ravel()
    return np.take(items, index).view(np.uint8).reshape(*index.shape, c)


def rasterize(lines: PixelLines, style: Style, grayscale: bool = False) -> np.ndarray:
    """Paint the lines: hidden first, visible over them. (H, W, 3) or (H, W) uint8."""
    size = lines.size
    vw, hw, dash = style.scaled(size)

    def col(c: tuple[int, int, int]) -> tuple[int, ...]:
        return (gray(c),) if grayscale else tuple(c)

    palette = _palette(col(style.background), col(style.hidden_color), col(style.visible_color))
    v = coverage(lines.visible, size, vw).astype(np.uint16)
    if hw is not None and len(lines.hidden):
        hidden = dashes(lines.hidden, *dash) if dash else lines.hidden
        index = coverage(hidden, size, hw).astype(np.uint16) * 256 + v
    else:
        index = v
    out = _paint(palette, index)
    return out[..., 0] if grayscale else out
