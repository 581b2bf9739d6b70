"""Two processes with half a batch each (gloo, on the CPU) give the loss, the gradients and
the MoCo queue (its keys and their drawings) of one process with the whole batch, for
SimCLR, CLSA and DisCo: the place where both libraries users rely on shipped bugs
(negatives gathered without gradient, or the gradient of the gathered rows dropped or
double-counted)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

BATCH = 8
METHODS = ("simclr", "clsa", "disco")


def _method(name: str, teacher: Path):
    """The same network in every process (seeded), batch norm by running statistics (with
    a share of the batch per rank, batch statistics are SyncBN's business, not the loss's)."""
    from contrastive.disco import DisCo
    from contrastive.moco import CLSA
    from contrastive.simclr import SimCLR
    from contrastive.ssl import EmbeddingModel
    from spare3d_bench.inputs import InputOptions
    from spare3d_bench.models import TaskSpec
    from spare3d_bench.options import parse_options

    cls = {"simclr": SimCLR, "clsa": CLSA, "disco": DisCo}[name]
    given = {"simclr": {}, "clsa": {"queue": 32}, "disco": {"queue": 32, "teacher": str(teacher),
                                                             "teacher_model": "resnet18", "head_out": 512}}[name]
    torch.manual_seed(0)
    spec = TaskSpec("t2i", size=32)
    method = cls(spec, EmbeddingModel("resnet18", spec), parse_options(cls.Options, given, name), InputOptions())
    return method.eval()


def _inputs(method) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    sides = [32, 32, *getattr(method, "sides", [])]
    labels, ids = torch.zeros(BATCH, dtype=torch.long), torch.arange(BATCH)
    return [torch.rand(BATCH, 3, s, s, generator=g) for s in sides] + [labels, ids]


def _step(method, inputs) -> dict:
    """Loss, gradients and queue after a second step on the same drawings (backward and
    after-step), when the queue holds each drawing's own key of the first."""
    from spare3d_bench import distributed

    for _ in range(2):
        method.zero_grad()
        out = method.compute(*inputs)
        out.loss.backward()
        distributed.average_gradients(method.parameters())
        method.after_step()
    loss = torch.tensor(distributed.sum_over_ranks([out.loss.item()])[0] / distributed.world_size())
    grads = {k: p.grad.clone() for k, p in method.named_parameters() if p.grad is not None}
    queue = getattr(method, "queue", torch.zeros(0)).clone(), getattr(method, "queue_ids", torch.zeros(0)).clone()
    return {"loss": loss, "grads": grads, "queue": queue[0], "queue_ids": queue[1]}


def _worker(rank: int, world: int, root: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{root}/rendezvous", rank=rank, world_size=world)
    try:
        for name in METHODS:
            method = _method(name, Path(root) / "teacher.pt")
            share = BATCH // world
            inputs = [x[rank * share : (rank + 1) * share] for x in _inputs(method)]
            torch.save(_step(method, inputs), f"{root}/{name}-{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_with_half_a_batch_each_equal_one_with_all_of_it(tmp_path):
    import torch.multiprocessing as mp
    from torchvision.models import resnet18

    teacher = resnet18()
    teacher.fc = torch.nn.Identity()
    torch.save(teacher.state_dict(), tmp_path / "teacher.pt")
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2)
    for name in METHODS:
        method = _method(name, tmp_path / "teacher.pt")
        whole = _step(method, _inputs(method))
        for rank in range(2):
            part = torch.load(tmp_path / f"{name}-{rank}.pt", weights_only=True)
            assert part["loss"].item() == pytest.approx(whole["loss"].item(), rel=1e-5), name
            assert part["grads"].keys() == whole["grads"].keys()
            worst = max(float((part["grads"][k] - g).abs().max() / (g.abs().max() + 1e-12)) for k, g in whole["grads"].items())
            assert worst < 1e-4, f"{name}: gradients differ by up to {worst:.2e} of their size"
            assert torch.allclose(part["queue"], whole["queue"], atol=1e-6), name
            assert torch.equal(part["queue_ids"], whole["queue_ids"]), name


def test_torchrun_trains_with_two_processes_and_one_writer(poses_data, tmp_path):
    import json
    import subprocess
    import sys

    from spare3d_bench.data import drawing_pool, open_split
    from spare3d_bench.train import load_checkpoint

    from .conftest import ROOT

    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "spare3d_bench.cli",
                        "pretrain", "--method", "moco", "--queue", "1000", "--data", str(poses_data), "--out", str(run),
                        "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--quiet"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-800:]
    assert r.stdout.count(f"{run}: 1 epoch on cpu") == 1  # one summary: rank 0's
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and "val_knn" in rows[0]
    ckpt = load_checkpoint(run / "last.pt")
    steps = len(drawing_pool(open_split(poses_data / "train"))) // 16
    assert ckpt["epoch"] == 1 and int(ckpt["method"]["queue_ptr"]) == 16 * steps  # both ranks' keys, every step
