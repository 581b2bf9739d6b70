"""`spare3d generate --engine mesh`: every task from manifold3d meshes, the same files for any
worker count, booleans that leave nothing filtered, and the whole job without OpenCascade."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("trimesh")

from renderers.errors import RenderError  # noqa: E402
from renderers.mesh_io import read_mesh  # noqa: E402
from spare3d_bench import csg_mesh, tasks  # noqa: E402
from spare3d_bench.csg_spec import CSGRecipe, ToolSpec  # noqa: E402
from spare3d_bench.generate import GenerateConfig, generate, verify, worker_threads  # noqa: E402
from spare3d_bench.tasks import TaskOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SMALL = CSGRecipe(primitives=4)
OPTS = TaskOptions(size=64)


def _tree(root: Path) -> dict[str, bytes]:
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and ".spare3d" not in p.parts and p.name != "report.json")
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def _config(task: str, models: int = 6, **kw) -> GenerateConfig:
    options = kw.pop("options", OPTS)
    return GenerateConfig(task, models, seed=kw.pop("seed", 2), recipe=kw.pop("recipe", SMALL), options=options,
                          engine="mesh", **kw)


@pytest.mark.parametrize("task, poses, layout", [
    ("t2i", 8, "spare3d"), ("i2p", 20, "packed"), ("p2i", 8, "spare3d"), ("pairs", 8, "packed"), ("poses", 8, "spare3d"),
])
def test_every_task_generates_with_the_mesh_engine(tmp_path, task, poses, layout):
    card = generate(_config(task, 5, layout=layout, options=TaskOptions(size=64, poses=poses)), tmp_path, progress=False)
    assert card["engine"] == "mesh" and not card["failed"]
    assert sum(card["questions"].values()) + sum(card["filtered"].values()) == 5
    assert sum(card["questions"].values()) >= 3
    assert verify(tmp_path) == []


def test_same_command_same_bytes_for_any_worker_count_and_a_retried_fault(tmp_path, monkeypatch):
    cfg = _config("t2i", 6)
    generate(cfg, tmp_path / "a", workers=1, progress=False)
    generate(cfg, tmp_path / "b", workers=2, progress=False)
    monkeypatch.setenv("SPARE3D_FAULT", "raise:3")
    assert generate(cfg, tmp_path / "c", workers=2, progress=False)["failed"]
    monkeypatch.delenv("SPARE3D_FAULT")
    generate(cfg, tmp_path / "c", workers=2, progress=False, retry_failed=True)
    a, b, c = (_tree(tmp_path / k) for k in "abc")
    assert a.keys() == b.keys() == c.keys() and all(a[k] == b[k] == c[k] for k in a)
    generate(_config("t2i", 6, seed=3), tmp_path / "d", progress=False)
    assert _tree(tmp_path / "d")["train/0/0_f.png"] != a["train/0/0_f.png"]


def test_local_workers_share_this_machines_cpus_and_remote_ones_get_a_thread_each(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert worker_threads("local", 1) == 16
    assert worker_threads("local", 16) == 1
    assert worker_threads("local", 5) == 3
    assert worker_threads("local", 32) == 1
    assert worker_threads("dask", 4) == 4
    assert worker_threads("dask", 4, "tcp://10.0.0.1:8786") == 1
    assert worker_threads("serial", 1) is None


def test_the_serial_and_dask_executors_build_the_same_mesh_dataset(tmp_path):
    pytest.importorskip("distributed")
    cfg = _config("pairs", 4)
    generate(cfg, tmp_path / "serial", progress=False, executor="serial")
    generate(cfg, tmp_path / "dask", workers=2, progress=False, executor="dask")
    assert _tree(tmp_path / "serial") == _tree(tmp_path / "dask")


def test_the_two_engines_draw_the_same_questions_from_the_same_seed(tmp_path):
    pytest.importorskip("OCP")
    from renderers.compare import line_f1, line_masks

    cfg = GenerateConfig("i2p", 4, seed=1, recipe=SMALL, options=TaskOptions(size=200))
    generate(cfg, tmp_path / "occ", progress=False)
    generate(replace(cfg, engine="mesh"), tmp_path / "mesh", progress=False)
    a, b = json.loads((tmp_path / "occ" / "dataset.json").read_text()), json.loads((tmp_path / "mesh" / "dataset.json").read_text())
    assert a["model_index"] == b["model_index"] and a["engine"] == "occ" and b["engine"] == "mesh"
    import cv2

    scores = []
    for name in sorted(p.relative_to(tmp_path / "occ") for p in (tmp_path / "occ").rglob("*.png")):
        x, y = (cv2.imread(str(tmp_path / k / name)) for k in ("occ", "mesh"))
        scores.append(line_f1(line_masks(x)[0], line_masks(y)[0]))
    assert len(scores) == 16 and min(scores) > 0.85 and np.median(scores) > 0.93


def test_a_change_that_leaves_nothing_is_a_failed_try_and_then_a_filtered_question(tmp_path, monkeypatch):
    model = csg_mesh.mesh_csg_model(0, 0, SMALL)
    far = csg_mesh.mesh_tool(ToolSpec("box", (1.0, 1.0, 1.0), (500.0, 500.0, 500.0)))
    with pytest.raises(RenderError, match="intersection left nothing"):
        tasks.apply_tool(model, far, "intersection")
    monkeypatch.setattr(csg_mesh, "apply_tool", lambda solids, tool, operation="cut": [])  # every boolean empties
    card = generate(_config("t2i", 4), tmp_path, progress=False)
    assert not card["failed"] and sum(card["questions"].values()) == 0
    assert card["filtered"]["invisible_change"] == 4
    assert {q["source"] for q in card["filtered_questions"]} == {f"csg:2:{i}" for i in range(4)}


def test_saved_models_are_stl_files_of_the_model_and_come_back_when_damaged(tmp_path):
    cfg = _config("i2p", 3, save_models=True)
    card = generate(cfg, tmp_path, progress=False)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["0.stl", "1.stl", "2.stl"]
    mesh = read_mesh(tmp_path / "models" / "1.stl")
    model = csg_mesh.mesh_csg_model(2, 1, SMALL, tolerance=csg_mesh.chordal_fraction(64), relative=True)
    assert np.allclose([mesh.vertices.min(0), mesh.vertices.max(0)], csg_mesh.bounds(model), atol=1e-4)  # float32 STL
    saved = (tmp_path / "models" / "1.stl").read_bytes()
    (tmp_path / "models" / "1.stl").write_bytes(saved[:200])
    generate(cfg, tmp_path, progress=False)
    assert (tmp_path / "models" / "1.stl").read_bytes() == saved and verify(tmp_path) == []
    assert card["checksums"] == json.loads((tmp_path / "dataset.json").read_text())["checksums"]


def test_opencascade_drawing_options_are_refused_for_the_mesh_engine():
    with pytest.raises(ValueError, match="--hlr exact is OpenCascade's"):
        _config("t2i", options=TaskOptions(hlr="exact"))
    with pytest.raises(ValueError, match="--engine mesh builds generated CSG models"):
        _config("i2p", 1, sources=("a.stl",))


def test_generation_runs_with_opencascade_blocked_and_asking_for_it_is_one_line(tmp_path):
    recipe = tmp_path / "mesh.yaml"
    recipe.write_text("task: p2i\ncsg: 4\nprimitives: 4\nsize: 64\nengine: mesh\n")
    code = (
        "import sys; sys.modules['OCP'] = None\n"
        "from spare3d_bench.cli import main\n"
        f"print(main(['generate', '--recipe', {str(recipe)!r}, '--out', {str(tmp_path / 'a')!r}, '--quiet',"
        " '--save-models', '--workers', '2']))\n"
        f"print(main(['generate', 't2i', '--csg', '2', '--out', {str(tmp_path / 'b')!r}, '--quiet']))\n"
        "assert sys.modules.get('OCP') is None\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.split()[-2:] == ["0", "1"]
    card = json.loads((tmp_path / "a" / "dataset.json").read_text())
    assert card["engine"] == "mesh" and card["task"] == "p2i" and sum(card["questions"].values()) >= 2
    assert len(list((tmp_path / "a" / "models").glob("*.stl"))) == 4
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert errors == ["spare3d generate: error: needs OCP, which is not installed here (pip install cadquery-ocp-novtk); "
                      "or build CSG models with --engine mesh"]
    assert not (tmp_path / "b").exists()


def test_style_and_line_width_reach_the_drawings_and_the_card(tmp_path):
    import cv2

    cards, images = [], []
    for name, options in (("a", TaskOptions(size=64)), ("b", TaskOptions(size=64, style="visible-only")),
                          ("c", TaskOptions(size=64, line_width=2.0))):
        cards.append(generate(_config("i2p", 2, split=(1, 0, 0), options=options), tmp_path / name, progress=False))
        images.append(cv2.imread(str(tmp_path / name / "train" / "0" / "0_f.png"))[:, :, ::-1])
    assert [(c["render"]["style"], c["render"]["line_width"]) for c in cards] == [
        ("spare3d", 1.0), ("visible-only", 1.0), ("spare3d", 2.0)]
    red = [int(((im[:, :, 0] > 200) & (im[:, :, 1] < 150)).sum()) for im in images]  # hidden lines
    black = [int((im.max(axis=2) < 100).sum()) for im in images]  # visible lines
    assert red[0] > 0 and red[1] == 0 and black[1] == black[0]
    assert black[2] > 1.5 * black[0]  # twice the width
    with pytest.raises(ValueError, match="unknown style 'bold'"):
        TaskOptions(style="bold")
