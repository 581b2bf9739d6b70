"""One model -> a folder of drawings: `<out>/<view>.<ext>` plus a `render.json` manifest.

The manifest is written last, so a folder with a manifest matching the options holds a
complete render and a re-run can skip it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .hlr_options import HLROptions, tolerance_for
from .drawing import DEFAULT_FACTOR, Drawing, Timings, frame
from .raster import PixelLines, rasterize, to_pixel_lines
from .styles import MODES, Style, check_line_width, get_style
from .views import View
from .writers import FORMATS, atomic_write, npy_bytes, png_bytes, svg_text

MANIFEST = "render.json"
MIN_SIZE, MAX_SIZE = 16, 8192


@dataclass(frozen=True)
class RenderOptions:
    """Everything that decides the output files of a render."""

    views: tuple[View, ...]
    formats: tuple[str, ...] = ("png",)
    size: int = 200
    style: str = "spare3d"
    grayscale: bool = False
    framing: str = "shared"
    frame_factor: float | None = None
    hlr: HLROptions = field(default_factory=HLROptions)
    up: str = "z"
    mode: str = "lines"
    material: str = "grey"
    maps: tuple[str, ...] = ()
    line_width: float = 1.0  # times the style's widths and dashes

    def __post_init__(self) -> None:
        from .shaded import MAPS, MATERIALS

        if self.up not in ("y", "z"):
            raise ValueError(f"up axis must be y or z, got {self.up!r}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (use {' or '.join(MODES)})")
        if self.mode == "shaded" and "svg" in self.formats:
            raise ValueError("svg is for line drawings; shaded mode writes png and npy")
        if self.material not in MATERIALS:
            raise ValueError(f"unknown material {self.material!r} (use {', '.join(MATERIALS)})")
        bad_maps = [m for m in self.maps if m not in MAPS]
        if bad_maps or (self.maps and self.mode != "shaded"):
            raise ValueError(f"maps ({', '.join(MAPS)}) come with --mode shaded, got {', '.join(self.maps)}")
        if not self.views:
            raise ValueError("no views given")
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise ValueError(f"unknown format {', '.join(bad) or '(none)'} (use {', '.join(FORMATS)})")
        if not isinstance(self.size, int) or not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"size must be an integer from {MIN_SIZE} to {MAX_SIZE}, got {self.size!r}")
        if self.hlr.tolerance is None:  # frozen: set once, here, from the size
            object.__setattr__(self, "hlr", replace(self.hlr, tolerance=tolerance_for(self.size)))
        get_style(self.style)
        check_line_width(self.line_width)
        if self.framing not in DEFAULT_FACTOR:
            raise ValueError(f"unknown framing {self.framing!r} (use {', '.join(DEFAULT_FACTOR)})")
        if self.frame_factor is not None and not (0.1 <= self.frame_factor <= 100):
            raise ValueError(f"frame factor must be from 0.1 to 100 (window side / model size), got {self.frame_factor!r}")
        twice = sorted({f for f in self.formats if self.formats.count(f) > 1})
        if twice:
            raise ValueError(f"format {twice[0]} is given twice")
        names = self.files()
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:  # e.g. a view named f_depth beside f's depth map, or a view given twice
            raise ValueError(f"two outputs would share the file {clash[0]}: rename a view")

    def fingerprint(self) -> str:
        """Hash of the options that change the files (not the HLR budget)."""
        return hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:16]

    def settings(self) -> dict:
        """The options that change the files, as plain JSON values (render.json records
        them beside their hash)."""
        d = asdict(self)
        if self.line_width == 1.0:  # the style's own widths: the hash renders made before the option had
            del d["line_width"]
        d["views"] = [[v.name, list(v.direction), list(v.xdir)] for v in self.views]
        d["hlr"] = {
            "mode": self.hlr.mode,
            "smooth": self.hlr.smooth,
            "tolerance": self.hlr.tolerance,
            "mesh": asdict(self.hlr.mesh),
            "force_poly": list(self.hlr.force_poly),
        }
        return json.loads(json.dumps(d))  # tuples as lists: what reading render.json gives back

    def line_style(self) -> Style:
        """The style the lines are drawn in: the named style, widened by `line_width`."""
        return get_style(self.style).widened(float(self.line_width))

    def files(self) -> list[str]:
        """Output file names: one per view and format, plus depth/normal maps (.npy float32,
        and .png previews when png is asked for)."""
        names = [f"{v.name}.{ext}" for v in self.views for ext in self.formats]
        for m in self.maps:
            names += [f"{v.name}_{m}.npy" for v in self.views]
            if "png" in self.formats:
                names += [f"{v.name}_{m}.png" for v in self.views]
        return names


@dataclass
class ModelReport:
    """What happened to one model."""

    name: str
    source: str
    ok: bool = True
    skipped: bool = False
    error: str = ""
    algorithms: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    blank_views: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


def pixel_lines(drawing: Drawing, options: RenderOptions) -> PixelLines:
    """Frame a drawing as the options say and map it to pixels."""
    return to_pixel_lines(drawing, frame(drawing, options.framing, options.frame_factor), options.size)


def image(drawing: Drawing, options: RenderOptions) -> np.ndarray:
    """The uint8 image of one drawing: (H, W, 3) RGB, or (H, W) when grayscale."""
    return rasterize(pixel_lines(drawing, options), options.line_style(), options.grayscale)


def source_stamp(source: str | os.PathLike) -> list[int] | None:
    """[size, mtime_ns] of a source file, as make and rsync judge a file unchanged; None
    when it cannot be examined."""
    try:
        st = os.stat(source)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def is_complete(out_dir: Path, options: RenderOptions, source: str | None = None) -> bool:
    """True when `out_dir` holds a finished render made with these options (and, if given,
    from this `source` file as it is now: another file with the same stem, or the file
    edited since, must not pass for it), every file at the size it was written (an
    emptied or cut file is drawn again)."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if source is not None and (manifest.get("source") != source or manifest.get("stamp") != source_stamp(source)):
        return False
    sizes = manifest.get("files")
    if manifest.get("options") != options.fingerprint() or not isinstance(sizes, dict):
        return False
    return all(_size(out_dir / f) == sizes.get(f) for f in options.files())


