"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020,
https://arxiv.org/abs/2002.05709)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spare3d_bench import distributed


def check_temperature(temperature: float) -> float:
    """The temperature as a float; ValueError unless it is a finite number >= 1e-4."""
    if not 1e-4 <= float(temperature) < float("inf"):
        raise ValueError(f"temperature must be a positive number of at least 1e-4, got {temperature}")
    return float(temperature)


class NTXentLoss(nn.Module):
    """NT-Xent over N positive pairs (a_i, b_i).

    The 2N embeddings are L2-normalised; for each one, its twin is the positive and the
    other 2N - 2 are negatives; the loss is the cross-entropy of its cosine similarities
    over `temperature`, its own similarity left out, averaged over the 2N rows (lightly's
    scale; SimCLR's TF code sums the two directions, twice this).

    With `gather_distributed` and several ranks, each rank's rows are scored against the
    embeddings of every rank (gathered with gradient), so R ranks of N / R pairs give the
    loss and gradients of one process with N pairs.

    Attributes:
        temperature: the softmax temperature tau (> 0; 0.1 for ImageNet, 0.5 for CIFAR).

    Raises:
        ValueError: a temperature that is not a positive finite number.

    Example:
        >>> loss = NTXentLoss(temperature=0.5)
        >>> a, b = torch.randn(8, 128), torch.randn(8, 128)
        >>> value = loss(a, b)  # a scalar
    """

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = False) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.gather_distributed = gather_distributed

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a, b: (N, D) embeddings, row i of `a` and of `b` a positive pair -> scalar."""
        if a.shape != b.shape or a.dim() != 2 or len(a) < 1:
            raise ValueError(f"expected two (N, D) batches, got {tuple(a.shape)} and {tuple(b.shape)}")
        a, b = F.normalize(a.float(), dim=1), F.normalize(b.float(), dim=1)
        n, offset, total = len(a), 0, len(a)
        all_a, all_b = a, b
        if self.gather_distributed and distributed.active():
            all_a, all_b = distributed.gather(a), distributed.gather(b)
            offset, total = distributed.rank() * n, len(all_a)
        if 2 * total < 3:
            raise ValueError("NT-Xent needs at least 2 pairs in the (global) batch")
        rows = torch.cat([a, b])  # (2n, D): this rank's embeddings
        cols = torch.cat([all_a, all_b])  # (2N, D): everyone's
        logits = rows @ cols.T / self.temperature
        own = torch.arange(n, device=a.device) + offset
        self_index = torch.cat([own, own + total])
        twin_index = torch.cat([own + total, own])
        logits[torch.arange(2 * n, device=a.device), self_index] = float("-inf")
        return F.cross_entropy(logits, twin_index)
