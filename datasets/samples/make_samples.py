"""Regenerate the sample STEP models of `make demo` (run from the repository root).

Three small machined parts built from OCCT primitives and booleans, in millimetres, as
STEP files, and a ring as a binary STL for the mesh renderer.
"""

from pathlib import Path

from renderers import occ

HERE = Path(__file__).parent


def bracket():
    """An L bracket with a through hole in each leg."""
    body = occ.fuse(occ.box(60, 30, 8), occ.box(8, 30, 40))
    body = occ.cut(body, occ.cylinder(5, 8, origin=(38, 15, 0)))
    return occ.cut(body, occ.cylinder(5, 8, origin=(0, 15, 26), axis=(1, 0, 0)))


def slotted_block():
    """A block with a T slot along x and a cylindrical boss on top."""
    body = occ.box(50, 40, 20)
    body = occ.cut(body, occ.box(50, 10, 8, origin=(0, 15, 12)))
    body = occ.cut(body, occ.box(50, 20, 5, origin=(0, 10, 7)))
    return occ.fuse(body, occ.cylinder(8, 12, origin=(12, 8, 20)))


def csg_part():
    """A SPARE3D-CSG-like part: a box, a partial cylinder and a cone, one cut."""
    parts = [
        occ.box(30, 20, 15),
        occ.cylinder(10, 25, origin=(30, 10, 0), angle_deg=270),
        occ.cone(8, 4, 12, origin=(10, 10, 15)),
    ]
    body = occ.fuse(occ.fuse(parts[0], parts[1]), parts[2])
    return occ.cut(body, occ.sphere(7, center=(0, 0, 15)))


def write_stl(shape, path: Path, deflection: float = 0.05) -> None:
    """A binary STL of a tessellated shape (the mesh path's sample)."""
    import trimesh

    vertices, faces = occ.triangulate(shape, deflection)
    trimesh.Trimesh(vertices, faces).export(path)


if __name__ == "__main__":
    for name, make in [("bracket", bracket), ("slotted_block", slotted_block), ("csg_part", csg_part)]:
        occ.write_step(make(), HERE / f"{name}.step")
    write_stl(occ.cut(occ.cylinder(20, 12), occ.cylinder(8, 12)), HERE / "ring.stl")
