"""The offline probe of drawing encoders (`spare3d probe`): batch-norm statistics from the
data, the rows each task's linear probe is fitted on, and the results it reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")
pytest.importorskip("sklearn")

from spare3d_bench.data import drawing_pool, open_split  # noqa: E402
from spare3d_bench.probe import _task_rows, data_bn, encode, load_encoder, probe  # noqa: E402

CPU = torch.device("cpu")


def test_data_statistics_bring_a_random_mobilenets_faded_features_back(poses_data):
    # torchvision's MobileNet-v3 keeps batch-norm statistics with momentum 0.01: at
    # initialisation they are not the data's, and in eval mode the signal fades layer by
    # layer to features of size 1e-9.
    net, _, inputs = load_encoder(None, "mobilenet_v3_large-embed")
    pool = drawing_pool(open_split(poses_data / "train"))
    saved = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    size, spread = [], []
    for encoder in (net.encoder, data_bn(net.encoder, pool, inputs, CPU, batch=32)):
        net.encoder = encoder
        f = encode(net, pool, inputs, CPU)
        size.append(float(np.abs(f).mean()))
        spread.append(float(f.std(0).mean()) / size[-1])
    assert size[0] < 1e-6 and size[1] > 0.01 and spread[1] > spread[0], (size, spread)
    fresh = load_encoder(None, "mobilenet_v3_large-embed")[0].encoder.state_dict()  # the same seed
    assert all(torch.equal(saved[k], v) for k, v in fresh.items())  # the copy was changed, not the encoder
    bn = ("running_mean", "running_var", "num_batches_tracked")
    assert all(torch.equal(v, saved[k]) for k, v in net.encoder.state_dict().items() if not k.endswith(bn))
    assert any(not torch.equal(v, saved[k]) for k, v in net.encoder.state_dict().items() if k.endswith(bn[:2]))


@pytest.mark.parametrize("task", ["t2i", "i2p", "p2i"])
def test_each_tasks_probe_rows_hold_the_features_of_its_drawings_and_its_answer(task, request):
    """Features that are the drawings' own row numbers: every probe row must show the rows
    of its question's views and candidate, and its label the answer."""
    data = request.getfixturevalue(f"{task}_data")
    ds = open_split(data / "train")
    pool = drawing_pool(ds)
    feats = pool.view_rows[:, :1].astype(np.float32)  # feature of drawing i: its image row
    x, y, answers = _task_rows(task, ds, feats, pool, 8)
    views = ds.view_rows.astype(np.float32)
    answer = np.asarray([int(a) for a in ds.answers])
    if task == "i2p":
        assert x.shape == (len(ds), 4) and answers is None
        assert np.array_equal(x[:, :3], views) and np.array_equal(x[:, 3], ds.candidate_rows[:, 0])
        assert np.array_equal(y, answer)
        return
    k = ds.candidate_rows.shape[1]
    rows = x.reshape(len(ds), k, -1)
    assert np.array_equal(rows[:, :, :3], views[:, None].repeat(k, 1))
    assert np.array_equal(rows[:, :, 3], ds.candidate_rows)
    assert np.array_equal(y.reshape(len(ds), k).argmax(1), answer) and y.sum() == len(ds)
    if task == "p2i":
        assert rows.shape[2] == 4 + 8 and np.array_equal(rows[:, 0, 4:].argmax(1) + 1, ds.poses)


def test_the_probe_scores_every_test_question_of_each_task_and_writes_its_results(t2i_data, i2p_data, teacher_run):
    for data in (t2i_data, i2p_data):
        task = json.loads((data / "dataset.json").read_text())["task"]
        n = len(open_split(data / "test"))
        (result,) = probe(teacher_run, data, "test", "cpu", name=f"{task}-test")
        assert (result.protocol, result.task, result.n, result.chance) == ("linear", task, n, 0.25)
        assert result.correct == round(result.accuracy * n) and result.ci95[0] <= result.accuracy <= result.ci95[1]
        saved = json.loads((teacher_run / "probe" / f"{task}-test.json").read_text())
        assert saved[0]["correct"] == result.correct and saved[0]["data"] == str(data / "test")
    with pytest.raises(ValueError, match="batch-norm statistics 'mean': data or saved"):
        probe(teacher_run, t2i_data, "test", "cpu", bn="mean")


