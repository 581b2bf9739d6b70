"""DisCo's distillation term (Gao et al. 2022, https://arxiv.org/abs/2104.09124): the
student's final embedding of a view must match the frozen teacher's."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DistillLoss(nn.Module):
    """||s / |s| - t / |t| ||^2 summed over the embedding, averaged over the batch (the
    reference sums over the batch too: the mean keeps the scale independent of the
    batch size). The teacher's embedding is a fixed target (no gradient).

    Raises:
        ValueError: student and teacher embeddings of different sizes.

    Example:
        >>> loss = DistillLoss()
        >>> value = loss(torch.randn(4, 128), torch.randn(4, 128))
    """

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape != teacher.shape or student.dim() != 2:
            raise ValueError(f"the student's embeddings are {tuple(student.shape)}, the teacher's "
                             f"{tuple(teacher.shape)}: they must be the same (B, D)")
        s = F.normalize(student.float(), dim=1)
        t = F.normalize(teacher.detach().float(), dim=1)
        return (s - t).pow(2).sum(1).mean()