def _size(p: Path) -> int | None:
    try:
        return p.stat().st_size
    except OSError:
        return None


def remove_outputs(out_dir: Path) -> None:
    """Delete what an earlier render wrote in `out_dir` (the files its manifest lists), then
    the manifest: drawings made with other options, or of a file that now fails, must not
    stay beside the new ones for a loader's glob to find. Files first, so that a crash
    between the two leaves the list behind for the next run."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = {}
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict):  # a manifest from before file lists: its views, in every format
        views = manifest.get("views", ()) if isinstance(manifest, dict) else ()
        listed = {f"{v}{m}.{e}": 0 for v in views if isinstance(v, str) for m in ("", "_depth", "_normal") for e in FORMATS}
    for name in listed:
        target = out_dir / name
        if Path(name).name == name and target.is_file():  # a plain name, never a path out of the folder
            target.unlink()
    (out_dir / MANIFEST).unlink(missing_ok=True)


def write_drawings(drawings: list[Drawing], out_dir: Path, options: RenderOptions, timings: dict[str, float]) -> None:
    """Write every drawing in every format; adds 'rasterise' and 'write' (encode + save) seconds."""
    style = options.line_style()
    out_dir.mkdir(parents=True, exist_ok=True)
    for d in drawings:
        t0 = time.perf_counter()
        lines = pixel_lines(d, options)
        img = rasterize(lines, style, options.grayscale) if {"png", "npy"} & set(options.formats) else None
        t1 = time.perf_counter()
        for ext in options.formats:
            if ext == "png":
                data = png_bytes(img)
            elif ext == "npy":
                data = npy_bytes(img)
            else:
                data = svg_text(lines, style, options.grayscale, f"{d.view.name} ({d.algorithm} HLR)").encode()
            atomic_write(out_dir / f"{d.view.name}.{ext}", data)
        t2 = time.perf_counter()
        timings["rasterise"] = timings.get("rasterise", 0.0) + t1 - t0
        timings["write"] = timings.get("write", 0.0) + t2 - t1


def render_model(source, out_dir: str | os.PathLike, options: RenderOptions, name: str | None = None) -> ModelReport:
    """Draw a CAD or mesh file (path) or an OCCT shape into `out_dir`; errors propagate as
    RenderError."""
    out = Path(out_dir)
    is_path = isinstance(source, (str, os.PathLike))
    report = ModelReport(name or (Path(source).stem if is_path else out.name), str(source) if is_path else "<shape>")
    remove_outputs(out)  # the folder is incomplete until the end
    # What every manifest holds: the options' hash (what a re-run compares) and the options.
    head = {"source": report.source, "options": options.fingerprint(), "settings": options.settings()}
    if is_path:
        head["stamp"] = source_stamp(source)  # before reading: an edit made meanwhile shows
    t = Timings()
    views = list(options.views)
    if options.mode == "shaded":
        return _render_shaded(source, out, options, report, t, head)
    from .cad import draw_file, draw_shape  # OpenCascade, loaded when a model is drawn

    if is_path:
        drawings = draw_file(source, views, options.hlr, t, options.up)
    else:
        drawings = draw_shape(source, views, options.hlr, timings=t)
    seconds = asdict(t)  # every stage of Timings; writing adds rasterise and write
    write_drawings(drawings, out, options, seconds)
    report.algorithms = {d.view.name: d.algorithm for d in drawings}
    report.notes = sorted({n for d in drawings for n in d.notes})
    report.seconds = seconds
    report.blank_views = [d.view.name for d in drawings if d.is_blank()]
    manifest = {
        **head,
        "views": {d.view.name: {"algorithm": d.algorithm, "notes": list(d.notes)} for d in drawings},
        "blank_views": report.blank_views,
    }
    _write_manifest(out, manifest, options)
    return report


def _write_manifest(out: Path, manifest: dict, options: RenderOptions) -> None:
    """Written last: its presence, with matching options and file sizes, marks the folder
    complete; its file list is what the next render of the folder removes."""
    manifest = {**manifest, "files": {f: (out / f).stat().st_size for f in options.files()}}
    atomic_write(out / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def _render_shaded(
    source, out: Path, options: RenderOptions, report: ModelReport, t: Timings, head: dict
) -> ModelReport:
    from .cad import load_mesh
    from .shaded import render_shaded

    mesh = load_mesh(source, options.up, options.hlr.tolerance, t)
    t0 = time.perf_counter()
    images = render_shaded(
        mesh, list(options.views), options.size, options.framing, options.frame_factor, options.material, options.maps
    )
    seconds = {"check": t.check, "read": t.read, "mesh": t.mesh, "shade": time.perf_counter() - t0}
    t1 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    for im in images:
        color = im.color if not options.grayscale else _luma(im.color)
        blobs = {"png": png_bytes, "npy": npy_bytes}
        for ext in options.formats:
            atomic_write(out / f"{im.view.name}.{ext}", blobs[ext](color))
        for m, arr in (("depth", im.depth), ("normal", im.normal)):
            if arr is None:
                continue
            atomic_write(out / f"{im.view.name}_{m}.npy", npy_bytes(arr))
            if "png" in options.formats:
                atomic_write(out / f"{im.view.name}_{m}.png", png_bytes(map_preview(arr)))
    seconds["write"] = time.perf_counter() - t1
    report.algorithms = {im.view.name: "shaded" for im in images}
    report.seconds = seconds
    _write_manifest(out, {**head, "views": sorted(report.algorithms)}, options)
    return report


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)), 0, 255).astype(np.uint8)


def map_preview(arr: np.ndarray) -> np.ndarray:
    """A uint8 picture of a depth map (near dark, far light, background white) or of a
    normal map ((n + 1) / 2 as RGB, background white)."""
    if arr.ndim == 2:
        valid = np.isfinite(arr)
        out = np.full(arr.shape, 255, dtype=np.uint8)
        if valid.any():
            lo, hi = float(arr[valid].min()), float(arr[valid].max())
            scale = 200.0 / (hi - lo) if hi > lo else 0.0
            out[valid] = np.clip(np.rint((arr[valid] - lo) * scale), 0, 200).astype(np.uint8)
        return out
    valid = np.isfinite(arr).all(axis=2)
    out = np.full(arr.shape, 255, dtype=np.uint8)
    out[valid] = np.clip(np.rint((arr[valid] + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return out
