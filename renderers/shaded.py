"""Shaded orthographic renders of a mesh (pyrender offscreen under EGL), with optional depth
and normal maps, framed exactly like the line drawings.

Lighting is fixed in model space and the same for every view, so a face keeps its
brightness whichever view shows it: four directional lights from the corners of a
tetrahedron, (1,1,1), (1,-1,-1), (-1,1,-1), (-1,-1,1) (intensities 2.2, 1.4, 1.0, 0.7, so
every direction is lit and faces differ in shade), plus ambient 0.15. pyrender draws at
most four lights of a kind and picks which by set order when there are more, which made
renders vary run to run: four is the deterministic maximum. Materials: `grey` (matte),
`plastic` (glossy blue-grey), `metal`.

pyrender 0.1.45 bugs are worked around here: `PYOPENGL_PLATFORM=egl` is set before
OpenGL loads, numpy 2's missing `np.infty` is restored for it, and its orthographic depth
(linearised as if perspective) is converted back to true distances.

Mesa's software EGL (llvmpipe, where no GPU driver is) loads the system's libLLVM.
Importing triton afterwards (torchvision and torch.compile do), whose extension carries
its own LLVM, crashed the process with a segmentation fault in that LLVM's static
initialisers; with triton loaded first, both work (the dynamic linker shows no symbol of
one bound to the other, so the exact cause is unknown). Such extensions, when installed,
are therefore loaded before EGL.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .drawing import Frame, frame_from_bounds
from .errors import RenderError
from .mesh_io import Mesh
from .views import View

MATERIALS = {
    # base colour RGBA, metallic, roughness
    "grey": ((0.72, 0.72, 0.72, 1.0), 0.0, 0.9),
    "plastic": ((0.45, 0.55, 0.75, 1.0), 0.0, 0.35),
    "metal": ((0.8, 0.8, 0.82, 1.0), 0.9, 0.3),
}
MAPS = ("depth", "normal")
#: (direction the light comes from, intensity), in model space.
LIGHTS = (((1, 1, 1), 2.2), ((1, -1, -1), 1.4), ((-1, 1, -1), 1.0), ((-1, -1, 1), 0.7))
AMBIENT = 0.15


@dataclass(frozen=True)
class ShadedImage:
    """One shaded view: (H, W, 3) uint8 colour; optional (H, W) float32 depth (model
    units from the model's nearest point along the view direction, NaN on background)
    and (H, W, 3) float32 unit normals in view axes (x right, y up, z toward the viewer)."""

    view: View
    color: np.ndarray
    depth: np.ndarray | None = None
    normal: np.ndarray | None = None


#: Extensions carrying their own LLVM, loaded before Mesa's libLLVM (module docstring).
LLVM_EXTENSIONS = ("triton._C.libtriton",)


@lru_cache(maxsize=None)
def _load_llvm_extensions() -> None:
    for name in LLVM_EXTENSIONS:
        if importlib.util.find_spec(name.split(".")[0]) is None:
            continue
        try:
            importlib.import_module(name)
        except ImportError:  # an extension that cannot load cannot clash either
            pass


def _pyrender():
    _load_llvm_extensions()
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]  # pyrender 0.1.45 uses the numpy-1 alias
    import pyrender

    return pyrender


@lru_cache(maxsize=4)
def _renderer(size: int, pid: int):
    """One offscreen renderer per image size and process (EGL context creation is slow;
    keyed by pid so a forked worker never reuses its parent's context)."""
    try:
        return _pyrender().OffscreenRenderer(size, size)
    except Exception as e:  # noqa: BLE001 - EGL/driver failures come in many types
        raise RenderError("<renderer>", f"offscreen OpenGL (EGL) is not available ({e or 'no reason given'})") from None


def true_ortho_depth(raw: np.ndarray, znear: float, zfar: float) -> np.ndarray:
    """Undo pyrender's perspective linearisation of an orthographic depth buffer.

    pyrender returns 2nf / (f + n - zndc (f - n)); the orthographic distance is
    ((f - n) zndc + f + n) / 2. Background (raw 0) becomes NaN.
    """
    n, f = znear, zfar
    out = np.full(raw.shape, np.nan, dtype=np.float64)
    hit = raw > 0
    zndc = (f + n - 2.0 * n * f / raw[hit]) / (f - n)
    out[hit] = ((f - n) * zndc + f + n) / 2.0
    return out


def _camera_pose(view: View, fr: Frame, height: float) -> np.ndarray:
    x, y, n = (np.asarray(a) for a in (view.xdir, view.ydir, view.direction))
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, y, n
    pose[:3, 3] = fr.center[0] * x + fr.center[1] * y + height * n
    return pose


def render_shaded(
    mesh: Mesh,
    views: list[View],
    size: int = 200,
    framing: str = "shared",
    factor: float | None = None,
    material: str = "grey",
    maps: tuple[str, ...] = (),
) -> list[ShadedImage]:
    """Shaded images of `mesh` in each view, with the requested maps ("depth", "normal")."""
    if material not in MATERIALS:
        raise ValueError(f"unknown material {material!r} (use {', '.join(MATERIALS)})")
    bad = [m for m in maps if m not in MAPS]
    if bad:
        raise ValueError(f"unknown map {bad[0]!r} (use {', '.join(MAPS)})")
    pyrender = _pyrender()
    import trimesh

    # Centred: GL works in float32, and a part 1e6 units from the origin came out warped.
    v = mesh.vertices - (mesh.vertices.min(axis=0) + mesh.vertices.max(axis=0)) / 2.0
    f = mesh.faces
    box = np.stack([v.min(axis=0), v.max(axis=0)])
    size_l = float(np.max(box[1] - box[0]))
    # Every face twice, once per winding: pyrender culls back faces and lights one side
    # only, so an unoriented or open mesh showed holes; the copy facing the viewer is drawn.
    tm = trimesh.Trimesh(v, np.concatenate([f, f[:, ::-1]]), process=False)
    color, metallic, rough = MATERIALS[material]
    mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=color, metallicFactor=metallic, roughnessFactor=rough)
    scene = pyrender.Scene(bg_color=(1.0, 1.0, 1.0, 1.0), ambient_light=(AMBIENT,) * 3)
    scene.add(pyrender.Mesh.from_trimesh(tm, material=mat, smooth=False))
    for i, (source, intensity) in enumerate(LIGHTS):
        travel = -np.asarray(source, dtype=float) / np.sqrt(3.0)  # the light travels toward the model
        scene.add_node(_light_node(pyrender, i)(light=pyrender.DirectionalLight(intensity=intensity), matrix=_look_pose(travel)))
    normal_scene = pyrender.Scene(bg_color=(0.0, 0.0, 0.0, 0.0)) if "normal" in maps else None
    renderer = _renderer(size, os.getpid())
    out = []
    for view in views:
        n = np.asarray(view.direction)
        proj = view.project(v)
        fr = frame_from_bounds(np.stack([proj.min(axis=0), proj.max(axis=0)]), box, framing, factor)
        depth_along = v @ n
        near_plane = float(depth_along.max()) + 0.5 * size_l
        znear, zfar = 0.25 * size_l, float(near_plane - depth_along.min()) + 0.25 * size_l
        camera = pyrender.OrthographicCamera(xmag=fr.side / 2, ymag=fr.side / 2, znear=znear, zfar=zfar)
        pose = _camera_pose(view, fr, near_plane)
        cam_node = scene.add(camera, pose=pose)
        rgb, raw = renderer.render(scene)
        scene.remove_node(cam_node)
        depth = normal = None
        if "depth" in maps:
            depth = (true_ortho_depth(raw, znear, zfar) - (near_plane - float(depth_along.max()))).astype(np.float32)
        if normal_scene is not None:
            normal = _normals(pyrender, renderer, normal_scene, tm, view, camera, pose)
        out.append(ShadedImage(view, np.ascontiguousarray(rgb[..., :3]), depth, normal))
    return out


def _light_node(pyrender, index: int):
    """A light node class whose hash is `index`: pyrender keeps lights in a set and sums
    them in its iteration order, which follows object addresses, so images differed in the
    last bit between processes. Small-int hashes iterate in one order everywhere."""

    class LightNode(pyrender.Node):
        def __hash__(self) -> int:
            return index

    return LightNode


def _look_pose(direction: np.ndarray) -> np.ndarray:
    """A pose whose -Z axis points along `direction` (pyrender lights shine along -Z)."""
    z = -direction / np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, np.cross(z, x), z
    return pose


def _normals(pyrender, renderer, scene, tm, view: View, camera, pose) -> np.ndarray:
    """Unit normals in view axes from a flat, unlit pass with normals encoded as colours;
    NaN where no face is, or where an outline pixel mixes face and background.

    Faces pointing away from the viewer (unoriented meshes) are flipped toward it."""
    axes = np.stack([view.xdir, view.ydir, view.direction])
    nv = np.asarray(tm.face_normals) @ axes.T
    nv[nv[:, 2] < 0] *= -1
    colors = np.clip(np.rint((nv + 1.0) * 127.5), 0, 255).astype(np.uint8)
    coloured = tm.copy()
    coloured.visual.face_colors = np.column_stack([colors, np.full(len(colors), 255, np.uint8)])
    node = scene.add(pyrender.Mesh.from_trimesh(coloured, smooth=False))
    cam = scene.add(camera, pose=pose)
    rgb, raw = renderer.render(scene, flags=pyrender.RenderFlags.FLAT)
    scene.remove_node(cam)
    scene.remove_node(node)
    n = rgb[..., :3].astype(np.float32) / 127.5 - 1.0
    norm = np.linalg.norm(n, axis=2, keepdims=True)
    n = np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)
    # Multisampling blends outline pixels with the black background: a decoded length
    # off 1 by more than 8-bit rounding (under 0.01) marks a mixed, meaningless normal.
    n[(raw <= 0) | (np.abs(norm[..., 0] - 1.0) > 0.05)] = np.nan
    return n
