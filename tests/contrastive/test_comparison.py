"""The view-comparison network and its pair pretext: labels, learning, the T2I readout,
exact resume, --init and one-line refusals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from contrastive.comparison import ComparisonModel, pairing_labels  # noqa: E402
from contrastive.losses import NTXentLoss  # noqa: E402
from spare3d_bench.data import open_split  # noqa: E402
from spare3d_bench.inputs import InputOptions  # noqa: E402
from spare3d_bench.models import TaskSpec  # noqa: E402
from spare3d_bench.train import TrainConfig, Trainer, load_checkpoint, predict  # noqa: E402

from .conftest import kill_and_resume, same_state, spare3d, write_pairs  # noqa: E402

SMALL = {"hidden": 32}


def _config(data, **kw) -> TrainConfig:
    base = dict(task="pairs", model="resnet18-compare", data=str(data), epochs=1, batch_size=4, lr=1e-3, device="cpu",
                method="view-comparison", arch=SMALL)
    return TrainConfig(**{**base, **kw})


def test_pairing_labels_and_the_order_of_a_pairs_drawings(pairs_data, tmp_path):
    assert pairing_labels(2).tolist() == [[1, 0], [0, 1], [1, 0], [0, 1]]  # [1, 0, 0, 1] per pair
    trainer = Trainer(_config(pairs_data), tmp_path / "run", progress=False)
    batch = trainer.train_set.gather(np.arange(3))
    views, isos = trainer.method.prepare(batch, trainer.device)
    assert views.shape == (6, 3, 3, 32, 32) and isos.shape == (3, 2, 3, 32, 32)
    raw = batch["views"].permute(0, 1, 4, 2, 3).float() / 255  # (3 pairs, 6 drawings: 0_f 0_r 0_t 1_f 1_r 1_t)
    for p in range(3):
        for k in range(2):
            assert torch.equal(views[2 * p + k], raw[p, 3 * k : 3 * k + 3])  # object k's f, r, t


def _disc(r: int, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    img = np.full((size, size, 3), 255, np.uint8)
    img[(xx - size // 2) ** 2 + (yy - size // 2) ** 2 <= r * r] = 0
    return img


def test_a_tiny_cpu_run_separates_matched_from_crossed_pairs(tmp_path):
    """A toy set the network can learn in seconds: each object is a disc of its own radius
    in all four drawings; a pair's two objects differ. Training accuracy: how often a view
    set scores its own isometric above its pair's other one."""
    rng = np.random.default_rng(0)

    def pairs(n):
        out = []
        for _ in range(n):
            radii = rng.choice(np.arange(2, 15), 2, replace=False)
            out.append([[_disc(r)] * 4 for r in radii])
        return np.array(out)

    write_pairs(tmp_path / "toy", "train", pairs(32))
    write_pairs(tmp_path / "toy", "val", pairs(8))
    config = _config(tmp_path / "toy", epochs=8, batch_size=8, schedule="constant", arch={"hidden": 64, "dropout": False})
    history = Trainer(config, tmp_path / "run", progress=False).fit()
    assert history[0]["train_accuracy"] < 0.8 and history[-1]["train_accuracy"] > 0.9, history


def test_the_direct_t2i_readout_with_an_oracle_comparator_scores_100(t2i_data):
    """Score each candidate with a comparator that knows which isometric belongs to which
    views (looked up from the answers): the readout must then pick every right answer."""
    ds = open_split(t2i_data / "test")
    key = {}
    for i in range(len(ds)):
        item = ds[i]
        key[item["views"][0].numpy().tobytes()] = item["candidates"][int(item["answer"])].numpy().tobytes()

    class Oracle(torch.nn.Module):
        def forward(self, views, isos):
            def raw(x):
                return (x * 255).round().to(torch.uint8).permute(1, 2, 0).numpy().tobytes()

            return torch.tensor([[[10.0 if key[raw(views[b, 0])] == raw(isos[b, k]) else -10.0] for k in range(isos.shape[1])]
                                 for b in range(len(views))])

    model = ComparisonModel("resnet18", TaskSpec("t2i", 3, 8, 32), options=ComparisonModel.Options(hidden=8))
    model.net = Oracle()
    result = predict(model, ds, InputOptions(), torch.device("cpu"), batch=3)
    assert len(ds) >= 3 and result.accuracy == 1.0 and sorted(set(result.answers)) != [0]


