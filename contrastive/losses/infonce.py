"""MoCo's InfoNCE against a queue of negatives (He et al. 2020, https://arxiv.org/abs/1911.05722;
MoCo v2: https://arxiv.org/abs/2003.04297)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .ntxent import check_temperature


def queue_similarities(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor,
                       exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine similarities (B, 1 + K) of each query with its positive key (column 0) and
    with the K queued negatives; q, k (B, D), queue (K, D). `exclude` (B, K) bool marks
    queued keys that are no negative of a query (its own drawing's key from an earlier
    step): their similarity is -inf, so they drop out of every softmax over the row."""
    if q.shape != k.shape or q.dim() != 2 or queue.dim() != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(f"expected q, k (B, D) and a queue (K, D), got {tuple(q.shape)}, {tuple(k.shape)} "
                         f"and {tuple(queue.shape)}")
    q, k = F.normalize(q.float(), dim=1), F.normalize(k.float(), dim=1)
    positive = (q * k).sum(1, keepdim=True)
    negatives = q @ F.normalize(queue.float(), dim=1).T
    if exclude is not None:
        if exclude.shape != negatives.shape:
            raise ValueError(f"expected an exclusion mask {tuple(negatives.shape)}, got {tuple(exclude.shape)}")
        negatives = negatives.masked_fill(exclude, float("-inf"))
    return torch.cat([positive, negatives], dim=1)


class InfoNCELoss(nn.Module):
    """Cross-entropy of each query's similarities over `temperature`, the positive key as
    the class: -log(exp(q.k+ / T) / (exp(q.k+ / T) + sum over the queue of exp(q.n / T))),
    averaged over the batch. q, k and the queue are L2-normalised here.

    Attributes:
        temperature: T (MoCo v2, CLSA and DisCo use 0.2).

    Example:
        >>> loss = InfoNCELoss(0.2)
        >>> q, k, queue = torch.randn(4, 16), torch.randn(4, 16), torch.randn(32, 16)
        >>> value = loss(q, k, queue)
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor,
                exclude: torch.Tensor | None = None) -> torch.Tensor:
        """`exclude` (B, K): queued keys left out of a query's negatives (`queue_similarities`)."""
        sims = queue_similarities(q, k, queue, exclude) / self.temperature
        return F.cross_entropy(sims, torch.zeros(len(q), dtype=torch.long, device=q.device))
