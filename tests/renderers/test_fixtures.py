"""Every real CAD and mesh file in ../shared/fixtures renders its 11 SPARE3D views."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from renderers import batch
from renderers.mesh_io import MESH_EXTENSIONS
from renderers.occ import CAD_EXTENSIONS as occ_ext
from renderers.render import MANIFEST, RenderOptions
from renderers.views import parse_views
from tests.conftest import FIXTURES


def _render_all(out, kind: str):
    if not FIXTURES.is_dir():
        pytest.skip(f"fixtures not found under {FIXTURES}")
    files, _ = batch.expand_inputs([str(FIXTURES / kind), str(FIXTURES / "pairs")])
    ext = MESH_EXTENSIONS if kind == "mesh" else tuple(occ_ext)
    files = [f for f in files if f.suffix.lower() in ext]
    assert len(files) >= 14
    opts = RenderOptions(tuple(parse_views("spare3d11")), formats=("png", "svg"))
    reports = batch.run_batch(batch.name_tasks(files), out, opts, workers=2, timeout=120, progress=False)
    return out, reports, opts


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return _render_all(tmp_path_factory.mktemp("cad"), "cad")


@pytest.fixture(scope="module")
def rendered_meshes(tmp_path_factory):
    return _render_all(tmp_path_factory.mktemp("mesh"), "mesh")


def test_all_cad_fixtures_render_every_view_non_blank(rendered):
    _check_all_views(*rendered, min_span=40)


def test_all_mesh_fixtures_render_every_view_non_blank(rendered_meshes):
    _, reports, _ = rendered_meshes
    assert {r.name for r in reports} >= {"busted", "fairing-cross", "hole_capsule", "multibody", "featuretype"}
    _check_all_views(*rendered_meshes, min_span=20)  # the thin cylinder seen end-on spans 29 px


def _check_all_views(out, reports, opts, min_span):
    failed = [(r.source, r.error) for r in reports if not r.ok]
    assert not failed
    for r in reports:
        manifest = json.loads((out / r.name / MANIFEST).read_text())
        assert manifest["blank_views"] == [], r.name
        for v in opts.views:
            img = cv2.imread(str(out / r.name / f"{v.name}.png"))
            ink = (img < 128).any(axis=2)
            assert ink.sum() > 30, f"{r.name} view {v.name} is blank"
            ys, xs = np.nonzero(ink)
            assert max(np.ptp(xs), np.ptp(ys)) > min_span, f"{r.name} view {v.name} is a dot"
            root = ET.parse(out / r.name / f"{v.name}.svg").getroot()
            assert root.tag.endswith("svg")


def test_auto_records_its_choice(rendered):
    out, reports, _ = rendered
    algos = {r.name: set(r.algorithms.values()) for r in reports}
    assert algos["tet"] == {"exact"} and algos["box_sides"] == {"exact"}
    assert algos["M6-1x12-countersunk-screw"] == {"poly"}  # exact HLR takes minutes per view here


def test_stray_construction_geometry_does_not_shrink_the_part(rendered):
    out, reports, _ = rendered
    (k1,) = [r for r in reports if r.name == "trj5_k1-ct-214"]
    assert any("free wires" in n for n in k1.notes)
    img = cv2.imread(str(out / "trj5_k1-ct-214" / "t.png"))
    xs = np.nonzero((img < 128).any(axis=2).any(axis=0))[0]
    assert np.ptp(xs) > 200 / 1.7 * 0.9  # the part's long axis fills its share of the window
