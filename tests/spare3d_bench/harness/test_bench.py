"""`spare3d bench`: suites parsed with one-line errors, stages hashed by what decides them,
cached, failures isolated, a killed suite resumed to the same rows, results exported."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("OCP")

from spare3d_bench.harness import results  # noqa: E402
from spare3d_bench.harness import suite as suite_module  # noqa: E402
from spare3d_bench.harness.runner import Bench  # noqa: E402
from spare3d_bench.harness.suite import Claim, SuiteError, builtin_suites, expand, load_suite  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
TINY = {
    "name": "tiny-check",
    "seeds": [0],
    "base": {
        "data": {"task": "i2p", "csg": 12, "primitives": 3, "size": 32, "layout": "packed", "seed": 3,
                 "split": [0.5, 0.25, 0.25]},
        "train": {"model": "resnet18-early", "epochs": 1, "batch_size": 4, "lr": 0.001},
    },
    "experiments": {
        "fusion": {"grid": {"train.model": ["resnet18-early", "resnet18-late"]}},  # late fusion does T2I only: fails
    },
}


def _suite(tmp_path: Path, spec: dict, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def spare3d(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spare3d_bench.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          **kw)


def _metrics(db_path: Path) -> list[tuple]:
    """The rows that must not depend on interruptions (times and machine left out)."""
    db = sqlite3.connect(db_path)
    try:
        return db.execute("SELECT suite, scale, experiment, run, metric, value, factors, seed, stages FROM results "
                          "ORDER BY experiment, run, metric").fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("edit, message", [
    ({"experiments": {"x": {"grid": {"model.depth": [1]}}}}, "unknown factor 'model.depth'"),
    ({"experiments": {"x": {"grid": {"train.lr": []}}}}, "a grid of zero runs (train.lr has no values)"),
    ({"experiments": {"x": {"set": {"pretrain.method": "nosuch", "pretrain.data": {"task": "pairs", "csg": 4}}}}},
     "unknown method 'nosuch'"),
    ({"experiments": {"x": {"set": {"data.colour": "red"}}}}, "unknown data setting 'colour'"),
    ({"experiment": {}}, "unknown key 'experiment'"),
    ({"seeds": []}, "seeds must be a non-empty list"),
    ({"experiments": {"x": {"set": {"train": None}}}}, "nothing to evaluate"),
    ({"experiments": {"x": {"published": {"train.model=nope": {"accuracy": 50, "source": "a paper"}}}}},
     "published figure for 'train.model=nope', which is not one of its runs (base)"),
])
def test_a_bad_suite_is_one_line_naming_the_file(tmp_path, edit, message):
    spec = {**json.loads(json.dumps(TINY)), **edit}
    path = _suite(tmp_path, spec)
    with pytest.raises(SuiteError) as e:
        load_suite(str(path))
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value) and "\n" not in str(e.value)
    r = spare3d("bench", str(path), "--dry-run")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"spare3d bench: error: {e.value}"]


def test_the_harness_loads_no_torch_until_a_stage_trains():
    """A data-only suite runs where torch is not installed: the stage hashes' training
    revision is read without loading it."""
    code = "import sys, spare3d_bench.harness.runner, spare3d_bench.harness.suite; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_stage_hashes_change_with_what_decides_the_work_and_nothing_else(monkeypatch):
    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"e": {}}
    base = expand(spec, "tiny").runs[0].stages
    gen, train, ev = (s.key for s in base)
    # an irrelevant edit: description, another experiment, the device and loader threads
    other = {**spec, "description": "new words", "experiments": {"e": {}, "f": {"set": {"train.lr": 0.01}}}}
    other["base"]["train"] = {**spec["base"]["train"], "device": "cuda", "loader_threads": 4}
    assert [s.key for s in expand(other, "tiny").runs[0].stages] == [gen, train, ev]
    # a training setting: the training run and its evaluation, not the data
    lr = json.loads(json.dumps(spec))
    lr["base"]["train"]["lr"] = 0.002
    keys = [s.key for s in expand(lr, "tiny").runs[0].stages]
    assert keys[0] == gen and keys[1] != train and keys[2] != ev
    # a data setting: everything downstream of it
    data = json.loads(json.dumps(spec))
    data["base"]["data"]["primitives"] = 4
    keys = [s.key for s in expand(data, "tiny").runs[0].stages]
    assert all(a != b for a, b in zip(keys, [gen, train, ev]))
    # two seeds share the data, not the training
    seeds = {**spec, "seeds": [0, 1]}
    a, b = expand(seeds, "tiny").runs
    assert a.stages[0].key == b.stages[0].key and a.stages[1].key != b.stages[1].key
    # code that trains differently: the training and its evaluation again, not the data
    monkeypatch.setattr(suite_module, "TRAINING_REVISION", suite_module.TRAINING_REVISION + 1)
    keys = [s.key for s in expand(spec, "tiny").runs[0].stages]
    assert keys[0] == gen and keys[1] != train and keys[2] != ev
    # code that draws differently: every stage again
    monkeypatch.setattr(suite_module, "DRAWING_REVISION", suite_module.DRAWING_REVISION + 1)
    keys = [s.key for s in expand(spec, "tiny").runs[0].stages]
    assert all(a != b for a, b in zip(keys, [gen, train, ev]))


POSES = {"task": "poses", "csg": 12, "primitives": 3, "size": 32, "layout": "packed", "seed": 4, "split": [0.75, 0.25, 0]}
SSL = {"pretrain.model": "resnet18-embed", "pretrain.data": POSES, "pretrain.epochs": 1, "pretrain.batch_size": 4}


def test_a_distillation_is_taught_by_the_pretraining_of_the_run_it_names(tmp_path):
    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"ssl": {"set": SSL, "runs": [
        {"label": "MoCo", "pretrain.method": "moco"},
        {"label": "DisCo", "pretrain.method": "disco", "pretrain.teacher": {"run": "MoCo"}},
        {"label": "DisCo again", "pretrain.method": "disco", "pretrain.teacher": {"run": "MoCo"}, "pretrain.lr": 0.01},
    ]}}
    moco, disco, again = expand(spec, "tiny").runs
    [teacher] = [s for s in moco.stages if s.kind == "pretrain"]
    student = [s for s in disco.stages if s.kind == "pretrain"][-1]
    assert teacher in disco.stages and disco.stages.index(teacher) < disco.stages.index(student)
    assert student.inputs[1] == teacher.key and "teacher" not in student.settings
    assert [s for s in again.stages if s.kind == "pretrain"][0] == teacher  # one teacher, shared
    # the runner hands the teacher's folder to the student, and a fine-tuning its pretrained run
    bench = Bench(expand(spec, "tiny"), tmp_path / "root", device="cpu")
    command = bench._command(student, bench.folder(student))
    assert command[command.index("--teacher") + 1] == str(tmp_path / "root" / "pretrain" / teacher.key)
    tune = [s for s in disco.stages if s.kind == "train"][0]
    command = bench._command(tune, bench.folder(tune))
    assert command[command.index("--init") + 1] == str(tmp_path / "root" / "pretrain" / student.key)


@pytest.mark.parametrize("runs, message", [
    ([{"label": "a", "pretrain.method": "disco", "pretrain.teacher": {"run": "nobody"}}],
     "pretrain.teacher: {run: LABEL} names another run of the experiment"),
    ([{"label": "a", "pretrain": None}, {"label": "b", "pretrain.method": "disco", "pretrain.teacher": {"run": "a"}}],
     "the teacher run 'a' has no pretraining of its own"),
    ([{"label": "a", "pretrain.method": "moco"}, {"label": "a", "pretrain.method": "simclr"}], "two runs labelled 'a'"),
    ([{"label": "", "pretrain.method": "moco"}], "a run's label must be a non-empty string"),
])
def test_bad_labels_and_teachers_are_one_line(runs, message):
    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"ssl": {"set": SSL, "runs": runs}}
    with pytest.raises(SuiteError, match=re.escape(message)):
        expand(spec, "tiny")


def test_a_fine_tuning_takes_the_pretrained_network_when_it_names_no_model():
    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"ssl": {"set": {**SSL, "pretrain.method": "moco", "train.model": None}}}
    [run] = expand(spec, "tiny").runs
    assert "model" not in run.stages[-2].settings and run.stages[-2].kind == "train"
    spec["experiments"]["ssl"]["set"]["pretrain"] = None
    with pytest.raises(SuiteError, match=re.escape("train needs a model (or a pretrain, whose network it fine-tunes)")):
        expand(spec, "tiny")


def test_a_published_figure_of_a_run_that_a_scale_replaces_is_left_out_there():
    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"size": {"grid": {"data.csg": [1000, 5000]}, "scales": {"tiny": {"grid": {"data.csg": [8]}}},
                                    "published": {"data.csg=5000": {"accuracy": 55.0, "source": "a paper"}}}}
    assert expand(spec, "tiny").published == ()
    assert expand(spec, "cpu").published == (("size", "data.csg=5000", 55.0, "a paper"),)


def test_an_experiments_own_scales_replace_its_grid():
    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"size": {"grid": {"data.csg": [1000, 5000]}, "scales": {"tiny": {"grid": {"data.csg": [8, 12]}}}}}
    assert [r.label for r in expand(spec, "tiny").runs] == ["data.csg=8", "data.csg=12"]
    assert [r.label for r in expand(spec, "cpu").runs] == ["data.csg=1000", "data.csg=5000"]
    spec["experiments"]["size"]["scales"]["cpu"] = {"seeds": [1]}
    with pytest.raises(SuiteError, match="scales.cpu may replace set, grid or runs"):
        expand(spec, "cpu")


def test_built_in_suites_expand_at_every_scale():
    assert {"paper-spare3d", "input-data", "paper-ssl"} <= set(builtin_suites())
    ssl = {scale: load_suite("paper-ssl", scale) for scale in ("tiny", "cpu", "gpu", "paper")}
    methods = [r.label for r in ssl["cpu"].runs if r.experiment in ("t2i-methods", "t2i-ssl")]
    assert methods == ["supervised early fusion from scratch", "view comparison, direct", "view comparison, fine-tuned",
                       "the same network from scratch", "SimCLR", "MoCo v2", "CLSA", "DisCo (student of the MoCo v2 run)"]
    tests = {r.evaluation.inputs[1] for r in ssl["cpu"].runs if r.experiment in ("t2i-methods", "t2i-ssl")}
    assert len(tests) == 1  # every T2I method on the same test questions
    pose = {e: [s for s in r.stages if s.kind == "pretrain"] for r in ssl["cpu"].runs for e in ("i2p", "p2i")
            if r.experiment == e and r.label == "pose pretext, direct"}
    assert pose["i2p"] == pose["p2i"]  # one pose pretraining serves I2P and P2I
    views = {r.label: [s for s in r.stages if s.kind == "pretrain"] for r in ssl["cpu"].runs if r.experiment == "i2p-views"}
    [alone] = views.pop("isometric alone, direct")
    assert views == {"pose pretext, direct": pose["i2p"]}  # the same run as I2P's, beside the isometric alone
    assert alone.settings == {**pose["i2p"][0].settings, "arch": {**pose["i2p"][0].settings["arch"], "views": 0}}
    assert alone.inputs == pose["i2p"][0].inputs  # on the same pose drawings
    pretrain = {(r.experiment, r.label): [s for s in r.stages if s.kind == "pretrain"] for r in ssl["cpu"].runs}
    assert pretrain["complexity", "3 primitives"] == pretrain["pairs", "pretrain.data.csg=1000"]  # one run, not two
    assert len(ssl["paper"].runs) == 3 * len({(r.experiment, r.label) for r in ssl["paper"].runs})  # three seeds
    inputs = load_suite("input-data", "tiny")
    assert {r.experiment for r in inputs.runs} == {"complexity", "data-size", "resolution", "line-width", "style", "views",
                                                   "poses"}
    runs = {scale: load_suite("paper-spare3d", scale).runs for scale in ("tiny", "cpu", "gpu", "paper")}
    assert len(runs["tiny"]) == 12 and len(runs["paper"]) == 36  # three seeds
    assert {r.settings["data"]["task"] for r in runs["tiny"]} == {"t2i", "i2p", "p2i"}
    r = spare3d("bench", "--list")
    assert r.returncode == 0 and "\npaper-spare3d: SPARE3D's supervised baselines" in r.stdout
    assert r.stdout.startswith("input-data: How the input data changes I2P accuracy")


def test_a_suite_runs_caches_isolates_a_failure_and_exports(tmp_path):
    spec = json.loads(json.dumps(TINY))
    spec["experiments"]["seeds"] = {"grid": {"train.lr": [0.001, 0.002]}}
    path = _suite(tmp_path, spec)
    bench = Bench(load_suite(str(path)), tmp_path / "root", device="cpu")
    out = bench.run(progress=False)
    # fusion: early (shared with seeds lr=0.001) and late; seeds: lr 0.002; one dataset
    assert len(out.ran) == 1 + 2 * 2 + 0 and len(out.failed) == 1 and len(out.skipped) == 1
    [(key, error)] = out.failed.items()
    assert key.startswith("train-") and error == "spare3d train: error: resnet18-late does not do i2p (the late fusion does t2i)"
    db = results.connect(tmp_path / "root" / "results.sqlite")
    failures = db.execute("SELECT experiment, run, error FROM failures").fetchall()
    assert failures == [("fusion", "train.model=resnet18-late/seed=0", error)]
    runs = {r["run"] for r in results.rows(db) if r["metric"] == "accuracy"}
    assert runs == {"train.model=resnet18-early/seed=0", "train.lr=0.001/seed=0", "train.lr=0.002/seed=0"}
    row = next(r for r in results.rows(db) if r["metric"] == "questions")
    assert row["value"] == 3 and row["task"] == "i2p" and row["method"] == "supervised" and row["version"]
    answered = results.answers(db, "tiny-check", "tiny", "seeds", "train.lr=0.001/seed=0")
    accuracy = next(r["value"] for r in results.rows(db) if r["run"] == "train.lr=0.001/seed=0" and r["metric"] == "accuracy")
    assert len(answered) == 3 and sum(answered.values()) / 3 == pytest.approx(accuracy)
    db.close()
    # a second bench does no work; the failed stage is tried again and fails again
    again = Bench(load_suite(str(path)), tmp_path / "root", device="cpu").run(progress=False)
    assert again.ran == [] and list(again.failed) == [key] and len(again.cached) == 5
    # export
    r = spare3d("results", "export", str(tmp_path / "root" / "results.sqlite"), "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 3 * 7
    r = spare3d("results", "export", str(tmp_path / "root" / "results.sqlite"), "--csv", "--out", str(tmp_path / "r.csv"))
    assert r.returncode == 0 and (tmp_path / "r.csv").read_text().splitlines()[0].startswith("suite,scale,experiment,run")
    (tmp_path / "garbage.sqlite").write_bytes(b"not a database at all" * 100)
    r = spare3d("results", "export", str(tmp_path / "garbage.sqlite"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not a results database" in r.stderr


def test_a_suite_killed_anywhere_resumes_to_the_rows_of_an_uninterrupted_run(tmp_path):
    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"lr": {"grid": {"train.lr": [0.001, 0.002]}}}
    spec["base"]["train"]["epochs"] = 2
    path = _suite(tmp_path, spec)
    whole = spare3d("bench", str(path), "--root", str(tmp_path / "whole"), "--device", "cpu", "--quiet", timeout=600)
    assert whole.returncode == 0, whole.stderr[-800:]
    killed = tmp_path / "killed"
    # killed while generating (its job folder exists), then while training (a first epoch is checkpointed)
    for moment in ("generate/*/.spare3d", "train/*/last.pt"):
        proc = subprocess.Popen([sys.executable, "-m", "spare3d_bench.cli", "bench", str(path), "--root", str(killed),
                                 "--device", "cpu", "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline and not list(killed.glob(moment)):
            time.sleep(0.01)
        assert proc.poll() is None, "finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not list(killed.glob("stages/evaluate-*"))
    resumed = spare3d("bench", str(path), "--root", str(killed), "--device", "cpu", "--quiet", timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-800:]
    assert _metrics(killed / "results.sqlite") == _metrics(tmp_path / "whole" / "results.sqlite")
    assert len(_metrics(tmp_path / "whole" / "results.sqlite")) == 2 * 7


def test_a_runs_rows_are_stored_as_soon_as_it_is_evaluated(tmp_path, monkeypatch):
    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"lr": {"grid": {"train.lr": [0.001, 0.002]}}}
    bench = Bench(load_suite(str(_suite(tmp_path, spec))), tmp_path / "root", device="cpu")
    real, trained = Bench._execute, []

    def stop_at_the_second_training(self, stage):
        if stage.kind == "train":
            trained.append(stage.key)
            if len(trained) == 2:
                raise KeyboardInterrupt  # Ctrl-C in the middle of the suite
        return real(self, stage)

    monkeypatch.setattr(Bench, "_execute", stop_at_the_second_training)
    with pytest.raises(KeyboardInterrupt):
        bench.run(progress=False)
    db = results.connect(tmp_path / "root" / "results.sqlite")
    assert {r["run"] for r in results.rows(db)} == {"train.lr=0.001/seed=0"}
    db.close()


def test_bench_runs_only_the_experiments_named(tmp_path):
    only = load_suite("paper-ssl", "tiny").only(["i2p", "p2i"])
    assert {r.experiment for r in only.runs} == {"i2p", "p2i"} and {p[0] for p in only.published} == {"i2p", "p2i"}
    assert sum(s.kind == "pretrain" for s in only.stages()) == 1  # the pose pretext, shared
    r = spare3d("bench", "paper-ssl", "--experiment", "i2p", "--experiment", "p2i", "--dry-run", "--root", str(tmp_path))
    assert r.returncode == 0 and r.stdout.endswith(f"6 runs, {len(only.stages())} stages: 0 done, "
                                                   f"{len(only.stages())} to run\n")
    r = spare3d("bench", "paper-ssl", "--experiment", "i2q", "--dry-run", "--root", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no experiment 'i2q' (it has t2i-methods" in r.stderr


def test_claims_name_two_runs_on_the_same_questions():
    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"fusion": {"grid": {"train.model": ["resnet18-early", "vgg16-early"]}},
                           "size": {"grid": {"data.csg": [500, 1000]}, "scales": {"tiny": {"grid": {"data.csg": [12]}}}}}
    claim = {"claim": "VGG wins", "better": "fusion/train.model=vgg16-early", "worse": "fusion/train.model=resnet18-early"}
    suite = expand({**spec, "claims": [claim]}, "tiny")
    assert suite.claims == (Claim("VGG wins", ("fusion", "train.model=vgg16-early"), ("fusion", "train.model=resnet18-early")),)
    assert suite.only(["size"]).claims == ()
    more = {"claim": "more data", "better": "size/data.csg=1000", "worse": "size/data.csg=500"}
    assert expand({**spec, "claims": [more]}, "tiny").claims == ()  # runs of another scale
    with pytest.raises(SuiteError, match="tested on different questions"):
        expand({**spec, "claims": [more]}, "cpu")  # two data sizes: not the same questions
    bad = {**claim, "worse": "fusion/train.model=bagnet33-early"}
    with pytest.raises(SuiteError, match="'fusion/train.model=bagnet33-early' is not EXPERIMENT/LABEL of a run"):
        expand({**spec, "claims": [bad]}, "tiny")
    with pytest.raises(SuiteError, match="each claim needs exactly claim, better and worse"):
        expand({**spec, "claims": [{"claim": "x", "better": "fusion/base"}]}, "tiny")


def test_your_own_model_files_are_a_data_source_that_counts_by_content(tmp_path):
    import shutil

    def suite_in(folder: Path) -> Path:
        (folder / "models").mkdir(parents=True)
        for f in sorted((ROOT / "datasets" / "samples").glob("*.step")):
            shutil.copy(f, folder / "models" / f.name)
        spec = json.loads(json.dumps(TINY))
        spec["base"]["data"] = {"task": "i2p", "models": ["models"], "questions": 9, "size": 32, "layout": "packed",
                                "split": [0.34, 0.33, 0.33], "seed": 0}
        spec["experiments"] = {"own": {}}
        return _suite(folder, spec)

    a, b = suite_in(tmp_path / "a"), suite_in(tmp_path / "b")
    [run_a], [run_b] = load_suite(str(a)).runs, load_suite(str(b)).runs
    assert run_a.stages[0].key == run_b.stages[0].key  # the same files elsewhere: the same dataset
    assert run_a.stages[0].settings["models"] == [str(tmp_path / "a" / "models")]
    step = tmp_path / "b" / "models" / "bracket.step"
    step.write_bytes(step.read_bytes() + b"\n")
    assert load_suite(str(b)).runs[0].stages[0].key != run_a.stages[0].key  # an edited file: another dataset
    out = Bench(load_suite(str(a)), tmp_path / "root", device="cpu").run(progress=False)
    assert not out.failed and len(out.ran) == 3
    db = results.connect(tmp_path / "root" / "results.sqlite")
    assert next(r["value"] for r in results.rows(db) if r["metric"] == "questions") == 3
    db.close()
    shutil.rmtree(tmp_path / "a" / "models")
    with pytest.raises(SuiteError, match="models: .*models: file not found"):
        load_suite(str(a))
    spec = yaml.safe_load(a.read_text())
    spec["base"]["data"]["csg"] = 4
    with pytest.raises(SuiteError, match="data needs csg .* or models .*, one of them"):
        expand(spec, "tiny", str(a))


def test_a_recipe_names_model_files_relative_to_itself(tmp_path):
    (tmp_path / "r").mkdir()
    samples = os.path.relpath(ROOT / "datasets" / "samples", tmp_path / "r")  # the command runs in ROOT
    (tmp_path / "r" / "own.yaml").write_text(f"task: i2p\nmodels: {samples}/*.step\nquestions: 6\nsize: 32\n"
                                             "layout: packed\nsplit: [0.34, 0.33, 0.33]\n")
    r = spare3d("generate", "--recipe", str(tmp_path / "r" / "own.yaml"), "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    card = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert card["questions_asked"] == 6 and sorted(Path(f).name for f in card["sources"]) == [
        "bracket.step", "csg_part.step", "slotted_block.step"]
    (tmp_path / "r" / "both.yaml").write_text("task: i2p\nmodels: x.step\ncsg: 3\n")
    r = spare3d("generate", "--recipe", str(tmp_path / "r" / "both.yaml"), "--out", str(tmp_path / "o2"))
    assert r.returncode == 2 and "give csg or models, not both" in r.stderr


def test_the_dask_path_on_a_local_cluster_gives_the_rows_of_a_local_run(tmp_path):
    pytest.importorskip("distributed")
    import torch

    spec = json.loads(json.dumps(TINY))  # one run fails (late fusion on I2P), the other trains
    path = _suite(tmp_path, spec)
    local = Bench(load_suite(str(path)), tmp_path / "local", device="cpu").run(progress=False)
    # "auto" asks each training stage for a GPU worker resource (the local cluster has one);
    # on a machine without CUDA it trains on the CPU, as the local run does
    device = "cpu" if torch.cuda.is_available() else "auto"
    out = Bench(load_suite(str(path)), tmp_path / "dask", device=device, executor="dask").run(progress=False)
    assert sorted(out.ran) == sorted(local.ran) and out.failed == local.failed and out.skipped == local.skipped
    # the same rows; values equal up to float summation order (Dask runs its workers' torch on one thread)
    a, b = _metrics(tmp_path / "local" / "results.sqlite"), _metrics(tmp_path / "dask" / "results.sqlite")
    assert [r[:5] + r[6:] for r in a] == [r[:5] + r[6:] for r in b] and a
    assert [r[5] for r in b] == pytest.approx([r[5] for r in a], rel=1e-4)
    again = Bench(load_suite(str(path)), tmp_path / "dask", device=device, executor="dask").run(progress=False)
    assert again.ran == [] and len(again.cached) == len(out.ran)
    r = spare3d("bench", str(path), "--scheduler", "tcp://127.0.0.1:1", "--root", str(tmp_path / "x"))
    assert r.returncode == 2 and r.stderr == "spare3d bench: error: --scheduler needs --executor dask\n"


def test_the_report_gallery_draws_test_questions_with_each_settings_answer(tmp_path, monkeypatch):
    from spare3d_bench.harness import gallery
    from spare3d_bench.harness.report import write_report

    spec = json.loads(json.dumps(TINY))
    spec["experiments"] = {"lr": {"grid": {"train.lr": [0.001, 0.01]}}}
    bench = Bench(expand(spec, "tiny"), tmp_path / "root", device="cpu")
    assert not bench.run(progress=False).failed
    drawn = []
    real = gallery.question_figure
    monkeypatch.setattr(gallery, "question_figure", lambda ds, k, answers, path: (drawn.append((ds.ids[k], answers)),
                                                                                 real(ds, k, answers, path)))
    write_report(tmp_path / "root" / "results.sqlite", tmp_path / "report", gallery=2)
    said = {}
    for run in bench.suite.runs:  # what each setting answered, from its predictions
        files = gallery.run_files(tmp_path / "root", [s.key for s in run.stages])
        said[run.label] = gallery.predictions(files.predictions)
    from spare3d_bench.data import open_split

    assert [q for q, _ in drawn] == open_split(files.data / "test").ids[:2]  # the first of the test split
    assert all(dict(answers) == {label: s[q] for label, s in said.items()} for q, answers in drawn)
    md = (tmp_path / "report" / "report.md").read_text()
    figures = re.findall(r"\]\((figures/[^)]+\.png)\)", md)
    assert figures[1:3] == ["figures/tiny-check-tiny-lr-q0.png", "figures/tiny-check-tiny-lr-q1.png"]
    assert len(figures) == 5 and "attention maps of the best run" in md  # and two attention figures
    assert all((tmp_path / "report" / f).read_bytes()[:4] == b"\x89PNG" for f in figures)
