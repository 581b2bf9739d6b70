"""Writers: PNG, SVG and .npy, each written atomically (temp file + rename)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .styles import Style, gray

if TYPE_CHECKING:  # writers import without OpenCV: dataset readers on GPU boxes use them
    from .raster import PixelLines

FORMATS = ("png", "svg", "npy")


def _temporary(path: Path, pid: int) -> Path:
    """Where `atomic_write` puts `path`'s bytes before the rename: `.<name>.<pid>.tmp`."""
    return path.with_name(f".{path.name}.{pid}.tmp")


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes so that readers see the old file or the whole new one, never a part;
    a failed write (disk full, read-only folder) leaves no temporary file behind and raises
    OSError naming `path`, not the temporary."""
    p = Path(path)
    tmp = _temporary(p, os.getpid())
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(p)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike, names: tuple[str, ...]) -> None:
    """Delete the temporaries of `atomic_write`s of `folder`/name (for each of `names`)
    that a killed process left: a kill mid-write leaves no partial file, but leaves the
    temporary. Those of a process still alive on this machine are kept."""
    folder = Path(folder)
    for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
        name, _, pid = tmp.name[1:-4].rpartition(".")
        if name not in names or not pid.isdigit():  # `_temporary`'s name, read back
            continue
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, OverflowError):  # no such process (OverflowError: no such pid at all)
            tmp.unlink(missing_ok=True)
        except PermissionError:  # alive, another user's
            pass


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an (H, W) grey or (H, W, 3) RGB uint8 image as an 8-bit PNG.

    Line drawings are mostly background, so unfiltered rows and zlib level 3 compress
    well and encode 3-4x faster than OpenCV's adaptive filtering. Deterministic bytes.
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    color_type = 0 if image.ndim == 2 else 2
    rows = np.zeros((h, 1 + w * (1 if image.ndim == 2 else 3)), dtype=np.uint8)  # filter byte 0 per row
    rows[:, 1:] = image.reshape(h, -1)
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 3))
        + _chunk(b"IEND", b"")
    )


def npy_bytes(image: np.ndarray) -> bytes:
    """The image as a .npy file (uint8, no pickled objects)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(image), allow_pickle=False)
    return buf.getvalue()


def _hex(c: tuple[int, int, int], grayscale: bool) -> str:
    if grayscale:
        g = gray(c)
        c = (g, g, g)
    return "#{:02x}{:02x}{:02x}".format(*c)


def _points(p: np.ndarray) -> str:
    return " ".join(f"{x:.3f},{y:.3f}" for x, y in p)


def svg_text(lines: "PixelLines", style: Style, grayscale: bool = False, title: str = "") -> str:
    """A standalone SVG of the lines in pixel units: hidden group under the visible one."""
    size = lines.size
    vw, hw, dash = style.scaled(size)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">',
    ]
    if title:
        out.append(f"<title>{_escape(title)}</title>")
    out.append(f'<rect width="{size}" height="{size}" fill="{_hex(style.background, grayscale)}"/>')
    common = 'fill="none" stroke-linecap="round" stroke-linejoin="round"'
    if hw is not None and len(lines.hidden):
        dash_attr = f' stroke-dasharray="{dash[0]:.3f} {dash[1]:.3f}"' if dash else ""
        out.append(
            f'<g id="hidden" {common} stroke="{_hex(style.hidden_color, grayscale)}" '
            f'stroke-width="{hw:.3f}"{dash_attr}>'
        )
        out.extend(f'<polyline points="{_points(p)}"/>' for p in lines.hidden.arrays())
        out.append("</g>")
    out.append(f'<g id="visible" {common} stroke="{_hex(style.visible_color, grayscale)}" stroke-width="{vw:.3f}">')
    out.extend(f'<polyline points="{_points(p)}"/>' for p in lines.visible.arrays())
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