@pytest.mark.parametrize("carried, pose_right", [("pose", 1.0), ("elevation", 0.25)])
def test_the_pose_probe_names_the_pose_and_its_elevation_from_what_the_features_carry(carried, pose_right, poses_data,
                                                                                     monkeypatch):
    """Features that are a one-hot of each drawing's pose, or only of whether it is seen from
    above (poses 1-4) or below (5-8): the elevation is named right either way; the pose, every
    time from the first, and from the second one pose of each four (every model is drawn
    from all 8)."""
    import spare3d_bench.probe as probe_module

    above_below = np.array([0, 1, 1, 1, 1, 2, 2, 2, 2])  # f, r, t (label 0), poses 1-8, written out
    width = 9 if carried == "pose" else 3

    def features(net, pool, inputs, device, batch=128):
        labels = np.asarray(pool.answers)
        return np.eye(width, dtype=np.float32)[labels if carried == "pose" else above_below[labels]]

    monkeypatch.setattr(probe_module, "encode", features)
    results = {(r.task, r.protocol): r for r in probe(None, poses_data, "val", "cpu", "resnet18-embed")}
    isometrics = 8 * len(open_split(poses_data / "val"))
    assert set(results) == {("pose", "kNN"), ("pose", "linear"), ("elevation", "kNN"), ("elevation", "linear")}
    assert all(r.n == isometrics for r in results.values())
    assert results[("pose", "kNN")].chance == 1 / 8 and results[("elevation", "kNN")].chance == 0.5
    assert results[("elevation", "kNN")].accuracy == results[("elevation", "linear")].accuracy == 1.0
    assert results[("pose", "linear")].accuracy == pose_right


def test_the_probe_reads_twenty_poses_from_the_dataset_card(tmp_path_factory, monkeypatch):
    """The card keeps the pose count under render.poses: a 20-pose dataset is probed 20-way
    (chance 5%), with the level poses 17-20 a class of their own."""
    import spare3d_bench.probe as probe_module
    from .conftest import _generate

    data = _generate(tmp_path_factory.mktemp("poses20"), "poses", 6, split=(0.5, 0.5, 0.0), poses=20)
    assert json.loads((data / "dataset.json").read_text())["render"]["poses"] == 20
    monkeypatch.setattr(probe_module, "encode", lambda net, pool, inputs, device, batch=128:
                        np.eye(21, dtype=np.float32)[np.asarray(pool.answers)])
    results = {(r.task, r.protocol): r for r in probe(None, data, "val", "cpu", "resnet18-embed")}
    assert results[("pose", "kNN")].n == 20 * len(open_split(data / "val"))
    assert results[("pose", "kNN")].chance == 1 / 20 and results[("pose", "kNN")].accuracy == 1.0
    assert results[("elevation", "kNN")].chance == 8 / 20 and results[("elevation", "kNN")].accuracy == 1.0


def test_each_pose_is_seen_from_above_below_or_level_as_its_direction_says():
    from spare3d_bench.data import ELEVATIONS, pose_elevation

    # SPARE3D's directions: poses 1-4 (x, y, +1), 5-8 (x, y, -1), 9-16 cube edges alternating
    # +z and -z, 17-20 in the horizontal plane.
    written = ["above"] * 4 + ["below"] * 4 + ["above", "below"] * 4 + ["level"] * 4
    assert [ELEVATIONS[e] for e in pose_elevation(np.arange(1, 21))] == written
    assert pose_elevation(np.array([[2, 6]])).tolist() == [[0, 1]]
    with pytest.raises(ValueError, match="poses are 1..20, not 0..3"):
        pose_elevation(np.array([0, 3]))


def test_the_probe_command_says_when_it_scores_val_for_a_missing_test_split(poses_data):
    from .conftest import spare3d

    r = spare3d("probe", "--random", "resnet18-embed", "--data", str(poses_data), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert f"{poses_data} has no test split; scoring val" in r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 4 and all(f"on {poses_data / 'val'}:" in line for line in lines)
