"""What a trainable model is, and how the project finds them.

Every model answers questions the same way: `forward(views, candidates, pose)` returns
(B, n_scores) scores where higher means "more likely the answer", `loss(scores, answer)`
is its training objective, and the prediction is the argmax. Models are named
`<backbone>-<fusion>`; fusions are classes registered under the `spare3d.models` entry
point group (setup.cfg), which is how the CLI, the trainer and users' own plug-ins meet.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from importlib.metadata import entry_points

import torch
from torch import nn

from .backbones import BACKBONES

ENTRY_POINTS = "spare3d.models"
TASKS = ("t2i", "i2p", "p2i")


@dataclass(frozen=True)
class TaskSpec:
    """The shape of a task's questions as a model sees them."""

    task: str
    channels: int = 3  # per drawing: 3 (RGB: red hidden lines) or 1 (grayscale)
    poses: int = 8  # SPARE3D's 8, or 20 for the extended variants

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"no models for task {self.task!r} (use {', '.join(TASKS)})")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.poses not in (8, 20):
            raise ValueError(f"poses must be 8 or 20, got {self.poses}")

    @property
    def n_scores(self) -> int:
        """Scores per question: 4 candidates, or the I2P pose classes (4, or 20 extended)."""
        return (4 if self.poses == 8 else 20) if self.task == "i2p" else 4

    def to_dict(self) -> dict:
        return asdict(self)


class TaskModel(nn.Module):
    """Base of every model: subclasses set `tasks` and implement `forward` and `loss`."""

    tasks: tuple[str, ...] = ()

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__()
        if spec.task not in self.tasks:
            raise ValueError(f"this model does not do {spec.task} (it does {', '.join(self.tasks)})")
        self.spec = spec

    def forward(self, views: torch.Tensor, candidates: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """views (B, 3, C, H, W), candidates (B, K, C, H, W) floats, pose (B,) -> (B, n_scores)."""
        raise NotImplementedError

    def loss(self, scores: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def fusions() -> dict[str, type[TaskModel]]:
    """Registered fusion classes by name (loaded from the entry points)."""
    found = {}
    for ep in entry_points(group=ENTRY_POINTS):
        found[ep.name] = ep.load()
    if not found:
        raise RuntimeError(f"no models registered under {ENTRY_POINTS!r}: is spare3d-bench installed (pip install -e .)?")
    return found


def model_names(task: str | None = None) -> list[str]:
    """Every `<backbone>-<fusion>` name, or those that do `task`."""
    return [f"{b}-{name}" for name, cls in sorted(fusions().items()) if task is None or task in cls.tasks for b in BACKBONES]


def build_model(name: str, spec: TaskSpec, weights: str | os.PathLike | None = None) -> TaskModel:
    """The model `<backbone>-<fusion>` for `spec`; `weights`: a local ImageNet state dict."""
    backbone, _, fusion = name.rpartition("-")
    registry = fusions()
    if backbone not in BACKBONES or fusion not in registry:
        raise ValueError(f"unknown model {name!r} (see spare3d train --list-models)")
    if spec.task not in registry[fusion].tasks:
        raise ValueError(f"{name} does not do {spec.task} (the {fusion} fusion does {', '.join(registry[fusion].tasks)})")
    return registry[fusion](backbone, spec, weights)
