"""The pose pretext: I2P and P2I read out of a pose classifier, training on pose data,
direct evaluation, exact resume."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

from contrastive.pose import PoseModel  # noqa: E402
from spare3d_bench.models import TaskSpec  # noqa: E402
from spare3d_bench.train import TrainConfig, Trainer  # noqa: E402

from .conftest import kill_and_resume, same_state, spare3d  # noqa: E402


class _Table(torch.nn.Module):
    """A stand-in network that returns a fixed logit table (B, K, P)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def forward(self, views, isos):
        return self.table


def _model(task: str, poses: int, table: torch.Tensor) -> PoseModel:
    model = PoseModel("resnet18", TaskSpec(task, 3, poses, 32), options=PoseModel.Options(hidden=8))
    model.net = _Table(table)
    return model


def test_i2p_reads_the_logits_of_poses_1_2_5_6():
    table = torch.full((3, 1, 8), -5.0)
    table[0, 0, 4] = 3.0  # pose 5 -> label 2
    table[1, 0, 2], table[1, 0, 1] = 9.0, 1.0  # pose 3 is no choice: pose 2 -> label 1
    table[2, 0, 5] = 2.0  # pose 6 -> label 3
    scores = _model("i2p", 8, table)(None, torch.zeros(3, 1), torch.zeros(3, dtype=torch.long))
    assert scores.shape == (3, 4) and scores.argmax(1).tolist() == [2, 1, 3]
    assert torch.equal(scores[0], table[0, 0, [0, 1, 4, 5]])


def test_extended_i2p_reads_all_twenty_poses():
    table = torch.zeros(2, 1, 20)
    table[0, 0, 13], table[1, 0, 19] = 1.0, 1.0
    scores = _model("i2p", 20, table)(None, torch.zeros(2, 1), torch.zeros(2, dtype=torch.long))
    assert scores.argmax(1).tolist() == [13, 19]  # label = pose - 1


@pytest.mark.parametrize("poses", [8, 20])
def test_p2i_scores_each_candidate_by_the_queried_poses_logit(poses):
    table = torch.zeros(2, 4, poses)
    table[0, :, 2] = torch.tensor([0.1, 0.9, 0.3, 0.2])  # question 0 asks pose 3: candidate 1
    table[0, 0, 0] = 50.0  # a large logit of another pose does not count
    table[1, :, poses - 1] = torch.tensor([0.0, 0.1, 0.2, 0.7])  # question 1 asks the last pose: candidate 3
    pose = torch.tensor([3, poses])
    scores = _model("p2i", poses, table)(None, torch.zeros(2, 4), pose)
    assert scores.argmax(1).tolist() == [1, 3] and torch.equal(scores[0], table[0, :, 2])


def test_the_pretext_trains_on_pose_data_and_answers_i2p_and_p2i_directly(poses_data, i2p_data, p2i_data, tmp_path):
    run = tmp_path / "pose"
    res = spare3d("pretrain", "--method", "pose", "--model", "resnet18-pose", "--arch", "hidden=32", "--data", str(poses_data),
                  "--out", str(run), "--epochs", "2", "--batch-size", "4", "--lr", "1e-3", "--device", "cpu", "--quiet")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # 12 models at 32 px for 2 epochs leave the pose at chance (losses near ln 8, up or down
    # by the drawings' details): this checks the machinery, not learning.
    assert [r["epoch"] for r in rows] == [1, 2] and all(math.isfinite(r["train_loss"]) for r in rows)
    assert 0 <= rows[-1]["val_accuracy"] <= 1
    for data, task, chance in ((i2p_data, "i2p", 25), (p2i_data, "p2i", 25)):
        res = spare3d("evaluate", str(run), "--data", str(data), "--device", "cpu")
        assert res.returncode == 0 and res.stdout.startswith(f"{task} resnet18-pose on ") and f"chance {chance}%" in res.stdout
        assert json.loads((run / "eval" / f"{data.name}-test.json").read_text())["task"] == task
    res = spare3d("train", "--init", str(run), "--data", str(p2i_data), "--out", str(tmp_path / "ft"), "--epochs", "1",
                  "--batch-size", "2", "--device", "cpu", "--quiet")  # fine-tuning on P2I from the pretext
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["model"] == "resnet18-pose"


class _Named(torch.nn.Module):
    """A stand-in network that names pose NAMED[k] (0-based) for the k-th isometric of every row."""

    NAMED = [0, 2, 1, 4, 5, 7, 6, 3]

    def forward(self, views, isos):
        return 5.0 * torch.nn.functional.one_hot(torch.tensor(self.NAMED), 8).float().expand(len(isos), 8, 8)


def test_validation_scores_each_isometrics_pose_and_its_elevation(poses_data, tmp_path):
    from contrastive.pose import PosePretext
    from spare3d_bench.data import open_split
    from spare3d_bench.inputs import InputOptions

    spec = TaskSpec("i2p", 3, 8, 32)
    model = PoseModel("resnet18", spec, options=PoseModel.Options(hidden=8))
    model.net = _Named()
    method = PosePretext(spec, model, None, InputOptions(3))
    val = open_split(poses_data / "val")
    got = method.validate(val, torch.device("cpu"), 3)  # batches of 3, the last one short
    # Poses 1-4 are seen from above, 5-8 from below: 2 of the 8 named right, 6 on the right side.
    hit, miss = -math.log(math.exp(5) / (math.exp(5) + 7)), -math.log(1 / (math.exp(5) + 7))
    assert got["val_accuracy"] == 2 / 8 and got["val_elevation"] == 6 / 8
    assert got["val_loss"] == pytest.approx((2 * hit + 6 * miss) / 8, rel=1e-6)
    assert len(val) % 3 != 0


def test_a_killed_and_resumed_pose_pretext_ends_with_the_same_weights(poses_data, tmp_path):
    command = ["pretrain", "--method", "pose", "--model", "resnet18-pose", "--arch", "hidden=32", "--data", str(poses_data),
               "--epochs", "2", "--batch-size", "4", "--lr", "1e-3", "--shift", "0.05", "--device", "cpu"]
    whole, resumed = kill_and_resume(tmp_path, command)
    assert whole["epoch"] == resumed["epoch"] == 2 and same_state(whole, resumed)


def test_pose_data_of_the_wrong_kind_is_refused(pairs_data, tmp_path):
    with pytest.raises(ValueError, match="holds pairs data|pairs data; the pose method trains on poses"):
        Trainer(TrainConfig(task="pairs", model="resnet18-pose", data=str(pairs_data), device="cpu", method="pose"),
                tmp_path / "r", progress=False)
