"""SimCLR, MoCo, CLSA and DisCo on single drawings: the pool, the monitors, the queue and
momentum updates, the frozen teacher, exact resume, --init into task models and one-line
refusals."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

import spare3d_bench  # noqa: E402
from contrastive.ssl import EmbeddingModel, momentum_update  # noqa: E402
from spare3d_bench.data import drawing_pool, open_split  # noqa: E402
from spare3d_bench.probe import knn_predict  # noqa: E402
from spare3d_bench.train import TrainConfig, Trainer, load_checkpoint  # noqa: E402

from .conftest import same_state, spare3d  # noqa: E402


def _config(data, method: str, epochs: int = 2, **options) -> TrainConfig:
    options = {"queue": 32, **options} if method in ("moco", "clsa", "disco") else options
    return TrainConfig(task="poses", model="resnet18-embed", data=str(data), method=method, epochs=epochs, batch_size=16,
                       lr=0.01, optimizer="sgd", device="cpu", options=options)


def test_the_pool_is_every_drawing_once_labelled_by_the_pose_it_shows(poses_data, pairs_data):
    split = open_split(poses_data / "train")
    pool = drawing_pool(split)
    rows = np.concatenate([split.view_rows.ravel(), split.candidate_rows.ravel()])
    assert len(pool) == len(np.unique(rows)) == len(split) * 11  # f, r, t and 8 isometrics a model
    labels = dict(zip(pool.view_rows[:, 0].tolist(), pool.answers))
    first = split.candidate_rows[0].tolist()
    assert [labels[r] for r in first] == list(range(1, 9))
    assert [labels[r] for r in split.view_rows[0].tolist()] == [0, 0, 0]
    pairs = drawing_pool(open_split(pairs_data / "train"))
    assert set(pairs.answers) == {0} and len(pairs) == 8 * len(open_split(pairs_data / "train"))


def test_knn_votes_by_similarity_weighted_neighbours():
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 1.0]])
    labels = torch.tensor([1, 1, 2, 2, 2])
    queries = torch.tensor([[1.0, 0.05], [0.05, 1.0]])
    assert knn_predict(queries, bank, labels, 3, k=2).tolist() == [1, 2]
    # k = 5: three class-2 votes outweigh two close class-1 ones only at a high temperature.
    q = torch.tensor([[1.0, 0.3]])
    assert knn_predict(q, bank, labels, 3, k=5, temperature=0.01).tolist() == [1]
    assert knn_predict(q, bank, labels, 3, k=5, temperature=100.0).tolist() == [2]


@pytest.mark.parametrize("grouping, elevation_right", [("elevation", 1.0), ("side", 0.5)])
def test_the_monitor_names_the_elevation_by_knn_from_what_the_features_carry(grouping, elevation_right, poses_data,
                                                                             tmp_path):
    """Features that only tell poses 1-4 (above) from 5-8 (below) name every validation
    isometric's elevation; features that only tell poses 1, 2, 5, 6 from 3, 4, 7, 8 (the
    side) leave it at chance: each group holds as many isometrics seen from above as from
    below."""
    trainer = Trainer(_config(poses_data, "simclr", epochs=1), tmp_path / "run", progress=False)
    method, val = trainer.method, drawing_pool(open_split(poses_data / "val"))
    group = {"elevation": [0, 0, 0, 0, 1, 1, 1, 1], "side": [0, 0, 1, 1, 0, 0, 1, 1]}[grouping]  # of poses 1..8

    def features(encoder, pool, device, batch, limit=None):
        labels = torch.as_tensor(np.asarray(pool.answers)[np.asarray(pool.answers) > 0])
        return torch.eye(method.model.features)[[group[int(y) - 1] for y in labels]], labels  # a one-hot of the group

    method.embed_pool = features
    row = method.validate(val, torch.device("cpu"), 16)
    assert row["val_knn_elevation"] == elevation_right
    assert set(row) == {"val_knn", "val_linear", "val_knn_elevation"}


def test_the_knn_bank_keeps_every_poses_share_when_it_is_cut():
    """A pose pool lists each model's isometrics in pose order. 4,095 models of 8 poses cut
    to 4,096 by evenly spaced picks kept 2 of the 8 poses; each must keep 512, and uneven
    labels their shares."""
    from spare3d_bench.data import spread_by_label

    labels = np.tile(np.arange(1, 9), 4095)
    idx = spread_by_label(labels, 4096)
    assert len(idx) == 4096 and np.bincount(labels[idx]).tolist() == [0] + [512] * 8
    assert np.all(np.diff(idx) > 0)
    uneven = np.array([1] * 10 + [2] * 3 + [3] * 7)
    assert uneven[spread_by_label(uneven, 5)].tolist() == [1, 1, 2, 3, 3]  # quotas 2.5, 0.75, 1.75
    assert spread_by_label(uneven, 20).tolist() == list(range(20))


def test_clsa_adds_alpha_times_the_ddm_of_every_strong_crop_summed(poses_data, tmp_path):
    """CLSA's multi-crop loss is the contrastive loss plus alpha times the DDM of each of the
    five strong crops, summed (as its training code adds them), each written out here as
    -sum_j p_weak(j) log p_strong(j) over [positive key, queue] at the temperature."""
    import torch.nn.functional as F

    trainer = Trainer(_config(poses_data, "clsa", crops="multi", alpha=0.5), tmp_path / "run", progress=False)
    method = trainer.method
    *views, _, ids = method.prepare(trainer.train_set.gather(np.arange(8)), torch.device("cpu"),
                                    torch.Generator().manual_seed(0))
    assert len(views) == 7  # two weak views, five strong crops
    method.eval()  # batch norm by its running statistics: every call below sees the same network
    with torch.no_grad():
        features = [method.net(v) for v in views]
        total = method.loss(features, views, ids)
        method.options = replace(method.options, alpha=0.0)
        contrastive = method.loss(features, views, ids)
        key = F.normalize(method.keys(views[1]), dim=1)
        queue, tau = F.normalize(method.queue, dim=1), method.options.temperature

        def logits(feature):
            q = F.normalize(method.head(feature), dim=1)
            return torch.cat([(q * key).sum(1, keepdim=True), q @ queue.T], dim=1) / tau

        weak = logits(features[0]).softmax(1)
        ddm = [-(weak * logits(f).softmax(1).log()).sum(1).mean() for f in features[2:]]
    assert torch.allclose(total - contrastive, 0.5 * sum(ddm), rtol=1e-4), (float(total - contrastive), ddm)


@pytest.mark.parametrize("argv, expected", [
    ([], ("lars", 256, 0.3, 1e-6, 10.0)),  # SimCLR's 0.3 x batch / 256, LARS, 10 epochs of warm-up
    (["--batch-size", "64"], ("lars", 64, 0.075, 1e-6, 10.0)),
    (["--batch-size", "64", "--lr", "0.5", "--weight-decay", "0", "--warmup", "0.5"], ("lars", 64, 0.5, 0.0, 0.5)),
    (["--method", "moco", "--batch-size", "128"], ("sgd", 128, 0.015, 1e-4, 0.0)),
    (["--method", "pose"], ("adam", 8, 5e-5, 0.0, 0.0)),  # the data's SPARE3D batch
])
def test_pretrain_fills_what_the_command_leaves_out_with_the_methods_recipe(argv, expected, poses_data, tmp_path):
    from spare3d_bench.cli import build_parser
    from spare3d_bench.cli_train import _config_from_args
    from spare3d_bench.methods import method_class

    args = build_parser().parse_args(["pretrain", "--method", "simclr", "--data", str(poses_data), "--out",
                                      str(tmp_path / "run"), *argv])
    config = _config_from_args(args, "poses", "resnet18-embed", {}, args.method, {}, defaults=method_class(args.method))
    assert (config.optimizer, config.batch, config.lr, config.weight_decay, config.warmup) == pytest.approx(expected)
    train = build_parser().parse_args(["train", "--data", str(poses_data), "--out", str(tmp_path / "t")])
    config = _config_from_args(train, "i2p", "vgg16-early", {})
    assert (config.optimizer, config.batch, config.lr, config.weight_decay, config.warmup) == ("adam", 70, 2e-5, 0, 0)


def test_simclrs_head_has_batch_norm_and_moco_v2s_has_none(poses_data, tmp_path):
    """SimCLR's projection head normalises its hidden layer; MoCo v2's (and so CLSA's and
    DisCo's) is Linear-ReLU-Linear, and a teacher run is rebuilt with the head it had."""
    from contrastive.disco import load_teacher

    def norms(head):
        return [type(m).__name__ for m in head.modules() if isinstance(m, torch.nn.BatchNorm1d)]

    assert norms(Trainer(_config(poses_data, "simclr"), tmp_path / "s", progress=False).method.head) == ["BatchNorm1d"]
    moco = Trainer(_config(poses_data, "moco", epochs=1), tmp_path / "m", progress=False)
    assert norms(moco.method.head) == norms(moco.method.key_head) == []
    assert [type(m).__name__ for m in moco.method.head.net] == ["Linear", "ReLU", "Linear"]
    moco.fit()
    teacher = load_teacher(str(tmp_path / "m"), "resnet50", 3)
    assert norms(teacher.head) == [] and teacher.hidden == 512
    with_bn = Trainer(_config(poses_data, "moco", head_bn=True), tmp_path / "b", progress=False)
    assert norms(with_bn.method.head) == ["BatchNorm1d"]


def test_momentum_update_is_the_exponential_average():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    expected = 0.9 * a.weight.detach() + 0.1 * b.weight.detach()
    momentum_update(a, b, 0.9)
    assert torch.allclose(a.weight, expected)


def test_moco_queues_the_keys_after_the_step_and_wraps_around(poses_data, tmp_path):
    trainer = Trainer(_config(poses_data, "moco", queue=40), tmp_path / "run", progress=False)
    method = trainer.method
    before_queue, before_keys = method.queue.clone(), [p.clone() for p in method.key_encoder.parameters()]
    batch = trainer.train_set.gather(np.arange(16))
    trainer.step(batch)
    assert int(method.queue_ptr) == 16
    assert not torch.equal(method.queue[:16], before_queue[:16]) and torch.equal(method.queue[16:], before_queue[16:])
    assert torch.allclose(method.queue[:16].norm(dim=1), torch.ones(16))
    moved = [not torch.equal(p, q) for p, q in zip(method.key_encoder.parameters(), before_keys)]
    assert any(moved) and all(not p.requires_grad for p in method.key_encoder.parameters())
    trainer.step(batch)
    trainer.step(batch)
    assert int(method.queue_ptr) == 48 % 40  # 16 + 16 + 16 wraps past 40


def test_a_batch_larger_than_the_queue_leaves_it_the_newest_keys(poses_data, tmp_path):
    trainer = Trainer(_config(poses_data, "moco", queue=16), tmp_path / "run", progress=False)
    method = trainer.method
    batch = trainer.train_set.gather(np.arange(24))
    trainer.step(batch)
    assert method.queue_ids.tolist() == batch["index"][8:].tolist() and int(method.queue_ptr) == 0
    assert torch.allclose(method.queue.norm(dim=1), torch.ones(16))


def test_a_drawing_never_meets_its_own_queued_key_as_a_negative(poses_data, tmp_path):
    """A pool of a few thousand drawings and a queue of 4,096: each drawing would meet its
    key of the epoch before among its negatives. The queue keeps the keys' drawings and the
    loss leaves them out, here against InfoNCE over each query's remaining keys."""
    from contrastive.losses import InfoNCELoss

    trainer = Trainer(_config(poses_data, "moco", queue=40), tmp_path / "run", progress=False)
    method = trainer.method
    trainer.step(trainer.train_set.gather(np.arange(16)))
    assert torch.equal(method.queue_ids[:16], torch.arange(16)) and (method.queue_ids[16:] == -1).all()
    *views, _, ids = method.prepare(trainer.train_set.gather(np.arange(8, 24)), trainer.device)  # 8..15 queued
    assert ids.tolist() == list(range(8, 24))
    with torch.no_grad():
        features = [method.net(v) for v in views]
        loss = method.loss(features, views, ids)
        queries = [method.head(f) for f in features[:2]]
        keys = [method.keys(v) for v in views[:2]]
    method._pending = None
    by_hand, nce = 0.0, InfoNCELoss(method.options.temperature)
    for i, drawing in enumerate(ids.tolist()):
        negatives = method.queue[method.queue_ids != drawing]
        assert len(negatives) == (39 if drawing < 16 else 40)
        by_hand += nce(queries[0][i : i + 1], keys[1][i : i + 1], negatives) + nce(queries[1][i : i + 1], keys[0][i : i + 1], negatives)
    assert loss.item() == pytest.approx(by_hand.item() / (2 * len(ids)), rel=1e-5)


def test_the_teacher_is_never_updated(poses_data, teacher_run, tmp_path):
    trainer = Trainer(_config(poses_data, "disco", teacher=str(teacher_run)), tmp_path / "run", progress=False)
    teacher = trainer.method.teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    trainer.fit()
    assert not teacher.training
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    saved = load_checkpoint(teacher_run / "best.pt")
    assert torch.equal(teacher.encoder.conv1.weight, saved["model"]["encoder.conv1.weight"])


@pytest.mark.parametrize("method", ["simclr", "moco", "clsa", "disco"])
def test_a_killed_and_resumed_run_ends_bit_identical(method, poses_data, teacher_run, tmp_path):
    options = {"teacher": str(teacher_run)} if method == "disco" else {}
    config = _config(poses_data, method, **options)
    Trainer(config, tmp_path / "whole", progress=False).fit()
    killed = Trainer(config, tmp_path / "killed", progress=False)
    real, calls = killed.method.validate, []

    def validate_then_die(*args):
        calls.append(1)
        if len(calls) == 2:  # epoch 2 is lost: last.pt holds epoch 1
            raise KeyboardInterrupt
        return real(*args)

    killed.method.validate = validate_then_die
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    assert load_checkpoint(tmp_path / "killed" / "last.pt")["epoch"] == 1
    Trainer(config, tmp_path / "killed", resume=True, progress=False).fit()
    whole, resumed = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(tmp_path / "killed" / "last.pt")
    assert same_state(whole, resumed)
    assert [r["train_loss"] for r in whole["history"]] == [r["train_loss"] for r in resumed["history"]]
    assert "val_knn" in whole["history"][-1] and "val_linear" in whole["history"][-1]
    for row in whole["history"]:  # the loss minimised is the method's plus the monitor's, each logged
        assert row["train_loss"] == pytest.approx(row["train_pretext_loss"] + row["train_monitor_loss"], rel=1e-5)
        assert row["train_monitor_loss"] > 0
    if method in ("moco", "clsa", "disco"):
        assert "queue" in whole["method"] and torch.equal(whole["method"]["queue"], resumed["method"]["queue"])
        assert torch.equal(whole["method"]["queue_ids"], resumed["method"]["queue_ids"])


def test_a_checkpoint_without_the_queues_record_is_refused_in_one_line(poses_data, tmp_path):
    config = _config(poses_data, "moco", epochs=1)
    Trainer(config, tmp_path / "run", progress=False).fit()
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    del ckpt["method"]["queue_ids"]  # as written before MoCo recorded the keys' drawings
    torch.save(ckpt, tmp_path / "run" / "last.pt")
    with pytest.raises(ValueError) as e:
        Trainer(replace(config, epochs=2), tmp_path / "run", resume=True, progress=False)
    assert "last.pt: written by another version of the moco method (no queue_ids)" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_pretraining_resumes_from_the_same_command_and_not_across_a_training_revision(poses_data, tmp_path):
    """The method's recipe fills the same flags left out on --resume as at the start; a
    checkpoint of another training revision (one without a revision: before it was
    recorded) is refused in one line, since the same command no longer computes the same."""
    run = tmp_path / "run"
    start = ("pretrain", "--method", "simclr", "--data", str(poses_data), "--out", str(run), "--device", "cpu",
             "--quiet", "--batch-size", "16", "--warmup", "0.5")
    assert spare3d(*start, "--epochs", "1").returncode == 0
    resumed = spare3d(*start, "--epochs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["training_revision"] == spare3d_bench.TRAINING_REVISION
    assert (ckpt["config"]["lr"], ckpt["config"]["weight_decay"]) == (pytest.approx(0.3 * 16 / 256), 1e-6)
    del ckpt["training_revision"]
    torch.save(ckpt, run / "last.pt")
    r = spare3d(*start, "--epochs", "3", "--resume")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"{run / 'last.pt'}: written by training revision 1, and this version trains by revision" in r.stderr
    short = spare3d(*start[:-2], "--epochs", "1", "--out", str(tmp_path / "short"))  # SimCLR's 10 warm-up epochs
    assert short.returncode == 0 and "a warm-up of 10 epochs in a run of 1: the learning rate never" in short.stderr


@pytest.mark.parametrize("model", ["resnet18-late", "resnet18-early", "resnet18-compare"])
def test_init_hands_the_encoder_to_a_task_model(model, teacher_run, t2i_data, tmp_path):
    from spare3d_bench.models import TaskSpec, build_model
    from spare3d_bench.train import encoder_of_run

    encoder = encoder_of_run(teacher_run)
    built = build_model(model, TaskSpec("t2i", size=32), encoder, {"hidden": 16} if model.endswith("compare") else None)
    conv = {"resnet18-late": lambda m: m.candidate_net.conv1, "resnet18-early": lambda m: m.net.conv1,
            "resnet18-compare": lambda m: m.net.enc_iso.trunk.stem[0]}[model](built)
    theirs = encoder["conv1.weight"]
    images = conv.in_channels // 3
    assert torch.allclose(conv.weight, theirs.repeat(1, images, 1, 1) / images)  # tiled as ImageNet weights are
    layer = {"resnet18-late": lambda m: m.candidate_net.layer4, "resnet18-early": lambda m: m.net.layer4,
             "resnet18-compare": lambda m: m.net.enc_iso.trunk.layer4}[model](built)
    assert torch.equal(layer[1].conv2.weight, encoder["layer4.1.conv2.weight"])
    if model == "resnet18-late":  # and through the command line
        r = spare3d("train", "--init", str(teacher_run), "--model", model, "--data", str(t2i_data), "--out",
                    str(tmp_path / "ft"), "--epochs", "1", "--batch-size", "2", "--device", "cpu", "--quiet")
        assert r.returncode == 0, r.stderr


def test_bad_input_is_one_line(poses_data, teacher_run, t2i_data, tmp_path):
    def fails(*args):
        r = spare3d("pretrain", "--data", str(poses_data), "--out", str(tmp_path / "x"), "--device", "cpu", *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        return r.stderr

    assert "temperature: must be from 0.001" in fails("--method", "simclr", "--temperature", "0")
    assert "gives 128-d embeddings, the student 64-d" in fails("--method", "disco", "--teacher", str(teacher_run),
                                                               "--head-out", "64")
    assert "no such teacher" in fails("--method", "disco", "--teacher", str(tmp_path / "nothing"))
    assert "pretrains a per-drawing encoder" in fails("--method", "moco", "--model", "resnet18-early")
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    for name in ("images.u8", "manifest.json"):
        (empty / "train" / name).write_bytes((poses_data / "train" / name).read_bytes())
    manifest = json.loads((empty / "train" / "manifest.json").read_text())
    manifest["questions"] = []
    (empty / "train" / "manifest.json").write_text(json.dumps(manifest))
    (empty / "dataset.json").write_text((poses_data / "dataset.json").read_text())
    r = spare3d("pretrain", "--method", "simclr", "--data", str(empty), "--out", str(tmp_path / "y"), "--device", "cpu")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = spare3d("evaluate", str(teacher_run), "--data", str(poses_data), "--split", "val", "--device", "cpu")
    assert r.returncode != 0 and "answers no question by itself" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    start = ("train", "--init", str(teacher_run), "--data", str(t2i_data), "--out", str(tmp_path / "z"), "--device", "cpu")
    r = spare3d(*start)  # no --model: the run's own, an encoder
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "resnet18-embed is a per-drawing encoder and answers no question: train a task model" in r.stderr
    r = spare3d(*start, "--model", "resnet18-late", "--weights", str(teacher_run / "best.pt"))
    assert r.returncode == 2 and "--init RUN and --weights FILE both give the starting weights" in r.stderr
    assert not (tmp_path / "z").exists()


def test_an_encoder_model_answers_no_question():
    from spare3d_bench.models import TaskSpec

    model = EmbeddingModel("resnet18", TaskSpec("t2i"))
    with pytest.raises(ValueError, match="answers no question by itself"):
        model(torch.zeros(1, 3, 3, 32, 32), torch.zeros(1, 4, 3, 32, 32), torch.zeros(1))


def test_lars_neither_decays_nor_adapts_batch_norm_weights_and_biases(poses_data, tmp_path):
    from timm.optim import Lars

    config = TrainConfig(task="poses", model="resnet18-embed", data=str(poses_data), method="simclr", epochs=1,
                         batch_size=16, lr=0.075, optimizer="lars", weight_decay=1e-6, device="cpu")
    trainer = Trainer(config, tmp_path / "run", progress=False)
    assert isinstance(trainer.optimizer, Lars)
    decay, plain = trainer.optimizer.param_groups
    assert decay["weight_decay"] == 1e-6 and decay["always_adapt"] and all(p.dim() > 1 for p in decay["params"])
    assert plain["weight_decay"] == 0 and not plain["always_adapt"] and all(p.dim() == 1 for p in plain["params"])
    bn = trainer.method.model.encoder.bn1
    assert any(p is bn.weight for p in plain["params"]) and any(p is bn.bias for p in plain["params"])
    # timm's rule: a group without weight decay and without always_adapt takes plain SGD steps (no trust ratio)
    assert len(decay["params"]) + len(plain["params"]) == len([p for p in trainer.method.parameters() if p.requires_grad])


@pytest.mark.parametrize("student, features, teacher_hidden", [("efficientnet_b0-embed", 1280, 512),
                                                              ("mobilenet_v3_large-embed", 960, 1024)])
def test_a_disco_students_head_is_never_narrower_than_its_teachers(student, features, teacher_hidden, poses_data,
                                                                   teacher_run, tmp_path):
    """DisCo's distilling bottleneck: the student's head is as wide as its own features or
    the teacher's head, whichever is wider (EfficientNet-B0's 1,280 against a ResNet-18
    teacher's 512; a teacher head of 1,024 against MobileNet-v3's 960); a narrower one is
    refused. The EfficientNet-B0 student, DisCo's headline one, trains an epoch."""
    teacher = teacher_run
    if teacher_hidden != 512:
        teacher = tmp_path / "wide"
        Trainer(_config(poses_data, "simclr", epochs=1, head_hidden=teacher_hidden), teacher, progress=False).fit()
    config = replace(_config(poses_data, "disco", epochs=1, teacher=str(teacher)), model=student)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    linears = [m for m in trainer.method.head.modules() if isinstance(m, torch.nn.Linear)]
    width = max(features, teacher_hidden)
    assert (linears[0].in_features, linears[0].out_features) == (features, width)
    assert trainer.method.options.head_hidden == width
    assert trainer.method.teacher.hidden == teacher_hidden
    if student.startswith("efficientnet"):
        (row,) = trainer.fit()
        assert np.isfinite(row["train_loss"]) and 0 <= row["val_knn"] <= 1
    else:  # the student, widened past its own features, teaches in turn (its config keeps --head-hidden 0)
        trainer.fit()
        from contrastive.disco import load_teacher

        assert load_teacher(str(tmp_path / "run"), "resnet50", 3).hidden == width
    narrow = replace(config, options={**config.options, "head_hidden": 256})
    with pytest.raises(ValueError, match=f"--head-hidden 256 is narrower than the teacher's {teacher_hidden}"):
        Trainer(narrow, tmp_path / "narrow", progress=False)
    linear = replace(config, options={**config.options, "head_hidden": 256, "head_layers": 1})
    assert Trainer(linear, tmp_path / "linear", progress=False).method.head.out == 128  # no hidden layer to widen
