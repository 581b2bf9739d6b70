"""SPARE3D-CSG as meshes (manifold3d): the same seeded primitives as the OpenCascade
engine, at known volumes and bounding boxes, without OpenCascade."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("manifold3d")

from spare3d_bench.csg_mesh import bounds, mesh_csg_model, mesh_primitive, segments, triangles  # noqa: E402
from spare3d_bench.csg_spec import CSGRecipe, PrimitiveSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SPECS = [
    PrimitiveSpec("box", (5.0, 7.0, 9.0), 0, 90.0, (1.0, 2.0, 3.0)),
    PrimitiveSpec("cylinder", (10.0, 20.0, 90.0), 1, 270.0, (0.0, 5.0, 0.0)),
    PrimitiveSpec("cylinder", (10.0, 20.0, 360.0), 0, 90.0, (0.0, 0.0, 0.0)),
    PrimitiveSpec("cone", (5.0, 12.0, 30.0, 200.0), 2, 90.0, (3.0, 0.0, 1.0)),
    PrimitiveSpec("sphere", (8.0,), 0, 180.0, (2.0, 2.0, 2.0)),
]


def test_a_quarter_cylinder_has_the_volume_and_box_of_a_quarter_cylinder():
    solid = mesh_primitive(PrimitiveSpec("cylinder", (10.0, 20.0, 90.0), 2, 0.0, (0.0, 0.0, 0.0)))
    assert solid.volume() == pytest.approx(math.pi * 100 * 20 / 4, rel=1e-3)
    assert np.allclose(np.reshape(solid.bounding_box(), (2, 3)), [[0, 0, 0], [10, 10, 20]], atol=1e-9)


def test_a_box_minus_a_sphere_inside_it_loses_the_spheres_volume():
    box = mesh_primitive(PrimitiveSpec("box", (30.0, 30.0, 30.0), 0, 0.0, (0.0, 0.0, 0.0)))
    ball = mesh_primitive(PrimitiveSpec("sphere", (10.0,), 0, 0.0, (15.0, 15.0, 15.0)))
    hollow = box - ball
    assert hollow.volume() == pytest.approx(27000 - 4 / 3 * math.pi * 1000, rel=1e-3)
    assert hollow.genus() == -1  # two shells: the outside and the cavity


def test_segments_keep_every_chord_within_the_tolerance():
    for r in (1.0, 5.0, 25.0, 50.0):
        n = segments(r, 0.01)
        assert r * (1 - math.cos(math.pi / n)) <= 0.01 and n % 4 == 0
        assert r * (1 - math.cos(math.pi / (n - 4))) > 0.01 or n == 8  # and no more than needed


def test_the_same_seed_gives_the_same_triangles():
    a = triangles(mesh_csg_model(5, 2, CSGRecipe(primitives=6)))
    b = triangles(mesh_csg_model(5, 2, CSGRecipe(primitives=6)))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and len(a[1]) > 100
    fused = mesh_csg_model(5, 2, CSGRecipe(primitives=6, variant="fused"))
    assert len(fused) == 1 and np.allclose(bounds(fused), bounds(mesh_csg_model(5, 2, CSGRecipe(primitives=6))))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.kind}-{s.size[-1]:g}")
def test_each_primitive_is_posed_as_the_occt_engine_poses_it(spec):
    pytest.importorskip("OCP")
    from renderers import occ
    from spare3d_bench.csg import occ_primitive

    exact = occ.tight_box(occ_primitive(spec))
    assert np.allclose(np.reshape(mesh_primitive(spec).bounding_box(), (2, 3)), exact, atol=1e-6)


@pytest.mark.parametrize("index", range(4))
def test_a_seeded_model_has_the_occt_models_bounding_box(index):
    pytest.importorskip("OCP")
    from renderers import occ
    from spare3d_bench.csg import csg_model

    recipe = CSGRecipe(primitives=8)
    exact = occ.tight_box(csg_model(3, index, recipe))
    assert np.allclose(bounds(mesh_csg_model(3, index, recipe)), exact, atol=0.01)  # the chordal tolerance


def test_the_mesh_engine_builds_models_with_opencascade_blocked():
    code = ("import sys; sys.modules['OCP'] = None\n"
            "from spare3d_bench.csg_mesh import mesh_csg_model, triangles\n"
            "v, f = triangles(mesh_csg_model(1, 0))\n"
            "assert 'OCP' not in sys.modules or sys.modules['OCP'] is None\n"
            "print(len(f))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-800:]
    assert int(r.stdout) > 1000  # 28 primitives
