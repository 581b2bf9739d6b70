"""Probing a pretrained drawing encoder: what its frozen features know.

The offline protocol for self-supervised encoders (`<backbone>-embed` runs): every
drawing of a dataset's train split and of the split scored is encoded once, in eval mode,
without augmentation, with batch-norm statistics taken from the train split's drawings
(`data_bn`); then

- on pose data: which pose an isometric shows (8 or 20 classes), by a weighted kNN
  (k = 20, votes exp(cosine / 0.07): the online monitor's rule) and by a linear classifier
  (scikit-learn's logistic regression on standardised features); and, the same two ways,
  its elevation (seen from above or below, or level for poses 17-20: `data.pose_elevation`),
  the part of the pose one isometric of an unknown object shows best;
- on I2P: the 4-way answer from the features of f, r, t and the isometric side by side;
- on T2I and P2I: a binary linear classifier scores each candidate from the features of
  f, r, t and the candidate (and, for P2I, the queried pose one-hot); the answer is the
  candidate it scores highest.

scikit-learn does the linear fits (tested, deterministic, no learning-rate to tune): the
features are few (at most tens of thousands of drawings), so a GPU buys nothing here.
The online numbers of pretraining (`train_accuracy`, `val_knn`, `val_linear` in
metrics.jsonl) come from a linear head trained beside the network and a kNN at each
epoch's end: they are monitors, these are the results to report.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from renderers.files import plain_name
from renderers.writers import atomic_write

from .data import (
    ELEVATIONS,
    QuestionDataset,
    dataset_info,
    drawing_pool,
    open_split,
    pose_elevation,
    split_task,
    subset,
)
from .evaluate import split_folder, wilson_interval
from .inputs import InputOptions, to_float
from .models import TaskSpec, build_model, model_class

KNN_K, KNN_T = 20, 0.07
BN_DRAWINGS = 4096  # drawings whose activations give an evaluated encoder its batch-norm statistics


def knn_predict(queries: torch.Tensor, bank: torch.Tensor, labels: torch.Tensor, classes: int, k: int = KNN_K,
                temperature: float = KNN_T) -> torch.Tensor:
    """Weighted kNN (Wu et al. 2018, as solo-learn's monitor): each query's `k` most
    cosine-similar bank rows vote for their label with weight exp(similarity / T); the
    class with the most weight wins. queries (Q, D), bank (N, D), labels (N,) in
    [0, classes) -> (Q,) predicted labels."""
    q, b = F.normalize(queries.float(), dim=1), F.normalize(bank.float(), dim=1)
    sims, idx = (q @ b.T).topk(min(k, len(b)), dim=1)
    votes = torch.zeros(len(q), classes, device=q.device)
    votes.scatter_add_(1, labels[idx], (sims / temperature).exp())
    return votes.argmax(1)


@dataclass(frozen=True)
class ProbeResult:
    """One probe of one encoder on one split."""

    protocol: str  # "kNN" or "linear"
    task: str  # "pose", "elevation" (of the pose), "t2i", "i2p" or "p2i"
    encoder: str  # the run folder, or "random <model>"
    data: str
    n: int
    correct: int
    accuracy: float
    ci95: tuple[float, float]
    chance: float


def load_encoder(run: str | os.PathLike | None, model: str | None, channels: int = 3, seed: int = 0):
    """(the encoder model in eval mode, its name for reports, its input options): a run's
    best checkpoint, or, with `run` None, `model` at random initialisation (seeded)."""
    from .train import run_checkpoint

    if run is not None:
        ckpt = run_checkpoint(run)
        name = ckpt["config"]["model"]
        cls = model_class(name)
        if not getattr(cls, "encoder_only", False):
            raise ValueError(f"{run}: a {name} run, not a pretrained drawing encoder (<backbone>-embed): "
                             "evaluate it with spare3d evaluate")
        spec = TaskSpec(**ckpt["spec"])
        net = build_model(name, spec)
        net.load_state_dict(ckpt["model"])
        inputs = InputOptions(spec.channels, ckpt["config"].get("resolution"))
        label = str(run)
    else:
        if not model or not getattr(model_class(model), "encoder_only", False):
            raise ValueError(f"--random needs a drawing encoder <backbone>-embed, not {model!r}")
        torch.manual_seed(seed)
        net = build_model(model, TaskSpec("t2i", channels))
        inputs = InputOptions(channels)
        label = f"random {model}"
    return net.eval(), label, inputs


def drawing_batches(pool: QuestionDataset, inputs: InputOptions, device: torch.device, batch: int):
    """(drawings (B, C, H, W) as floats on `device`, the loader batch) over a drawing pool
    (`drawing_pool`), in order, unaugmented: what every feature pass of an encoder reads."""
    from .train import host_batches

    for b in host_batches(pool, batch, device, None):
        yield to_float(b["views"].to(device), inputs)[:, 0], b


@torch.no_grad()
def data_bn(encoder: torch.nn.Module, pool: QuestionDataset, inputs: InputOptions, device: torch.device,
            batch: int = 128, limit: int = BN_DRAWINGS) -> torch.nn.Module:
    """A copy of `encoder` in eval mode whose batch-norm running statistics are those of up
    to `limit` drawings of `pool` (evenly spread), computed by torch's `update_bn` (an
    average over batches, in train mode).

    Why: an encoder evaluated with the statistics it carries can be degenerate.
    torchvision's MobileNet-v3 updates them with momentum 0.01. At initialisation, or after
    a few hundred steps, they are far from the data's, and in eval mode the signal fades
    layer by layer. A random MobileNet-v3's features came out 1e-9 in size. A DisCo student
    of 240 steps gave features whose differences between drawings were 5e-5 of their size,
    finer than bf16 (the GPU's autocast) resolves. ResNets (momentum 0.1) are hardly
    changed. Every encoder, pretrained or random, is evaluated this way, so all share one
    protocol."""
    from torch.optim.swa_utils import update_bn

    twin = copy.deepcopy(encoder)
    batches = (x for x, _ in drawing_batches(subset(pool, np.arange(len(pool)), limit), inputs, device, batch))
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        update_bn((x for x in batches if len(x) > 1), twin)  # batch norm cannot train on one value per channel
    return twin.eval()


@torch.no_grad()
def encode(net, pool: QuestionDataset, inputs: InputOptions, device: torch.device, batch: int = 128) -> np.ndarray:
    """Features (len(pool), D) float32 of every drawing of a pool, in order."""
    out = []
    for x, _ in drawing_batches(pool, inputs, device, batch):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out.append(net.embed(x).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 1), np.float32)


def _linear(x_train: np.ndarray, y_train: np.ndarray, seed: int):
    """A logistic regression on standardised features (scikit-learn), fitted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed)).fit(x_train, y_train)


