"""The training loop and evaluation: learning, exact resume after a kill, the confidence
interval, evaluation on the original layout, and the GPU-box import rule."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from renderers.writers import png_bytes  # noqa: E402
from spare3d_bench.evaluate import evaluate_run, wilson_interval  # noqa: E402
from spare3d_bench.train import TrainConfig, Trainer, load_checkpoint, run_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def i2p_data(tmp_path_factory):
    """A small packed I2P dataset of real CSG drawings (64 px)."""
    from spare3d_bench.csg import CSGRecipe
    from spare3d_bench.generate import GenerateConfig, generate
    from spare3d_bench.tasks import TaskOptions

    out = tmp_path_factory.mktemp("i2p")
    config = GenerateConfig("i2p", 12, seed=5, recipe=CSGRecipe(primitives=3), options=TaskOptions(size=64), split=(0.75, 0.25, 0), layout="packed")
    generate(config, out, progress=False)
    return out


def _config(data, **kw) -> TrainConfig:
    base = dict(task="i2p", model="resnet18-early", data=str(data), epochs=3, batch_size=4, lr=1e-3, resolution=32, device="cpu")
    return TrainConfig(**{**base, **kw})


def test_one_cpu_epoch_lowers_the_training_loss(i2p_data, tmp_path):
    from spare3d_bench.train import predict

    trainer = Trainer(_config(i2p_data, epochs=1, schedule="constant"), tmp_path / "run", progress=False)
    before = predict(trainer.model, trainer.train_set, trainer.config.inputs, trainer.device).loss
    trainer.fit()
    after = predict(trainer.model, trainer.train_set, trainer.config.inputs, trainer.device).loss
    assert after < before
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1] and "val_accuracy" in rows[0]
    assert (tmp_path / "run" / "best.pt").exists()
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def _train_cli(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "spare3d_bench.cli", "train", *args, "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_killed_and_resumed_run_ends_with_the_same_weights(i2p_data, tmp_path):
    args = ["--task", "i2p", "--model", "resnet18-early", "--data", str(i2p_data), "--epochs", "3", "--batch-size", "3",
            "--lr", "1e-3", "--resolution", "32", "--device", "cpu", "--shift", "0.05", "--warmup", "1"]  # fmt: skip
    whole = _train_cli([*args, "--out", str(tmp_path / "whole")])
    assert whole.wait(timeout=300) == 0, whole.stderr.read().decode()[-800:]
    run = tmp_path / "killed"
    proc = _train_cli([*args, "--out", str(run)])
    deadline = time.time() + 300
    while not (run / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # during epoch 2 (or later): the last checkpoint is epoch 1's
    proc.wait()
    assert load_checkpoint(run / "last.pt")["epoch"] < 3, "killed too late to test resuming"
    resumed = _train_cli([*args, "--out", str(run), "--resume"])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-800:]
    a, b = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(run / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]


def test_a_run_folder_is_not_overwritten_without_resume(i2p_data, tmp_path):
    Trainer(_config(i2p_data, epochs=1), tmp_path / "run", progress=False).fit()
    (row,) = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert row["lr"] == pytest.approx(1e-3)  # the cosine's first step, not the 0 it reaches after the last
    with pytest.raises(ValueError, match="--resume"):
        Trainer(_config(i2p_data, epochs=1), tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="saved with model='resnet18-early'"):
        Trainer(_config(i2p_data, epochs=2, model="vgg13-early"), tmp_path / "run", resume=True, progress=False)
    with pytest.raises(ValueError, match="saved with lr=0.001, now 0.5"):  # used to be ignored, then recorded
        Trainer(_config(i2p_data, epochs=2, lr=0.5), tmp_path / "run", resume=True, progress=False)
    elsewhere = tmp_path / "copy"
    shutil.copytree(i2p_data, elsewhere)
    with pytest.raises(ValueError, match="saved with data="):
        Trainer(_config(elsewhere, epochs=2), tmp_path / "run", resume=True, progress=False)
    longer = Trainer(_config(i2p_data, epochs=2, device="cpu", weights=None), tmp_path / "run", resume=True, progress=False)
    assert longer.epoch == 1 and json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 2


def test_wilson_interval_matches_hand_computed_values():
    lo, hi = wilson_interval(7, 10)  # p = 0.7, z = 1.96: (0.3968, 0.8922)
    assert (round(lo, 4), round(hi, 4)) == (0.3968, 0.8922)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    lo, hi = wilson_interval(250, 1000)
    assert lo < 0.25 < hi and hi - lo == pytest.approx(2 * 1.96 * (0.25 * 0.75 / 1000) ** 0.5, rel=0.01)


def test_evaluation_saves_predictions_and_reads_the_original_layout(i2p_data, tmp_path):
    run = tmp_path / "run"
    Trainer(_config(i2p_data, epochs=1), run, progress=False).fit()
    e = evaluate_run(run, i2p_data, "val", device="cpu")
    lines = [json.loads(x) for x in (run / "eval" / f"{i2p_data.name}-val.predictions.jsonl").read_text().splitlines()]
    assert e.questions == len(lines) == 3 and e.chance == 0.25
    assert e.correct == sum(x["answer"] == x["prediction"] for x in lines)
    assert e.ci95 == pytest.approx(wilson_interval(e.correct, e.questions))
    # the 2020 release: 200 px drawings, string labels, no dataset card; resized to the run's 32 px
    orig = tmp_path / "I2P_original"
    img = png_bytes(np.full((200, 200, 3), 255, np.uint8))
    for qid in ("0", "1", "2"):
        (orig / qid).mkdir(parents=True)
        for v in "frt":
            (orig / qid / f"{qid}_{v}.png").write_bytes(img)
        (orig / qid / "answer.png").write_bytes(img)
    (orig / "answer.json").write_text('{"0": "2", "1": 3, "2": "0"}')
    e = evaluate_run(run, orig, device="cpu")
    assert e.questions == 3 and (run / "eval" / "I2P_original-test.json").exists()


def test_evaluation_resizes_to_the_stored_drawing_size_of_the_run(i2p_data, tmp_path, monkeypatch):
    """A run trained on 64 px drawings without --resolution sees 200 px test drawings at
    64 px; a P2I-style pose outside the run's range is refused in words."""
    from spare3d_bench import inputs

    run = tmp_path / "run"
    Trainer(_config(i2p_data, epochs=1, resolution=None), run, progress=False).fit()
    assert load_checkpoint(run / "last.pt")["input_size"] == 64
    orig = tmp_path / "I2P_original"
    img = png_bytes(np.full((200, 200, 3), 255, np.uint8))
    for qid in ("0", "1"):
        (orig / qid).mkdir(parents=True)
        for v in "frt":
            (orig / qid / f"{qid}_{v}.png").write_bytes(img)
        (orig / qid / "answer.png").write_bytes(img)
    (orig / "answer.json").write_text('{"0": "2", "1": 3}')
    seen = []
    real = inputs.to_float
    monkeypatch.setattr(inputs, "to_float", lambda x, o: seen.append(tuple(real(x, o).shape[-2:])) or real(x, o))
    evaluate_run(run, orig, device="cpu")
    assert seen and set(seen) == {(64, 64)}


