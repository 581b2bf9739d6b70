"""Drawing styles: colours, widths in pixels and dash patterns, shared by PNG and SVG."""

from __future__ import annotations

from dataclasses import dataclass, replace

#: Image side at which the widths and dash lengths below hold; they scale with the side.
REFERENCE_SIZE = 200
#: The thinnest lines drawn at any size, in pixels: scaled down with the side, the 200-px
#: widths faded to grey (0.4 px at 64 px: 6% of the line pixels darker than mid-grey,
#: against 67% at 200 px; with these floors 70%).
MIN_VISIBLE_WIDTH = 1.25
MIN_HIDDEN_WIDTH = 0.75

#: The line-width factors accepted (`RenderOptions.line_width`, `generate --line-width`).
LINE_WIDTHS = (0.25, 8.0)

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Style:
    """How a Drawing looks. Widths and dashes are pixels at a 200-px image.

    Widths are in pixels, never in model units, so a part at 1 mm and at 1 km gives the
    same image (SPARE3D's SVG widths were in model units and varied with model size).
    The defaults, 1.25 and 0.75 px, are the widths the 4x rasteriser draws exactly
    nearest to SPARE3D's 0.7 : 0.35 look at 200 px.
    """

    name: str
    visible_width: float
    visible_color: RGB
    hidden_width: float | None
    hidden_color: RGB
    hidden_dash: tuple[float, float] | None = None
    background: RGB = (255, 255, 255)
    width_factor: float = 1.0  # times the widths drawn at any size, floors included

    def scaled(self, size: int) -> tuple[float, float | None, tuple[float, float] | None]:
        """(visible width, hidden width, dash) in pixels for an image of side `size`: the
        widths at 200 px times size / 200, but never thinner than MIN_VISIBLE_WIDTH and
        MIN_HIDDEN_WIDTH (dashes stretch with the hidden stroke), then times `width_factor`.
        Pixels, so at any one size a part drawn at any scale gives the same image."""
        k = size / REFERENCE_SIZE
        vw = max(self.visible_width * k, MIN_VISIBLE_WIDTH) * self.width_factor
        if self.hidden_width is None:
            return vw, None, None
        hw = max(self.hidden_width * k, MIN_HIDDEN_WIDTH) * self.width_factor
        stretch = hw / self.hidden_width
        dash = None if self.hidden_dash is None else (self.hidden_dash[0] * stretch, self.hidden_dash[1] * stretch)
        return vw, hw, dash


    def widened(self, factor: float) -> "Style":
        """The style with every width it draws, and the dashes, times `factor` (line-width
        experiments): after the floors, so that it changes small drawings too."""
        return self if factor == 1.0 else replace(self, width_factor=self.width_factor * factor)


#: What a view is drawn as: a hidden-line drawing, or a shaded render (renderers.shaded).
MODES = ("lines", "shaded")

STYLES: dict[str, Style] = {
    # SPARE3D: visible black, hidden thin solid red drawn under the visible lines.
    "spare3d": Style("spare3d", 1.25, (0, 0, 0), 0.75, (255, 0, 0)),
    # Engineering convention: hidden lines dashed grey.
    "dashed": Style("dashed", 1.25, (0, 0, 0), 0.75, (128, 128, 128), hidden_dash=(4.0, 3.0)),
    "visible-only": Style("visible-only", 1.25, (0, 0, 0), None, (0, 0, 0)),
}


def get_style(name: str) -> Style:
    """Look up a style by name; ValueError lists the known ones."""
    try:
        return STYLES[name]
    except KeyError:
        raise ValueError(f"unknown style {name!r} (known: {', '.join(STYLES)})") from None


def check_line_width(factor) -> None:
    """ValueError unless `factor` is a number in LINE_WIDTHS."""
    low, high = LINE_WIDTHS
    if not (isinstance(factor, (int, float)) and low <= factor <= high):
        raise ValueError(f"line width must be from {low:g} to {high:g} (times the style's), got {factor!r}")


def gray(c: RGB) -> int:
    """ITU-R 601 luma of an RGB colour (what PIL's 'L' conversion uses)."""
    return int(round(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]))
