"""PyTorch access to packed datasets: uint8 drawings straight from the memory map.

Tensors stay uint8 (H, W, 3): converting to float and normalising belongs on the device
(issue 6's training loop), which keeps host-side loading a memory copy.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from .packed import PackedSplit


class PackedDataset(Dataset):
    """Questions of one packed split: each item is a dict of `views` (3, H, W, 3) uint8
    (f, r, t; six for pairs), `candidates` (k, H, W, 3) uint8 and `answer` (int, or a
    list for pairs and poses). `__getitems__` fetches a whole batch with one gather per
    field, which is what DataLoader uses when it exists."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.split = PackedSplit.open(root)
        rows = [self.split.rows(i) for i in range(len(self.split.questions))]
        self.view_rows = np.array([v for v, _ in rows], dtype=np.int64)
        self.candidate_rows = np.array([c for _, c in rows], dtype=np.int64)
        self.answers = [q["answer"] for q in self.split.questions]

    def __len__(self) -> int:
        return len(self.answers)

    def __getitem__(self, i: int) -> dict:
        images = self.split.images
        return {
            "views": torch.from_numpy(np.asarray(images[self.view_rows[i]])),
            "candidates": torch.from_numpy(np.asarray(images[self.candidate_rows[i]])),
            "answer": torch.as_tensor(self.answers[i]),
        }

    def __getitems__(self, indices: list[int]) -> dict:
        idx = np.asarray(indices, dtype=np.int64)
        images = self.split.images
        return {
            "views": torch.from_numpy(np.asarray(images[self.view_rows[idx].ravel()])).view(
                len(idx), self.view_rows.shape[1], *images.shape[1:]
            ),
            "candidates": torch.from_numpy(np.asarray(images[self.candidate_rows[idx].ravel()])).view(
                len(idx), self.candidate_rows.shape[1], *images.shape[1:]
            ),
            "answer": torch.as_tensor([self.answers[i] for i in indices]),
        }


def collate_batch(batch):
    """DataLoader collate for `__getitems__` batches: they arrive already stacked."""
    return batch