def _question_features(ds: QuestionDataset, feats: np.ndarray, pool: QuestionDataset) -> tuple[np.ndarray, np.ndarray]:
    """(views (Q, 3D), candidates (Q, K, D)) features of a question split, from its pool's."""
    where = {int(r): i for i, r in enumerate(pool.view_rows[:, 0])}
    views = feats[[[where[int(r)] for r in rows] for rows in ds.view_rows]]
    cands = feats[[[where[int(r)] for r in rows] for rows in ds.candidate_rows]]
    return views.reshape(len(ds), -1), cands


def _task_rows(task: str, ds: QuestionDataset, feats: np.ndarray, pool: QuestionDataset, poses: int):
    """Probe inputs and targets: I2P one row per question (4-way); T2I and P2I one row per
    candidate (binary), with the question index of each row."""
    views, cands = _question_features(ds, feats, pool)
    answers = np.asarray([int(a) for a in ds.answers])
    if task == "i2p":
        return np.concatenate([views, cands[:, 0]], axis=1), answers, None
    k = cands.shape[1]
    rows = [views[:, None].repeat(k, 1), cands]
    if task == "p2i":
        onehot = np.eye(poses, dtype=np.float32)[np.clip(ds.poses - 1, 0, poses - 1)]
        rows.append(onehot[:, None].repeat(k, 1))
    x = np.concatenate(rows, axis=2).reshape(len(ds) * k, -1)
    y = (np.arange(k)[None] == answers[:, None]).reshape(-1).astype(np.int64)
    return x, y, answers