def test_the_ntxent_variant_is_one_option_away(pairs_data, tmp_path):
    """The paper's comparison (NT-Xent 48.4 against BCE 74.9 on T2I) is two runs that
    differ in --loss: NT-Xent runs on the cosine head, between each object's view and
    isometric embeddings, its pair's other object a negative."""
    bce = Trainer(_config(pairs_data), tmp_path / "bce", progress=False)
    nt = Trainer(_config(pairs_data, options={"loss": "ntxent"}), tmp_path / "nt", progress=False)
    assert bce.config.arch["head"] == "joint" and nt.config.arch["head"] == "cosine"
    assert {k: v for k, v in json.loads((tmp_path / "nt" / "config.json").read_text()).items() if k not in ("options", "arch")} == \
        {k: v for k, v in json.loads((tmp_path / "bce" / "config.json").read_text()).items() if k not in ("options", "arch")}
    views, isos = nt.method.prepare(nt.train_set.gather(np.arange(4)), nt.device)
    nt.method.train()
    torch.manual_seed(0)
    out = nt.method.compute(views, isos)
    za, zb = nt.model.net.embed(views, isos.flatten(0, 1))
    assert out.loss.item() == pytest.approx(NTXentLoss(0.1)(za, zb).item(), rel=1e-5) and out.count == 8
    assert np.isfinite(nt.fit()[-1]["train_loss"])


def test_a_killed_and_resumed_pretraining_ends_with_the_same_weights(pairs_data, tmp_path):
    # One loss is enough: the loss holds no state; what a checkpoint must carry is the same for both.
    command = ["pretrain", "--method", "view-comparison", "--model", "resnet18-compare", "--arch", "hidden=32",
               "--loss", "ntxent", "--data", str(pairs_data), "--epochs", "2", "--batch-size", "3", "--lr", "1e-3",
               "--shift", "0.05", "--device", "cpu"]
    whole, resumed = kill_and_resume(tmp_path, command)
    assert whole["epoch"] == resumed["epoch"] == 2 and same_state(whole, resumed)
    assert [r["train_loss"] for r in whole["history"]] == [r["train_loss"] for r in resumed["history"]]


def test_init_starts_the_t2i_model_from_the_pretrained_network(pairs_data, t2i_data, tmp_path):
    Trainer(_config(pairs_data), tmp_path / "vc", progress=False).fit()
    pretrained = load_checkpoint(tmp_path / "vc" / "best.pt")["model"]
    res = spare3d("train", "--init", str(tmp_path / "vc"), "--data", str(t2i_data), "--out", str(tmp_path / "ft"),
                  "--epochs", "1", "--batch-size", "2", "--device", "cpu", "--quiet")
    assert res.returncode == 0, res.stderr
    config = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert config["model"] == "resnet18-compare" and config["arch"]["hidden"] == 32 and config["task"] == "t2i"
    fine = Trainer(TrainConfig(task="t2i", model="resnet18-compare", data=str(t2i_data), epochs=1, device="cpu",
                               arch=SMALL, init=str(tmp_path / "vc")), tmp_path / "check", progress=False)
    own = fine.model.state_dict()
    assert own.keys() == pretrained.keys() and all(torch.equal(own[k], pretrained[k]) for k in own)  # encoders and head
    assert spare3d("evaluate", str(tmp_path / "vc"), "--data", str(t2i_data), "--device", "cpu").returncode == 0


def test_bad_input_is_one_line(pairs_data, t2i_data, tmp_path):
    Trainer(_config(pairs_data), tmp_path / "vc", progress=False).fit()
    cases = [
        (["train", "--init", str(tmp_path / "vc"), "--model", "vgg13-compare"], "does not fit vgg13-compare"),
        (["train", "--init", str(tmp_path / "vc"), "--arch", "share=1"], "does not fit resnet18-compare"),
        (["train", "--model", "vgg13-early", "--data", str(pairs_data)], "holds pairs data, not t2i or i2p or p2i data"),
        (["pretrain", "--method", "view-comparison", "--data", str(t2i_data)], "holds t2i data, not pairs data"),
        (["pretrain", "--method", "view-comparison", "--model", "resnet18-early", "--data", str(pairs_data)],
         "trains a <backbone>-compare network, not resnet18-early"),
        (["pretrain", "--method", "nosuch", "--data", str(pairs_data)], "unknown method 'nosuch'"),
        (["pretrain", "--method", "view-comparison", "--loss", "ntxent", "--arch", "head=joint", "--data", str(pairs_data)],
         "needs --arch head=cosine"),
        (["pretrain", "--method", "view-comparison", "--arch", "views=no", "--data", str(pairs_data)],
         "it needs --arch views=yes"),
        (["evaluate", str(tmp_path / "vc"), "--data", str(pairs_data), "--split", "val"], "a view-comparison run answers t2i"),
    ]
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "best.pt").write_bytes(b"\x80\x04 not a checkpoint")
    cases.append((["train", "--init", str(garbage)], "cannot read the checkpoint"))
    for args, message in cases:
        if args[0] in ("train", "pretrain") and "--data" not in args:
            args = [*args, "--data", str(t2i_data)]
        if args[0] != "evaluate":
            args = [*args, "--out", str(tmp_path / "out"), "--device", "cpu", "--epochs", "1"]
        res = spare3d(*args)
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
