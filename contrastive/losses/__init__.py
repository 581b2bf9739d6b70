"""Losses, one per module, each tested against a hand-written reference."""

from .ntxent import NTXentLoss

__all__ = ["NTXentLoss"]
