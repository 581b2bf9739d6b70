"""Small real datasets for the contrastive methods: pairs, pose data and T2I questions of
3-primitive SPARE3D-CSG models at 32 px, made once per test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generate(root: Path, task: str, models: int, split=(0.75, 0.25, 0.0), **options) -> Path:
    from spare3d_bench.csg import CSGRecipe
    from spare3d_bench.generate import GenerateConfig, generate
    from spare3d_bench.tasks import TaskOptions

    config = GenerateConfig(task, models, seed=7, recipe=CSGRecipe(primitives=3), options=TaskOptions(size=32, **options),
                            split=split, layout="packed")
    generate(config, root, progress=False)
    return root


@pytest.fixture(scope="session")
def pairs_data(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("pairs"), "pairs", 12)


@pytest.fixture(scope="session")
def poses_data(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("poses"), "poses", 16)


@pytest.fixture(scope="session")
def t2i_data(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("t2i"), "t2i", 12, split=(0.5, 0.25, 0.25))


def write_pairs(root: Path, split: str, images: np.ndarray) -> None:
    """Packed pair data from an array (pairs, 2 objects, 4 drawings f r t iso, H, W, 3)."""
    from spare3d_bench.packed import PackedWriter

    w = PackedWriter(root / split, "pairs", 0)
    for i, pair in enumerate(images):
        views = {f"{k}_{v}": pair[k][j] for k in (0, 1) for j, v in enumerate("frt")}
        q = SimpleNamespace(task="pairs", views=views, candidates=[pair[0][3], pair[1][3]], pose=None, candidate_poses=[])
        w.add(str(i), q, [1, 0, 0, 1], i, "synthetic", [])
    w.close()


def spare3d(*args: str) -> subprocess.CompletedProcess:
    """`spare3d ARGS` run in this process (torch is imported once, not per command, and
    freed memory is handed back after each: 4.1 GB at the peak, 8.0 without), from the
    repository root: its exit status and what it printed, as from subprocess.run.
    `kill_and_resume` starts the run it kills as a real process."""
    import os

    from spare3d_bench.harness.runner import run_command

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code, out, err = run_command(list(args))
    finally:
        os.chdir(cwd)
    return subprocess.CompletedProcess(["spare3d", *args], code, out, err)


@pytest.fixture(scope="session")
def teacher_run(poses_data, tmp_path_factory) -> Path:
    """A SimCLR run of one epoch on the pose data: a teacher for DisCo, an encoder to probe."""
    from spare3d_bench.train import TrainConfig, Trainer

    out = tmp_path_factory.mktemp("teacher")
    config = TrainConfig(task="poses", model="resnet18-embed", data=str(poses_data), method="simclr", epochs=1,
                         batch_size=16, lr=0.01, optimizer="sgd", device="cpu")
    Trainer(config, out, progress=False).fit()
    return out


@pytest.fixture(scope="session")
def i2p_data(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("i2p"), "i2p", 12, split=(0.5, 0.25, 0.25))


@pytest.fixture(scope="session")
def p2i_data(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("p2i"), "p2i", 12, split=(0.5, 0.25, 0.25))


def kill_and_resume(tmp_path: Path, command: list[str]) -> tuple[dict, dict]:
    """Run `spare3d <command>` whole, and again killed (SIGKILL) once its first epoch is
    checkpointed, then resumed; returns both runs' last checkpoints."""
    import os
    import signal
    import time

    from spare3d_bench.train import load_checkpoint

    whole = spare3d(*command, "--out", str(tmp_path / "whole"), "--quiet")
    assert whole.returncode == 0, whole.stderr[-800:]
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "spare3d_bench.cli", *command, "--out", str(run), "--quiet"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while not (run / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    epochs = int(command[command.index("--epochs") + 1])
    assert load_checkpoint(run / "last.pt")["epoch"] < epochs, "killed too late to test resuming"
    resumed = spare3d(*command, "--out", str(run), "--quiet", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-800:]
    return load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(run / "last.pt")


def same_state(a: dict, b: dict) -> bool:
    """Whether two checkpoints hold bit-identical weights and method state."""
    import torch

    parts = [("model", a["model"], b["model"]), ("method", a.get("method", {}), b.get("method", {}))]
    return all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for _, x, y in parts)
