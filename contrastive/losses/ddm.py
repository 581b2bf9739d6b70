"""CLSA's distributional divergence minimisation (Wang and Qi 2021,
https://arxiv.org/abs/2104.07713): a strongly augmented view must rank the positive key
and the queue as the weakly augmented view does."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .ntxent import check_temperature


class DDMLoss(nn.Module):
    """L_DDM = -sum_j p_weak(j) log p_strong(j), averaged over the batch, where p_weak and
    p_strong are the softmax over [positive key, queue] of the weak and the strong
    query's similarities over `temperature`; p_weak is a fixed target (no gradient).
    Computed with log_softmax (the reference takes the log of a softmax, which underflows
    in half precision).

    Example:
        >>> loss = DDMLoss(0.2)
        >>> weak, strong = torch.randn(4, 33), torch.randn(4, 33)  # (B, 1 + K) similarities
        >>> value = loss(weak, strong)
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, weak: torch.Tensor, strong: torch.Tensor) -> torch.Tensor:
        """weak, strong: (B, 1 + K) similarities of the two queries to the same keys."""
        if weak.shape != strong.shape or weak.dim() != 2:
            raise ValueError(f"expected two (B, 1 + K) similarity tables, got {tuple(weak.shape)} and {tuple(strong.shape)}")
        target = F.softmax(weak.detach().float() / self.temperature, dim=1)
        log_p = F.log_softmax(strong.float() / self.temperature, dim=1)
        # A key left out of both rows (similarity -inf: `queue_similarities`' exclude) has
        # target 0 and log_p -inf; its term is 0, not 0 * -inf.
        return -(target * log_p.masked_fill(target == 0, 0.0)).sum(1).mean()