def probe(run: str | os.PathLike | None, data: str | os.PathLike, split: str = "test", device: str = "auto",
          model: str | None = None, seed: int = 0, name: str | None = None, bn: str = "data") -> list[ProbeResult]:
    """Probe an encoder (a run, or `model` at random) on DATA: trained on DATA/train,
    scored on DATA/<split>. `bn`: batch-norm statistics from the train split's drawings
    ("data", `data_bn`) or as the encoder carries them ("saved"). Results are written to
    RUN/probe/<name>.json for a run."""
    from .train import pick_device

    if name is not None:
        plain_name(name, "result name")
    if bn not in ("data", "saved"):
        raise ValueError(f"batch-norm statistics {bn!r}: data or saved")
    data = Path(data)
    folder = split_folder(data, split)
    task = split_task(folder)
    dev = pick_device(device)
    net, label, inputs = load_encoder(run, model, seed=seed)
    net.to(dev)
    train, test = open_split(data / "train", task), open_split(folder, task)
    if folder == data / "train":
        raise ValueError(f"{folder}: the probe is trained on the train split; score another (--split val or test)")
    pools = [drawing_pool(train), drawing_pool(test)]
    if bn == "data":
        net.encoder = data_bn(net.encoder, pools[0], inputs, dev)
    feats = [encode(net, p, inputs, dev) for p in pools]
    poses = int(dataset_info(data).get("poses", 8))  # the card keeps it under render.poses
    results = []

    def result(protocol: str, what: str, correct: int, n: int, chance: float) -> ProbeResult:
        return ProbeResult(protocol, what, label, str(folder), n, correct, correct / n if n else float("nan"),
                           wilson_interval(correct, n), chance)

    if task == "poses":
        (f_tr, f_te), (p_tr, p_te) = feats, pools
        y_tr, y_te = np.asarray(p_tr.answers), np.asarray(p_te.answers)
        keep_tr, keep_te = y_tr > 0, y_te > 0
        if not keep_te.any() or not keep_tr.any():
            raise ValueError(f"{folder}: no isometrics with a pose to probe")
        x_tr, x_te, y_tr, y_te = f_tr[keep_tr], f_te[keep_te], y_tr[keep_tr], y_te[keep_te]
        knn = knn_predict(torch.from_numpy(x_te), torch.from_numpy(x_tr), torch.from_numpy(y_tr), poses + 1).numpy()
        results.append(result("kNN", "pose", int((knn == y_te).sum()), len(y_te), 1 / poses))
        linear = _linear(x_tr, y_tr, seed).predict(x_te)
        results.append(result("linear", "pose", int((linear == y_te).sum()), len(y_te), 1 / poses))
        # Above or below: the part of the pose one isometric shows (chance: the commonest class's share).
        e_tr, e_te = pose_elevation(y_tr), pose_elevation(y_te)
        chance = float(np.bincount(e_te).max()) / len(e_te)
        knn = knn_predict(torch.from_numpy(x_te), torch.from_numpy(x_tr), torch.from_numpy(e_tr),
                          len(ELEVATIONS)).numpy()
        results.append(result("kNN", "elevation", int((knn == e_te).sum()), len(e_te), chance))
        linear = _linear(x_tr, e_tr, seed).predict(x_te)
        results.append(result("linear", "elevation", int((linear == e_te).sum()), len(e_te), chance))
    elif task in ("t2i", "i2p", "p2i"):
        x_tr, y_tr, _ = _task_rows(task, train, feats[0], pools[0], poses)
        x_te, y_te, answers = _task_rows(task, test, feats[1], pools[1], poses)
        fit = _linear(x_tr, y_tr, seed)
        if task == "i2p":
            right, n, chance = int((fit.predict(x_te) == y_te).sum()), len(y_te), 1 / (4 if poses == 8 else 20)
        else:
            scores = fit.predict_proba(x_te)[:, 1].reshape(len(test), -1)
            right, n, chance = int((scores.argmax(1) == answers).sum()), len(test), 1 / scores.shape[1]
        results.append(result("linear", task, right, n, chance))
    else:
        raise ValueError(f"{folder}: {task} data; the probe reads pose data or t2i, i2p or p2i questions")
    if run is not None:
        out = Path(run) / "probe" / f"{name or f'{data.resolve().name}-{split}'}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, (json.dumps([asdict(r) for r in results], indent=1) + "\n").encode())
    return results
