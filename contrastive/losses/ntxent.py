"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020,
https://arxiv.org/abs/2002.05709)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NTXentLoss(nn.Module):
    """NT-Xent over N positive pairs (a_i, b_i).

    The 2N embeddings are L2-normalised; for each one, its twin is the positive and the
    other 2N - 2 are negatives; the loss is the cross-entropy of its cosine similarities
    over `temperature`, its own similarity left out, averaged over the 2N rows (lightly's
    scale; SimCLR's TF code sums the two directions, twice this).

    Attributes:
        temperature: the softmax temperature tau (> 0; 0.1 for ImageNet, 0.5 for CIFAR).

    Raises:
        ValueError: a temperature that is not a positive finite number.

    Example:
        >>> loss = NTXentLoss(temperature=0.5)
        >>> a, b = torch.randn(8, 128), torch.randn(8, 128)
        >>> value = loss(a, b)  # a scalar
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not 1e-4 <= float(temperature) < float("inf"):
            raise ValueError(f"temperature must be a positive number of at least 1e-4, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a, b: (N, D) embeddings, row i of `a` and of `b` a positive pair -> scalar."""
        if a.shape != b.shape or a.dim() != 2 or len(a) < 2:
            raise ValueError(f"expected two (N, D) batches with N >= 2, got {tuple(a.shape)} and {tuple(b.shape)}")
        n = len(a)
        z = F.normalize(torch.cat([a, b]).float(), dim=1)
        logits = z @ z.T / self.temperature
        logits.fill_diagonal_(float("-inf"))
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(a.device)
        return F.cross_entropy(logits, target)