def test_cli_lists_models_and_reports_bad_input(tmp_path):
    from spare3d_bench.cli import main

    assert main(["train", "--list-models", "--task", "i2p"]) == 0
    assert main(["train", "--task", "t2i", "--model", "resnet18-early", "--out", str(tmp_path / "r")]) == 2
    assert main(["train", "--task", "t2i", "--model", "resnet18-early", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")]) == 2
    assert main(["evaluate", str(tmp_path / "nothing"), "--data", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as e:
        main(["train", "--task", "i2p", "--model", "resnet18-early", "--data", "x", "--out", "y", "--workers", "-1"])
    assert e.value.code == 2
    one = tmp_path / "one"  # a single training question: batch norm cannot train on it
    assert main(["generate", "i2p", "--csg", "1", "--size", "32", "--split", "1,0,0", "--out", str(one), "--quiet"]) == 0
    assert main(["train", "--task", "i2p", "--model", "resnet18-early", "--data", str(one), "--out", str(tmp_path / "r1"),
                 "--epochs", "1", "--device", "cpu", "--quiet"]) == 2


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_ctrl_c_in_training_says_how_to_continue(command, monkeypatch, capsys, tmp_path):
    """The generic 'run the same command again' is wrong once an epoch is saved: that is
    refused (the run folder holds a run) unless --resume is added; before, it is right."""
    from spare3d_bench import cli, cli_train

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_train, f"cmd_{command}", interrupted)
    run = tmp_path / "r"
    base = [command, "--data", "d", "--out", str(run)]
    base += ["--task", "i2p", "--model", "resnet18-early"] if command == "train" else ["--method", "simclr"]
    assert cli.main(base) == 130
    assert "interrupted: no epoch finished: run the same command again to start afresh" in capsys.readouterr().err
    run.mkdir()
    (run / "last.pt").write_bytes(b"")
    assert cli.main(base) == 130
    assert "interrupted: add --resume to continue from the last finished epoch" in capsys.readouterr().err
    assert cli.main([*base, "--resume"]) == 130
    assert "interrupted: run the same command again to resume" in capsys.readouterr().err


def test_a_kill_between_an_epochs_writes_is_repaired_by_the_resume(i2p_data, tmp_path):
    """last.pt is written after metrics.jsonl and before best.pt: a resume restores what a
    kill after last.pt left behind (the epoch's best.pt, which readers of the run refuse
    until then), and metrics.jsonl from the checkpoint's history, even with no epoch left
    to run."""
    run = tmp_path / "run"
    Trainer(_config(i2p_data, epochs=1), run, progress=False).fit()
    saved = load_checkpoint(run / "last.pt")
    assert saved["best_epoch"] == 1 and saved["world_size"] == 1
    best = load_checkpoint(run / "best.pt")
    torch.save({**best, "epoch": 0}, run / "best.pt")  # an earlier epoch's, as a kill before its write leaves it
    (run / "metrics.jsonl").unlink()
    with pytest.raises(ValueError) as e:
        run_checkpoint(run)  # what evaluate, probe and --init read
    assert str(e.value) == (f"{run / 'best.pt'}: holds epoch 0, not the run's best, epoch 1 (a kill interrupted the "
                            "epoch's writes): run its training command again with --resume to restore it")
    Trainer(_config(i2p_data, epochs=1), run, resume=True, progress=False).fit()
    best = run_checkpoint(run)
    assert best["epoch"] == 1 and all(torch.equal(best["model"][k], saved["model"][k]) for k in saved["model"])
    assert [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()] == saved["history"]


def test_a_resume_refuses_another_process_count_and_a_network_of_another_shape(i2p_data, tmp_path):
    run = tmp_path / "run"
    Trainer(_config(i2p_data, epochs=1), run, progress=False).fit()
    ckpt = load_checkpoint(run / "last.pt")
    torch.save({**ckpt, "world_size": 2}, run / "last.pt")
    with pytest.raises(ValueError) as e:
        Trainer(_config(i2p_data, epochs=2), run, resume=True, progress=False)
    assert str(e.value) == f"{run / 'last.pt'}: saved by a run of 2 processes, resumed by 1; resume it with 2"
    name = next(k for k, v in ckpt["model"].items() if v.ndim == 2)  # the head's weight
    ckpt["model"][name] = ckpt["model"][name][:, :-1].clone()
    torch.save(ckpt, run / "last.pt")
    with pytest.raises(ValueError) as e:
        Trainer(_config(i2p_data, epochs=2), run, resume=True, progress=False)
    assert f"{run / 'last.pt'}: does not fit the supervised network these flags build" in str(e.value)
    assert f"size mismatch for model.{name}" in str(e.value) and "\n" not in str(e.value)


def test_a_run_folder_loses_the_temporaries_of_killed_writes_only(i2p_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale, live = run / f".last.pt.{dead.stdout.strip()}.tmp", run / f".best.pt.{os.getpid()}.tmp"
    other = run / f".notes.txt.{dead.stdout.strip()}.tmp"  # not the run's own
    impossible = run / f".metrics.jsonl.{2**70}.tmp"  # no process can have that number
    for path in (stale, live, other, impossible):
        path.write_bytes(b"partial")
    Trainer(_config(i2p_data, epochs=1), run, progress=False)
    assert not stale.exists() and not impossible.exists() and live.exists() and other.exists()


def test_training_imports_and_runs_without_opencascade(i2p_data, tmp_path):
    """GPU boxes have torch and little else: train and evaluate on a packed dataset with
    OpenCascade, trimesh, pyrender and OpenCV unimportable."""
    code = (
        "import sys; sys.modules['OCP'] = None; sys.modules['trimesh'] = None; sys.modules['pyrender'] = None; sys.modules['cv2'] = None\n"
        "from spare3d_bench.cli import main\n"
        f"assert main(['train', '--task', 'i2p', '--model', 'resnet18-early', '--data', {str(i2p_data)!r}, '--out', {str(tmp_path / 'r')!r}, "
        "'--epochs', '1', '--resolution', '32', '--device', 'cpu', '--quiet']) == 0\n"
        f"assert main(['evaluate', {str(tmp_path / 'r')!r}, '--data', {str(i2p_data)!r}, '--split', 'val', '--device', 'cpu']) == 0\n"
        "print('ok')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-800:]


def test_demo_pipeline_in_ci_mode_writes_a_report_and_resumes(tmp_path):
    from spare3d_bench.demo import run_demo

    report = run_demo(tmp_path / "demo", "ci", workers=1, progress=False)
    text = report.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "%" in line][1:]  # after the header
    assert [r.split("|")[1].strip() for r in rows] == ["T2I", "I2P", "P2I"]
    summary = json.loads((tmp_path / "demo" / "report.json").read_text())
    for row, r in zip(summary["rows"], rows):
        e = row["evaluation"]
        assert f"{100 * e['accuracy']:.1f}%" in r and f"{100 * e['chance']:.0f}%" in r
    assert (tmp_path / "demo" / "examples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = tmp_path / "demo" / "data" / "i2p" / "dataset.json"
    last = tmp_path / "demo" / "runs" / "i2p-resnet18-early" / "last.pt"
    stamps = (card.stat().st_mtime_ns, last.stat().st_mtime_ns)
    run_demo(tmp_path / "demo", "ci", workers=1, progress=False)  # finished stages are skipped
    assert (card.stat().st_mtime_ns, last.stat().st_mtime_ns) == stamps
    with pytest.raises(ValueError, match="other settings"):  # another seed's data is not reused as its own
        run_demo(tmp_path / "demo", "ci", workers=1, seed=5, progress=False)


def test_shift_moves_every_drawing_of_a_question_alike():
    from spare3d_bench.inputs import InputOptions, shift_questions, to_float

    img = np.full((2, 7, 32, 32, 3), 255, np.uint8)
    img[:, :, 10, 12] = 0  # one black pixel, same place in every drawing
    x = to_float(torch.from_numpy(img), InputOptions(channels=1, resolution=32))
    assert x.shape == (2, 7, 1, 32, 32) and x[0, 0, 0, 10, 12] == 0 and x[0, 0, 0, 0, 0] == 1
    views, candidates = shift_questions([x[:, :3], x[:, 3:]], 0.2, torch.Generator().manual_seed(3))
    for q in range(2):
        darkest = {int(d[0].argmin()) for d in (*views[q], *candidates[q])}
        assert len(darkest) == 1 and darkest != {10 * 32 + 12}
    assert views.min() >= 0 and views.max() <= 1 and views[0, 0, 0, 0, 0] == pytest.approx(1)
    half = to_float(torch.from_numpy(img), InputOptions(resolution=16))
    assert half.shape == (2, 7, 3, 16, 16)
    red = np.zeros((1, 1, 2, 2, 3), np.uint8)
    red[..., 0] = 255  # a hidden line of the SPARE3D style: BT.601 luma 0.299
    assert to_float(torch.from_numpy(red), InputOptions(channels=1)).flatten().tolist() == pytest.approx([0.299] * 4)


def test_blank_views_show_the_model_white_paper_in_place_of_the_named_views():
    from spare3d_bench.inputs import InputOptions, prepare

    img = np.zeros((2, 3, 8, 8, 3), np.uint8)  # black drawings: what is white was blanked
    batch = {"views": torch.from_numpy(img), "candidates": torch.from_numpy(np.zeros((2, 4, 8, 8, 3), np.uint8)),
             "pose": torch.zeros(2), "answer": torch.zeros(2)}
    views, candidates, _, _ = prepare(batch, InputOptions(blank_views="fr"), torch.device("cpu"))
    assert [float(views[:, i].min()) for i in range(3)] == [1.0, 1.0, 0.0] and float(candidates.max()) == 0.0
    pairs = {**batch, "views": torch.from_numpy(np.zeros((2, 6, 8, 8, 3), np.uint8))}  # 0_f 0_r 0_t 1_f 1_r 1_t
    views = prepare(pairs, InputOptions(blank_views="t"), torch.device("cpu"))[0]
    assert [float(views[:, i].min()) for i in range(6)] == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    for bad in ("x", "ff", "frt"):
        with pytest.raises(ValueError, match="blank views must be one or two of f, r, t"):
            TrainConfig(task="t2i", model="resnet18-early", data="d", blank_views=bad)
    assert TrainConfig(task="t2i", model="resnet18-early", data="d", blank_views="f").inputs.blank_views == "f"


def test_evaluating_on_poses_the_run_never_had_is_refused(tmp_path):
    """An 8-pose P2I run on 20-pose questions: refused in words (it was a one_hot error)."""
    from spare3d_bench.csg import CSGRecipe
    from spare3d_bench.generate import GenerateConfig, generate
    from spare3d_bench.tasks import TaskOptions

    def data(poses: int):
        out = tmp_path / f"p2i{poses}"
        cfg = GenerateConfig("p2i", 6, seed=2, recipe=CSGRecipe(primitives=3), options=TaskOptions(size=32, poses=poses),
                             split=(0.5, 0, 0.5), layout="packed")
        generate(cfg, out, progress=False)
        return out

    eight, twenty = data(8), data(20)
    assert max(q["pose"] for q in json.loads((twenty / "test" / "manifest.json").read_text())["questions"]) > 8
    run = tmp_path / "run"
    Trainer(_config(eight, task="p2i", epochs=1, batch_size=2, resolution=None), run, progress=False).fit()
    with pytest.raises(ValueError, match="poses up to .*, the run was trained on 8 poses"):
        evaluate_run(run, twenty, device="cpu")


def test_drawings_too_small_for_the_backbone_are_refused_before_training(i2p_data, tmp_path):
    with pytest.raises(ValueError, match="bagnet33-early cannot take 32 px drawings.*larger --resolution"):
        Trainer(_config(i2p_data, model="bagnet33-early", resolution=32), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_resume_from_another_folder_keeps_every_epoch_and_the_run_length(i2p_data, tmp_path, monkeypatch):
    """The data path is stored absolute (a relative one was compared against the new
    working folder), TensorBoard keeps the epochs before the resume (the purge step was
    one too early), and --resume without --epochs continues to the run's own length."""
    from spare3d_bench.cli import main

    run = tmp_path / "run"
    monkeypatch.chdir(i2p_data.parent)
    Trainer(_config(i2p_data.name, epochs=1), run, progress=False).fit()
    monkeypatch.chdir(tmp_path)
    Trainer(_config(i2p_data, epochs=2), run, resume=True, progress=False).fit()
    args = ["train", "--task", "i2p", "--model", "resnet18-early", "--data", str(i2p_data), "--out", str(run), "--batch-size", "4",
            "--lr", "1e-3", "--resolution", "32", "--device", "cpu", "--resume", "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert load_checkpoint(run / "last.pt")["epoch"] == 2 and json.loads((run / "config.json").read_text())["epochs"] == 2
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train_loss")] == [1, 2]


def test_malformed_or_mismatched_splits_are_refused_in_words(i2p_data, tmp_path):
    from spare3d_bench.data import QuestionDataset, open_split
    from spare3d_bench.spare3d_layout import load

    manifest = json.loads((i2p_data / "train" / "manifest.json").read_text())
    assert any(q["pose"] for q in manifest["questions"])  # the pose shown, which is the I2P answer...
    assert not QuestionDataset.from_packed(i2p_data / "train").poses.any()  # ...is not handed to the model
    copy = tmp_path / "nocard"
    shutil.copytree(i2p_data, copy)
    (copy / "dataset.json").unlink()
    with pytest.raises(ValueError, match="i2p questions, not t2i"):  # was a batch-size error mid-training
        Trainer(_config(copy, task="t2i"), tmp_path / "run", progress=False)

    def edit(change) -> None:
        m = json.loads(json.dumps(manifest))
        change(m["questions"][1])
        (copy / "train" / "manifest.json").write_text(json.dumps(m))

    edit(lambda q: q.update(answer=25))
    with pytest.raises(ValueError, match=r"question .* has answer 25; a i2p model scores 0\.\.3"):
        Trainer(_config(copy), tmp_path / "run", progress=False)
    edit(lambda q: q["candidates"].__setitem__(0, 99999))
    with pytest.raises(ValueError, match="manifest.json: question .* names drawing row 99999"):
        open_split(copy / "train")
    edit(lambda q: q["candidates"].append(0))
    with pytest.raises(ValueError, match="has 3 views and 2 candidates, question .* 3 and 1"):
        open_split(copy / "train")
    edit(lambda q: q.pop("views"))
    with pytest.raises(ValueError, match="manifest.json: question 1 is malformed"):
        open_split(copy / "train")
    layout = tmp_path / "layout"
    layout.mkdir()
    for text, message in (("[1, 2]", "expected an object of question id -> label, got an array"), ('{"0": "x"}', "label 'x' of question 0 is not an integer")):
        (layout / "answer.json").write_text(text)
        with pytest.raises(ValueError, match=message):
            load(layout, "t2i")
    assert not (tmp_path / "run").exists()


def test_bad_numbers_and_a_batch_norm_batch_of_one_are_refused_before_training(i2p_data, tmp_path):
    from spare3d_bench.cli import main
    from spare3d_bench.models import TaskSpec, build_model

    for bad in (dict(warmup=float("inf")), dict(warmup=float("nan")), dict(weight_decay=float("inf")), dict(clip=float("nan")), dict(lr=float("inf"))):
        with pytest.raises(ValueError, match="must be"):
            _config(i2p_data, **bad)
    args = ["train", "--task", "i2p", "--model", "resnet18-early", "--data", str(i2p_data), "--out", str(tmp_path / "r"), "--quiet"]
    with pytest.raises(SystemExit) as e:  # was an OverflowError traceback; now argparse names the option
        main([*args, "--warmup", "inf"])
    assert e.value.code == 2
    # I2P feeds one image per question: at 32 px ResNet's last batch norm sees 1 x 1 x 1 values
    with pytest.raises(ValueError, match="a batch of 1 question.* one value per channel.*--batch-size"):
        Trainer(_config(i2p_data, batch_size=1), tmp_path / "run", progress=False)
    # the training-mode check leaves batch-norm statistics (ResNet) and the random state
    # (VGG's dropout draws from it) as it found them
    for model in ("resnet18-early", "vgg13-early"):
        trainer = Trainer(_config(i2p_data, model=model, seed=3), tmp_path / model, progress=False)
        after = torch.get_rng_state()
        torch.manual_seed(3)
        fresh = build_model(model, TaskSpec("i2p", 3, 8))
        assert torch.equal(after, torch.get_rng_state())
        assert all(torch.equal(a, b) for a, b in zip(trainer.model.buffers(), fresh.buffers()))


def test_evaluation_refuses_empty_splits_foreign_files_and_overwriting_other_results(i2p_data, tmp_path):
    run = tmp_path / "run"
    Trainer(_config(i2p_data, epochs=1), run, progress=False).fit()
    empty = tmp_path / "empty" / "val"
    empty.mkdir(parents=True)
    (empty / "images.u8").write_bytes(b"")
    (empty / "manifest.json").write_text(json.dumps({"task": "i2p", "shape": [0, 64, 64, 3], "questions": []}))
    with pytest.raises(ValueError, match="no questions to evaluate"):  # was accuracy NaN, written as invalid JSON
        evaluate_run(run, empty, device="cpu")
    evaluate_run(run, i2p_data, "val", device="cpu")
    other = tmp_path / "other" / i2p_data.name  # another dataset of the same folder name
    shutil.copytree(i2p_data, other)
    with pytest.raises(ValueError, match=f"{i2p_data.name}-val.json: holds results on .*give this evaluation a --name"):
        evaluate_run(run, other, "val", device="cpu")
    assert evaluate_run(run, other, "val", device="cpu", name="other").questions == 3
    card_says_p2i = tmp_path / "p2i"  # a SPARE3D-layout split: its task is on the card
    (card_says_p2i / "test").mkdir(parents=True)
    (card_says_p2i / "test" / "answer.json").write_text('{"0": 1}')
    (card_says_p2i / "dataset.json").write_text(json.dumps({"task": "p2i"}))
    with pytest.raises(ValueError, match="p2i questions, not i2p"):  # was scored, 0.0%, exit 0
        evaluate_run(run, card_says_p2i, device="cpu")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    torch.save(load_checkpoint(run / "best.pt")["model"], foreign / "best.pt")  # a bare state dict
    with pytest.raises(ValueError, match="best.pt: not a spare3d training checkpoint"):
        evaluate_run(foreign, i2p_data, "val", device="cpu")


def test_the_demo_console_line_gives_the_interval_and_the_question_count():
    from spare3d_bench.demo import accuracy_line
    from spare3d_bench.evaluate import Evaluation

    e = Evaluation("i2p", "resnet18-early", "d", 20, 15, 0.75, wilson_interval(15, 20), 0.25, 0.5)
    assert accuracy_line(e) == "test accuracy 75.0% (95% CI 53.1-88.8%, 15/20 questions), chance 25%"


def test_train_infers_the_task_and_refuses_a_resume_of_nothing(i2p_data, tmp_path, capsys):
    """--task is read from dataset.json when left out (a mismatch stays an error); --resume
    with no earlier run started a fresh one silently."""
    from spare3d_bench.cli import main

    base = ["train", "--model", "resnet18-early", "--data", str(i2p_data), "--resolution", "32", "--batch-size", "4",
            "--device", "cpu", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "fresh"), "--resume"]) == 2
    assert "no run to resume (no last.pt); leave out --resume to start one" in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists()
    assert main([*base, "--out", str(tmp_path / "r"), "--epochs", "1"]) == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["task"] == "i2p"
    assert f"{tmp_path / 'r'}: 1 epoch on cpu" in capsys.readouterr().out  # not "1 epochs"
    assert main([*base, "--out", str(tmp_path / "t"), "--task", "t2i"]) == 2
    assert "i2p questions, not t2i" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "n"), "--data", str(tmp_path)]) == 2
    assert "no dataset.json or packed manifest names its task; give --task" in capsys.readouterr().err


@pytest.mark.parametrize("option, value, message", [
    ("--shift", "0.5", "must be a finite number in [0, 0.5), got 0.5"),
    ("--weight-decay", "nan", "must be a number >= 0 (finite), got nan"),
    ("--warmup", "inf", "must be a number >= 0 (finite), got inf"),
    ("--clip", "-1", "must be a number >= 0 (finite), got -1"),
    ("--lr", "0", "must be a positive number (finite), got 0"),
    ("--device", "tpu", "unknown device 'tpu' (use auto, cpu, cuda or cuda:N)"),
    ("--workers", "2", "--workers is now --loader-threads (loader threads; --workers counts processes in render and generate)"),
])
def test_each_bad_training_option_is_one_line_naming_it(option, value, message):
    res = subprocess.run([sys.executable, "-m", "spare3d_bench.cli", "train", "--model", "resnet18-early", "--data", "d",
                          "--out", "r", option, value], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert message in res.stderr and (option in res.stderr), res.stderr


def test_the_api_names_each_bad_setting():
    for key, value, message in (("shift", 0.5, "shift must be in"), ("clip", -1.0, "clip must be"),
                                ("weight_decay", float("nan"), "weight_decay must be"), ("device", "tpu", "unknown device")):
        with pytest.raises(ValueError, match=message):
            _config("d", **{key: value})


@pytest.mark.parametrize("batch, ranks", [(4, 2), (16, 2), (16, 4)])
def test_ranks_take_equal_disjoint_shares_of_every_batch(i2p_data, batch, ranks):
    """Under torchrun each rank takes its share of each batch; gathers need equal shares, so
    the one partial batch a split smaller than a batch keeps (9 questions, batch 16) is cut
    to a multiple of the ranks."""
    from spare3d_bench.data import HostBatches, open_split

    ds = open_split(i2p_data / "train")
    shares = []
    for rank in range(ranks):
        loader = HostBatches(ds, batch, drop_last=len(ds) >= batch)
        loader.shard = (rank, ranks)
        shares.append([b["index"].tolist() for b in loader])
    steps = {len(s) for s in shares}
    assert len(steps) == 1
    for step in range(steps.pop()):
        parts = [s[step] for s in shares]
        assert len({len(p) for p in parts}) == 1 and len(parts[0]) > 0
        together = [i for p in parts for i in p]
        assert len(set(together)) == len(together)
        assert len(together) == (batch if len(ds) >= batch else len(ds) - len(ds) % ranks)  # 9 over 2 ranks: 8
