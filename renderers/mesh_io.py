"""Reading meshes (STL, OBJ, PLY, OFF incl. binary OFF, GLB/GLTF) into plain arrays.

trimesh reads the formats and flattens scenes with their transforms; binary OFF, which
trimesh cannot read, has its own small reader. Every failure is a RenderError naming the
file and the reason.
"""

from __future__ import annotations

import json
import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import RenderError, plural
from .files import checked_size, native_name

#: Mesh file extensions, lower case.
MESH_EXTENSIONS = (".stl", ".obj", ".ply", ".off", ".glb", ".gltf")

#: Faces above this count are refused. Drawing needs about 0.7-0.9 KB per face (measured
#: peaks: 1M faces 0.9 GB, 10M faces 7.0 GB), so the limit stays well inside 24 GB.
MAX_FACES = 10_000_000


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh: (n, 3) float64 vertices and (m, 3) int64 faces.

    `patches`, optional, labels each face with the smooth surface it tessellates (a B-rep
    face: a cylinder's side, a plane): the line renderer then draws an edge between two
    patches as sharp, however flat, and never one inside a patch, instead of judging
    edges by a crease angle. Only a closed mesh may have them."""

    vertices: np.ndarray
    faces: np.ndarray
    patches: np.ndarray | None = None


def y_up_to_z_up(vertices: np.ndarray) -> np.ndarray:
    """Rotate a Y-up model (OBJ, glTF) so its up is +Z: (x, y, z) -> (x, -z, y)."""
    v = np.asarray(vertices, dtype=np.float64)
    return np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1)


def read_mesh(path: str | os.PathLike, up: str = "z") -> Mesh:
    """Read a mesh file, checked: finite vertices, valid indices, at least one real face."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in MESH_EXTENSIONS:
        raise RenderError(p, f"unknown mesh extension {p.suffix!r} (use {' '.join(MESH_EXTENSIONS)})")
    if up not in ("y", "z"):
        raise RenderError(p, f"up axis must be y or z, got {up!r}")
    size = checked_size(p)
    with open(p, "rb") as fh:
        head = fh.read(1024)
    if ext == ".glb" and not head.startswith(b"glTF"):
        raise RenderError(p, "not a GLB file (missing the glTF magic bytes)")
    if ext == ".gltf":
        _check_gltf_json(p)
    if ext == ".stl":
        _check_binary_stl(p, head, size)
    promised = _header_counts(p, ext, head)
    if promised:
        _check_face_count(promised[1], p)
    if ext == ".obj":
        _check_obj_end(p, size)
        if size > 8 * MAX_FACES:  # "f 1 2 3\n": a face line takes 8 bytes or more
            _check_face_count(_obj_face_lines(p), p)
    if ext == ".off" and head.startswith(b"OFF BINARY"):
        vertices, faces = _read_binary_off(p)
    else:
        vertices, faces = _read_trimesh(p, promised)
    if promised and (len(vertices) < promised[0] or len(faces) < promised[1] or _short_of_lines(p, ext, promised)):
        raise RenderError(p, f"truncated: its header promises {promised[0]:,} vertices and {promised[1]:,} faces, "
                             "which the file does not hold")
    mesh = check_mesh(vertices, faces, p)
    if up == "y":
        mesh = Mesh(y_up_to_z_up(mesh.vertices), mesh.faces)
    return mesh


def _check_binary_stl(p: Path, head: bytes, size: int) -> None:
    """A binary STL's size follows from its triangle count (84 + 50 n bytes): check it, and
    the face limit, before trimesh reads the file (it reported a truncated file as an
    empty mesh, and would load an oversized one whole before the limit applied). Text STL
    starts with "solid" and is left to trimesh. `head`: the file's first 1024 bytes."""
    if head.lstrip().startswith(b"solid") and (b"facet" in head or b"endsolid" in head):
        return
    if size < 84:
        raise RenderError(p, f"not an STL file ({size} bytes: shorter than a binary STL header)")
    (count,) = struct.unpack_from("<I", head, 80)
    if size < 84 + 50 * count:  # longer is left to trimesh: some writers pad
        raise RenderError(p, f"binary STL header promises {count:,} triangles ({84 + 50 * count:,} bytes) but the "
                             f"file has {size:,} bytes: truncated, or not an STL")
    _check_face_count(count, p)


def _header_counts(p: Path, ext: str, head: bytes) -> tuple[int, int] | None:
    """(vertices, faces) that a PLY or text OFF header promises; None for other formats
    and for headers this cannot read (the reader then has its say).

    Checked before reading, so that an oversized file is refused without loading it, and
    after, so that a truncated one is not drawn in part: trimesh drew a text OFF cut short
    from what remained, and called a cut PLY "empty".
    """
    if ext == ".ply":
        if b"end_header" not in head:
            with open(p, "rb") as fh:
                head = fh.read(65536)
        text = head.split(b"end_header", 1)[0].decode("latin-1")
        found = dict(re.findall(r"^\s*element\s+(vertex|face)\s+(\d+)\s*$", text, flags=re.M))
        return (int(found["vertex"]), int(found["face"])) if len(found) == 2 else None
    if ext == ".off" and not head.startswith(b"OFF BINARY"):
        words = re.sub(rb"#[^\n]*", b"", head).split()
        if len(words) >= 3 and words[0].endswith(b"OFF") and words[1].isdigit() and words[2].isdigit():
            return int(words[1]), int(words[2])
    return None


def _short_of_lines(p: Path, ext: str, promised: tuple[int, int]) -> bool:
    """Does a text OFF or ASCII PLY file hold fewer lines than its header's vertices and
    faces? Both put one per line, and a file cut at a line end loads from what remains:
    fewer polygons can still triangulate to as many triangles as promised polygons."""
    data = p.read_bytes()
    if ext == ".ply":
        header, _, body = data.partition(b"end_header")
        if not re.search(rb"^\s*format\s+ascii", header, flags=re.M):
            return False  # binary PLY: trimesh checks its length itself
        need = sum(promised)
    else:
        body = re.sub(rb"#[^\n]*", b"", data).split(b"OFF", 1)[-1]
        need = 1 + sum(promised)  # the counts line first
    return len(re.findall(rb"\S[^\n]*", body)) < need


#: OBJ statements that carry data: a file ending inside one of them was cut.
_OBJ_DATA = (b"v", b"vt", b"vn", b"vp", b"f", b"l", b"p")


def _check_obj_end(p: Path, size: int) -> None:
    """An OBJ file whose last data line has no line end was cut (a copy or download that
    stopped): trimesh read the rest and drew a speckled fragment. Every exporter ends its
    lines; a hand-written file that does not can be fixed by adding the newline."""
    with open(p, "rb") as fh:
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")):
        return
    last = tail.rsplit(b"\n", 1)[-1].strip()
    words = last.split()
    if words and words[0] in _OBJ_DATA:
        shown = last[:60].decode("latin-1") + ("..." if len(last) > 60 else "")
        raise RenderError(p, f"truncated: its last line ({shown!r}) ends without a line end, as a file cut short "
                             "does; if the file is whole, end it with a newline")


def _obj_missing_vertex(p: Path) -> str | None:
    """The first face line of an OBJ file that refers to a vertex the file does not hold
    (a file cut before its vertices, or malformed), as a reason; None if there is none.
    Read only once trimesh has failed: a scan in Python."""
    with open(p, "rb") as fh:
        total = sum(1 for line in fh if line.split()[:1] == [b"v"])
    seen = 0  # a negative index counts back from the vertices read so far
    with open(p, "rb") as fh:
        for number, line in enumerate(fh, 1):
            words = line.split()
            if not words:
                continue
            if words[0] == b"v":
                seen += 1
            elif words[0] == b"f":
                for ref in words[1:]:
                    try:
                        k = int(ref.split(b"/")[0])
                    except ValueError:
                        return f"line {number} holds a malformed face ({line.strip()[:60].decode('latin-1')!r})"
                    if k == 0 or k > total or -k > seen:
                        return (f"line {number}'s face refers to vertex {k}, and the file holds {plural(total, 'vertex', 'vertices')}: "
                                "truncated or malformed")
    return None


def _obj_face_lines(p: Path, chunk: int = 1 << 24) -> int:
    """Lines of an OBJ file that start with "f " or "f\t" (each is one face or more), counted
    in chunks: a lower bound on its faces, found without loading it."""
    n, tail = 0, b"\n"
    with open(p, "rb") as fh:
        while block := fh.read(chunk):
            data = tail + block
            n += data.count(b"\nf ") + data.count(b"\nf\t")
            tail = data[-2:]  # a match across the boundary is counted once, in the next chunk
    return n


def _check_face_count(n: int, source: object) -> None:
    if n > MAX_FACES:
        raise RenderError(source, f"mesh has {n:,} faces, above the limit of {MAX_FACES:,}")


def _check_gltf_json(p: Path) -> None:
    """A .gltf must be a JSON object with an `asset` (trimesh's own error for garbage names
    a file that does not exist)."""
    try:
        doc = json.loads(p.read_bytes())
    except (ValueError, UnicodeDecodeError) as e:
        raise RenderError(p, f"not a glTF file (invalid JSON: {e})") from None
    if not isinstance(doc, dict) or "asset" not in doc:
        raise RenderError(p, "not a glTF file (no 'asset' in its JSON)")


def _read_trimesh(p: Path, promised: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """trimesh's reading; `promised`, the header's counts, makes its error say so (trimesh's
    own for a cut text OFF is about numpy array shapes)."""
    import trimesh

    try:
        # trimesh does arithmetic on what it reads (normals): non-finite vertices, which
        # check_mesh then refuses in one line, must not print numpy warnings first.
        with native_name(p) as name, np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            loaded = trimesh.load(name, force="mesh", process=False)
    except Exception as e:  # noqa: BLE001 - trimesh raises many types for bad files
        if promised:
            raise RenderError(p, f"truncated or malformed: its header promises {promised[0]:,} vertices and "
                                 f"{promised[1]:,} faces, which the file does not hold") from None
        if p.suffix.lower() == ".obj" and (reason := _obj_missing_vertex(p)):
            raise RenderError(p, reason) from None
        raise RenderError(p, f"mesh could not be read ({e or 'malformed'})") from None
    if not isinstance(loaded, trimesh.Trimesh):
        raise RenderError(p, "the file holds no triangle mesh")
    return np.asarray(loaded.vertices, dtype=np.float64), np.asarray(loaded.faces, dtype=np.int64)


def _read_binary_off(p: Path) -> tuple[np.ndarray, np.ndarray]:
    """Binary OFF: header, 3 int32 counts, float32 vertices, faces as (n, i0..in-1[, ncolor]).

    The byte order is guessed from the counts (Geomview says big-endian; many writers use
    little-endian).
    """
    data = p.read_bytes()
    start = data.index(b"\n") + 1 if b"\n" in data[:32] else 0
    for order in ("<", ">"):
        if len(data) < start + 12:
            break
        nv, nf, _ = struct.unpack_from(order + "3i", data, start)
        if 0 < nv and 0 <= nf and start + 12 + nv * 12 <= len(data):
            break
    else:
        raise RenderError(p, "binary OFF header is not valid")
    if len(data) < start + 12 or not (0 < nv and 0 <= nf):
        raise RenderError(p, "binary OFF header is not valid")
    offset = start + 12
    vertices = np.frombuffer(data, dtype=order + "f4", count=nv * 3, offset=offset).reshape(nv, 3).astype(np.float64)
    ints = np.frombuffer(data, dtype=order + "i4", offset=offset + nv * 12, count=(len(data) - offset - nv * 12) // 4)
    for with_colors in (False, True):
        faces = _off_faces(ints, nf, with_colors)
        if faces is not None:
            return vertices, faces
    raise RenderError(p, "binary OFF faces are not valid or the file is truncated")


def _off_faces(ints: np.ndarray, nf: int, with_colors: bool) -> np.ndarray | None:
    """Triangulated faces (fans) if the face block parses exactly, else None."""
    faces: list[np.ndarray] = []
    i = 0
    for _ in range(nf):
        if i >= len(ints):
            return None
        n = int(ints[i])
        if n < 3 or i + 1 + n > len(ints):
            return None
        poly = ints[i + 1 : i + 1 + n]
        faces.append(np.stack([np.full(n - 2, poly[0]), poly[1:-1], poly[2:]], axis=1))
        i += 1 + n
        if with_colors:
            if i >= len(ints):
                return None
            i += 1 + int(ints[i])
    if i != len(ints):
        return None
    return np.concatenate(faces).astype(np.int64) if faces else np.zeros((0, 3), dtype=np.int64)


def check_mesh(vertices: np.ndarray, faces: np.ndarray, source: object = "<mesh>") -> Mesh:
    """Validate and clean: finite vertices, valid indices, degenerate faces and the
    vertices no face uses dropped.

    Raises RenderError for an empty mesh, NaN/infinite coordinates, out-of-range indices,
    no face with area, or more than MAX_FACES faces.
    """
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(v) == 0 or len(f) == 0:
        raise RenderError(source, "mesh is empty (no vertices or no faces)")
    _check_face_count(len(f), source)
    if not np.all(np.isfinite(v)):
        bad = int((~np.isfinite(v)).any(axis=1).sum())
        raise RenderError(source, f"{plural(bad, 'vertex', 'vertices')} {'is' if bad == 1 else 'are'} NaN or infinite")
    if f.min() < 0 or f.max() >= len(v):
        raise RenderError(source, "face indices point outside the vertex list")
    tri = v[f]
    area2 = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    extent = float(np.max(np.ptp(tri.reshape(-1, 3), axis=0)))
    if extent <= 0:
        raise RenderError(source, "zero-size geometry (all vertices coincide)")
    keep = area2 > (1e-12 * extent) ** 2
    if not keep.any():
        raise RenderError(source, "every face has zero area")
    # Only vertices of the faces kept: a stray unused one (or one of a dropped sliver)
    # would otherwise set the framing and shrink the drawing to a dot.
    f = f[keep]
    used = np.zeros(len(v), dtype=bool)
    used[f] = True
    if used.all():
        return Mesh(v, f)
    return Mesh(v[used], (np.cumsum(used) - 1)[f])
