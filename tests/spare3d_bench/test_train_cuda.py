"""The training loop on CUDA (skipped without a GPU). No OpenCascade needed: the data are
synthetic drawings written in the packed layout, as a GPU box would receive them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("needs CUDA", allow_module_level=True)

from spare3d_bench.data import QuestionDataset  # noqa: E402
from spare3d_bench.packed import PackedWriter  # noqa: E402
from spare3d_bench.train import TrainConfig, Trainer  # noqa: E402


@pytest.fixture(scope="module")
def t2i_data(tmp_path_factory):
    """24 T2I questions of random 64 px line-like drawings; the answer is candidate i % 4."""
    root = tmp_path_factory.mktemp("t2i")
    rng = np.random.default_rng(0)
    for split, n in (("train", 16), ("val", 8)):
        w = PackedWriter(root / split, "t2i", 0)
        for i in range(n):
            imgs = np.where(rng.random((7, 64, 64, 1)) < 0.05, 0, 255).astype(np.uint8).repeat(3, axis=3)
            q = SimpleNamespace(task="t2i", views={"f": imgs[0], "r": imgs[1], "t": imgs[2]}, candidates=list(imgs[3:]), pose=None, candidate_poses=[])
            w.add(str(i), q, i % 4, i, "synthetic", [])
        w.close()
    return root


def _trainer(data, out, **kw) -> Trainer:
    config = TrainConfig(task="t2i", model="resnet18-early", data=str(data), epochs=2, batch_size=4, lr=1e-3, device="cuda", **kw)
    return Trainer(config, out, progress=False)


def test_device_resident_and_loader_batches_are_the_same(t2i_data, tmp_path):
    on_gpu = _trainer(t2i_data, tmp_path / "a", data_on_device="yes")
    loader = _trainer(t2i_data, tmp_path / "b", data_on_device="no", workers=2)
    for a, b in zip(on_gpu.loader, loader.loader):
        assert a["views"].device.type == "cuda" and a["views"].dtype == torch.uint8
        assert torch.equal(a["index"].cpu(), b["index"]) and torch.equal(a["candidates"].cpu(), b["candidates"])


def test_cuda_training_uses_channels_last_and_bf16(t2i_data, tmp_path):
    trainer = _trainer(t2i_data, tmp_path / "run", resolution=48, shift=0.05)
    assert trainer.model.net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    batch = next(iter(trainer.loader))
    with trainer.autocast():
        from spare3d_bench.inputs import prepare

        views, candidates, pose, _ = prepare(batch, trainer.config.inputs, trainer.device)
        assert views.shape == (4, 3, 3, 48, 48)
        assert trainer.model(views, candidates, pose).dtype == torch.bfloat16
    history = trainer.fit()
    assert len(history) == 2 and np.isfinite(history[-1]["train_loss"]) and "val_accuracy" in history[-1]
    ds = QuestionDataset.from_packed(t2i_data / "val")
    from spare3d_bench.evaluate import evaluate_run

    e = evaluate_run(tmp_path / "run", t2i_data, "val", device="cuda")
    assert e.questions == len(ds) == 8


def test_a_pretraining_method_runs_on_cuda_with_channels_last_and_bf16(tmp_path):
    """The view-comparison method through the same loop on the GPU: its encoders in
    channels_last, its forward in bf16, a finite loss and validation figure."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from view_comparison import synthetic_pairs

    data = synthetic_pairs(tmp_path / "pairs", 16, 64)
    config = TrainConfig(task="pairs", model="resnet18-compare", data=str(data), epochs=2, batch_size=4, lr=1e-4,
                         device="cuda", method="view-comparison", arch={"hidden": 64})
    trainer = Trainer(config, tmp_path / "run", progress=False)
    conv = trainer.model.net.enc_iso.trunk.stem[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    views, isos = trainer.method.prepare(next(iter(trainer.loader)), trainer.device)
    with trainer.autocast():
        assert trainer.model.net(views, isos.repeat_interleave(2, dim=0)).dtype == torch.bfloat16
    history = trainer.fit()
    assert np.isfinite(history[-1]["train_loss"]) and "val_accuracy" in history[-1]
