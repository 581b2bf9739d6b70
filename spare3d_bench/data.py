"""PyTorch access to question splits: uint8 drawings from a packed memory map, or from a
SPARE3D-layout folder (ours or the original release) read into memory.

Tensors stay uint8 (H, W, 3): converting to float, resizing and normalising belong on the
device (see `inputs.py`), which keeps host-side loading a memory copy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from renderers.views import PRESETS

from .packed import MANIFEST, PackedSplit

#: Elevation classes of a pose: seen from above, from below, or level (poses 17-20).
ELEVATIONS = ("above", "below", "level")


def pose_elevation(poses: np.ndarray) -> np.ndarray:
    """Where each pose (1..20, any shape) sees the object from, as an index into
    `ELEVATIONS`: the sign of its view direction's z. Of a pose, this is what one
    isometric of an unknown object shows best: a model's sides have no fixed front, its
    top and bottom differ."""
    z = np.asarray([0.0] + [PRESETS[str(k)].direction[2] for k in range(1, 21)])
    poses = np.asarray(poses)
    if poses.size and (poses.min() < 1 or poses.max() > 20):
        raise ValueError(f"poses are 1..20, not {int(poses.min())}..{int(poses.max())}")
    zs = z[poses]
    return np.where(zs > 0, 0, np.where(zs < 0, 1, 2))


class QuestionDataset(Dataset):
    """Questions of one split: each item is a dict of `views` (V, H, W, 3) uint8 (f, r, t;
    six for pairs), `candidates` (K, H, W, 3) uint8, `answer` (int, or a list for pairs and
    poses), `pose` (the P2I queried pose, 0 for other tasks) and `index`. `__getitems__`
    fetches a whole batch with one gather per field, which DataLoader uses when it exists.
    """

    def __init__(self, images: np.ndarray, view_rows, candidate_rows, answers: list, poses: list[int], ids: list[str], task: str) -> None:
        self.images = images
        self.view_rows = np.asarray(view_rows, dtype=np.int64)
        self.candidate_rows = np.asarray(candidate_rows, dtype=np.int64)
        self.answers = answers
        self.poses = np.asarray(poses, dtype=np.int64)
        self.ids = ids
        self.task = task

    @classmethod
    def from_packed(cls, root: str | os.PathLike) -> "QuestionDataset":
        split = PackedSplit.open(root)
        rows = [split.rows(i) for i in range(len(split.questions))]
        return cls(
            split.images,
            [v for v, _ in rows],
            [c for _, c in rows],
            [q["answer"] for q in split.questions],
            # Only P2I asks about a pose; I2P manifests record the pose shown, which is the answer.
            [(q.get("pose") or 0) if split.task == "p2i" else 0 for q in split.questions],
            [str(q["id"]) for q in split.questions],
            split.task,
        )

    @classmethod
    def from_spare3d(cls, root: str | os.PathLike, task: str) -> "QuestionDataset":
        """Read a SPARE3D-layout split (our output or the original release) into memory."""
        from .spare3d_layout import load, read_png

        questions = load(root, task)
        paths = [p for q in questions for p in [*q.views.values(), *q.candidates]]
        first = read_png(paths[0]) if paths else np.zeros((1, 1, 3), np.uint8)
        images = np.empty((len(paths), *first.shape), np.uint8)
        for i, p in enumerate(paths):
            img = read_png(p)
            if img.shape != first.shape:
                raise ValueError(f"{p}: drawing of shape {img.shape}, the split's first is {first.shape}")
            images[i] = img
        view_rows, candidate_rows, row = [], [], 0
        for q in questions:
            view_rows.append(list(range(row, row + len(q.views))))
            row += len(q.views)
            candidate_rows.append(list(range(row, row + len(q.candidates))))
            row += len(q.candidates)
        answers = [q.answer for q in questions]
        poses = [q.pose or 0 for q in questions]
        return cls(images, view_rows, candidate_rows, answers, poses, [q.qid for q in questions], task)

    def __len__(self) -> int:
        return len(self.answers)

    def __getitem__(self, i: int) -> dict:
        return {k: v[0] for k, v in self.__getitems__([i]).items()}

    def __getitems__(self, indices: list[int]) -> dict:
        return self.gather(np.asarray(indices, dtype=np.int64))

    def gather(self, idx: np.ndarray, pin: bool = False) -> dict:
        """The batch of questions `idx`, drawings copied with one `np.take` per field
        (which releases the GIL, so threads gather in parallel), into pinned memory if
        `pin` (for asynchronous copies to a GPU)."""
        images, n = self.images, len(idx)

        def take(rows: np.ndarray) -> torch.Tensor:
            out = torch.empty((n * rows.shape[1], *images.shape[1:]), dtype=torch.uint8, pin_memory=pin)
            np.take(images, rows[idx].ravel(), axis=0, out=out.numpy())
            return out.view(n, rows.shape[1], *images.shape[1:])

        return {
            "views": take(self.view_rows),
            "candidates": take(self.candidate_rows),
            "answer": torch.as_tensor([self.answers[i] for i in idx]),
            "pose": torch.from_numpy(self.poses[idx]),
            "index": torch.from_numpy(idx),
        }


def subset(ds: QuestionDataset, idx: np.ndarray, limit: int | None = None) -> QuestionDataset:
    """Items `idx` of a dataset (at most `limit` of them, evenly spread), the drawings left
    where they are (the same uint8 array)."""
    if limit is not None and len(idx) > limit:
        idx = idx[np.linspace(0, len(idx) - 1, limit).round().astype(np.int64)]
    return QuestionDataset(ds.images, ds.view_rows[idx], ds.candidate_rows[idx], [ds.answers[i] for i in idx],
                           ds.poses[idx].tolist(), [ds.ids[i] for i in idx], ds.task)


def spread_by_label(labels: np.ndarray, limit: int) -> np.ndarray:
    """Indices (sorted) of at most `limit` items, each label keeping its share (largest
    remainders round) and its items evenly spread. Why: a pose pool lists each model's
    isometrics in pose order, so evenly spaced picks over the whole pool can follow that
    cycle and leave poses out (4,095 models of 8 poses, 4,096 picks: 6 poses missing)."""
    labels = np.asarray(labels)
    if len(labels) <= limit:
        return np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * limit / len(labels)
    take = np.floor(quota).astype(np.int64)
    take[np.argsort(take - quota, kind="stable")[: limit - take.sum()]] += 1
    picks = [np.flatnonzero(labels == c)[np.linspace(0, n - 1, k).round().astype(np.int64)]
             for c, n, k in zip(classes, counts, take) if k]
    return np.sort(np.concatenate(picks))


def drawing_pool(ds: QuestionDataset) -> QuestionDataset:
    """Every distinct drawing of a split as a dataset of its own: item i has one view (the
    drawing) and no candidates; its answer is the pose an isometric of pose data shows
    (1..P), 0 for any other drawing (f, r, t, or a drawing of another task, whose pose the
    data do not give). The drawings stay where they are (the same uint8 array): only the
    row indices are new. What self-supervised pretraining on single drawings reads."""
    views, cands = ds.view_rows.reshape(len(ds), -1), ds.candidate_rows.reshape(len(ds), -1)
    labels: dict[int, int] = {}
    if ds.task == "poses":
        for rows, poses in zip(cands, ds.answers):
            labels.update(zip(rows.tolist(), [int(p) for p in poses]))
    rows = np.unique(np.concatenate([views.ravel(), cands.ravel()]))
    answers = [labels.get(int(r), 0) for r in rows]
    return QuestionDataset(ds.images, rows.reshape(-1, 1), np.zeros((len(rows), 0), np.int64), answers,
                           [0] * len(rows), [str(r) for r in rows], "drawings")


def check_answers(ds: QuestionDataset, n_scores: int, where: str | os.PathLike) -> None:
    """Refuse a split whose answers a model with `n_scores` outputs cannot learn (a label
    out of range would otherwise stop training mid-epoch, naming no question)."""
    for qid, a in zip(ds.ids, ds.answers):
        if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < n_scores:
            raise ValueError(f"{where}: question {qid} has answer {a!r}; a {ds.task} model scores 0..{n_scores - 1}")


def split_task(root: str | os.PathLike) -> str:
    """The task of a split folder without reading its drawings: a packed manifest's, or
    that of the dataset.json beside a SPARE3D-layout split; ValueError when it says none."""
    root = Path(root)
    if (root / MANIFEST).exists():
        try:
            task = json.loads((root / MANIFEST).read_text()).get("task")
        except (OSError, ValueError, AttributeError):
            task = None
    else:
        task = dataset_info(root.parent).get("task")
    if not isinstance(task, str):
        raise ValueError(f"{root}: its task is not recorded (no packed manifest, no dataset.json beside it)")
    return task


def open_split(root: str | os.PathLike, task: str | None = None) -> QuestionDataset:
    """A split folder in either layout. `task`, when given, must be the split's own (a
    packed split knows it; a SPARE3D-layout one from the dataset.json beside it, and
    needs `task` only when there is none): questions of another task would be scored
    against the wrong answers, or fail mid-epoch."""
    root = Path(root)
    if (root / MANIFEST).exists():
        ds = QuestionDataset.from_packed(root)
        found = ds.task
    else:
        found = dataset_info(root.parent).get("task")
        if task is None and found is None:
            raise ValueError(f"{root}: a SPARE3D-layout split with no dataset.json beside it: give the task")
        if not (root / "answer.json").exists():
            raise ValueError(f"{root}: neither a packed split ({MANIFEST}) nor a SPARE3D split (answer.json)")
        ds = None
    if task is not None and found not in (None, task):
        raise ValueError(f"{root}: {found} questions, not {task}")
    return ds if ds is not None else QuestionDataset.from_spare3d(root, task or found)


def dataset_info(root: str | os.PathLike) -> dict:
    """The dataset card's task and pose count (an empty dict when there is no card: the
    original release has none, and uses 8 poses)."""
    try:
        card = json.loads((Path(root) / "dataset.json").read_text())
        return {"task": card.get("task"), "poses": card.get("render", {}).get("poses", 8)}
    except (OSError, ValueError, AttributeError):
        return {}


def infer_task(data: str | os.PathLike, allowed: tuple[str, ...] = ("t2i", "i2p", "p2i")) -> str:
    """The task of a dataset folder, read from its dataset.json (or its packed train
    split's manifest), for commands that leave --task out; ValueError when neither names
    one (the original SPARE3D release has no card: give the task), or when it is not
    among `allowed`."""
    data = Path(data)
    task = dataset_info(data).get("task")
    if task is None and (data / "train" / MANIFEST).is_file():
        try:
            task = json.loads((data / "train" / MANIFEST).read_text()).get("task")
        except (OSError, ValueError, AttributeError):
            task = None
    if task is None:
        why = "no such folder" if not data.is_dir() else "no dataset.json or packed manifest names its task"
        raise ValueError(f"{data}: {why}; give --task")
    if task not in allowed:
        hint = {"pairs": " (pretrain on pairs: spare3d pretrain --method view-comparison)",
                "poses": " (pretrain on pose data: spare3d pretrain --method pose)"}.get(task, "")
        raise ValueError(f"{data}: holds {task} data, not {' or '.join(allowed)} data{hint}")
    return task


def collate_batch(batch):
    """DataLoader collate for `__getitems__` batches: they arrive already stacked."""
    return batch


def _batches(order, n: int, batch: int, drop_last: bool) -> list[np.ndarray]:
    """Index chunks of one pass: `order` (a sampler, or None for 0..n-1) cut into batches."""
    order = np.fromiter(order, dtype=np.int64, count=n) if order is not None else np.arange(n)
    stop = n // batch * batch if drop_last else n
    return [order[i : min(i + batch, stop)] for i in range(0, stop, batch)]


class _Batches:
    """A pass over a split in batches of `batch` question indices, in `sampler`'s order
    (None: 0..n-1), the last partial batch dropped if `drop_last`."""

    #: (rank, ranks): under torchrun each rank takes its contiguous share of every batch.
    shard: tuple[int, int] = (0, 1)

    def __init__(self, ds: QuestionDataset, batch: int, sampler=None, drop_last: bool = False) -> None:
        self.ds, self.batch, self.sampler, self.drop_last = ds, batch, sampler, drop_last

    def __len__(self) -> int:
        return len(self.ds) // self.batch if self.drop_last else -(-len(self.ds) // self.batch)

    def _chunks(self) -> list[np.ndarray]:
        chunks = _batches(self.sampler, len(self.ds), self.batch, self.drop_last)
        rank, ranks = self.shard
        if ranks == 1:
            return chunks
        # Equal shares (gathers need them): a partial batch, which only a split smaller than
        # one batch keeps, loses its last len % ranks items; an empty share is no batch.
        return [c[rank * (len(c) // ranks) : (rank + 1) * (len(c) // ranks)] for c in chunks if len(c) >= ranks]


class HostBatches(_Batches):
    """Batches gathered from a (memory-mapped) split by a pool of threads, `ahead` batches
    in advance, into pinned memory when they feed a GPU. Threads, not processes: numpy
    copies without the GIL, and nothing is pickled through shared memory (DataLoader's
    worker processes reached under half the bare GPU step for ResNet-18 at 128 px)."""

    def __init__(self, ds: QuestionDataset, batch: int, sampler=None, drop_last: bool = False, threads: int = 0, pin: bool = False, ahead: int = 6) -> None:
        super().__init__(ds, batch, sampler, drop_last)
        self.threads, self.pin, self.ahead = threads, pin, ahead

    def __iter__(self):
        chunks = self._chunks()
        if self.threads == 0:
            for idx in chunks:
                yield self.ds.gather(idx, self.pin)
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.threads) as pool:
            pending: deque = deque()
            for idx in chunks:
                pending.append(pool.submit(self.ds.gather, idx, self.pin))
                if len(pending) > self.ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


class DeviceBatches(_Batches):
    """A split's drawings held in device memory as uint8, batches gathered there: no
    host-side loading at all once uploaded. Iterating follows `sampler` (indices) in
    chunks of `batch`, like a DataLoader over the same dataset."""

    def __init__(self, ds: QuestionDataset, device: torch.device, batch: int, sampler=None, drop_last: bool = False) -> None:
        super().__init__(ds, batch, sampler, drop_last)
        self.images = torch.empty(ds.images.shape, dtype=torch.uint8, device=device)
        for start in range(0, len(ds.images), 4096):  # chunks: no host copy of the whole memmap
            self.images[start : start + 4096].copy_(torch.from_numpy(np.array(ds.images[start : start + 4096])))
        self.view_rows = torch.from_numpy(ds.view_rows).to(device)
        self.candidate_rows = torch.from_numpy(ds.candidate_rows).to(device)
        self.answers = torch.as_tensor(ds.answers).to(device)
        self.poses = torch.from_numpy(ds.poses).to(device)

    def __iter__(self):
        for chunk in self._chunks():
            idx = torch.from_numpy(chunk).to(self.images.device, non_blocking=True)
            n = len(idx)
            yield {
                "views": self.images[self.view_rows[idx].ravel()].view(n, self.view_rows.shape[1], *self.images.shape[1:]),
                "candidates": self.images[self.candidate_rows[idx].ravel()].view(n, self.candidate_rows.shape[1], *self.images.shape[1:]),
                "answer": self.answers[idx],
                "pose": self.poses[idx],
                "index": idx,
            }
