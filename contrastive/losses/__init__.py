"""Losses, one per module, each tested against a hand-written reference."""

from .ddm import DDMLoss
from .distill import DistillLoss
from .infonce import InfoNCELoss, queue_similarities
from .ntxent import NTXentLoss

__all__ = ["DDMLoss", "DistillLoss", "InfoNCELoss", "NTXentLoss", "queue_similarities"]
