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
import configparser
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import torch
from torch import nn

from .backbones import BACKBONES
from .options import NoOptions, parse_options

ENTRY_POINTS = "spare3d.models"
TASKS = ("t2i", "i2p", "p2i")


@dataclass(frozen=True)
class TaskSpec:
    """The shape of a task's questions as a model sees them."""

    task: str
    channels: int = 3  # per drawing: 3 (RGB: red hidden lines) or 1 (grayscale)
    poses: int = 8  # SPARE3D's 8, or 20 for the extended variants
    size: int | None = None  # the input side in pixels (models whose layers depend on it need it)

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
    """Base of every model: subclasses set `tasks` and implement `forward` and `loss`.
    A model with architecture switches declares them as `Options` (a dataclass of
    `options.option` fields, set with `--arch NAME=VALUE`) and takes them as `options`;
    `backbones`, when set, names the backbones it is built on (default: `BACKBONES`).
    A model that is a per-drawing `encoder` only (self-supervised pretraining) answers
    no question; `--init` hands its `encoder_state()` to a task model as its backbone's
    pretrained weights."""

    tasks: tuple[str, ...] = ()
    Options: type = NoOptions
    backbones: tuple[str, ...] | None = None
    encoder_only: bool = False

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


def plugin_entry_points(group: str) -> list[EntryPoint]:
    """The entry points of `group`: from the installed package's metadata, or, when the
    package runs from a source checkout that was never installed (PYTHONPATH=. on a GPU
    box without a package index), from the checkout's setup.cfg."""
    found = list(entry_points(group=group))
    if found:
        return found
    setup = Path(__file__).resolve().parents[1] / "setup.cfg"
    parser = configparser.ConfigParser()
    try:
        parser.read(setup)
        lines = parser.get("options.entry_points", group, fallback="")
    except configparser.Error:
        return []
    pairs = [line.split("=", 1) for line in lines.splitlines() if "=" in line]
    return [EntryPoint(name.strip(), value.strip(), group) for name, value in pairs]


def load_plugin(ep, what: str):
    """Load one entry point; a plug-in that fails to import is one line naming it."""
    try:
        return ep.load()
    except Exception as e:  # noqa: BLE001 - a third-party plug-in can fail in any way
        raise RuntimeError(f"the {what} plug-in {ep.name!r} ({ep.value}) cannot be loaded: {e}") from None


def fusions() -> dict[str, type[TaskModel]]:
    """Registered fusion classes by name (loaded from the entry points)."""
    found = {ep.name: load_plugin(ep, "model") for ep in plugin_entry_points(ENTRY_POINTS)}
    if not found:
        raise RuntimeError(f"no models registered under {ENTRY_POINTS!r}: is spare3d-bench installed (pip install -e .)?")
    return found


def model_names(task: str | None = None) -> list[str]:
    """Every `<backbone>-<fusion>` name, or those that do `task`."""
    return [f"{b}-{name}" for name, cls in sorted(fusions().items()) if task is None or task in cls.tasks
            for b in BACKBONES if cls.backbones is None or b in cls.backbones]


def model_class(name: str) -> type[TaskModel]:
    """The fusion class of model `<backbone>-<fusion>`; ValueError for an unknown name."""
    backbone, _, fusion = name.rpartition("-")
    found = {ep.name: ep for ep in plugin_entry_points(ENTRY_POINTS)}
    if not found:
        raise RuntimeError(f"no models registered under {ENTRY_POINTS!r}: is spare3d-bench installed (pip install -e .)?")
    cls = load_plugin(found[fusion], "model") if fusion in found else None  # only this one: others may be broken
    if cls is None or backbone not in (BACKBONES if cls.backbones is None else cls.backbones):
        raise ValueError(f"unknown model {name!r} (see spare3d train --list-models)")
    return cls


def build_model(name: str, spec: TaskSpec, weights: str | os.PathLike | None = None, arch: dict | None = None) -> TaskModel:
    """The model `<backbone>-<fusion>` for `spec`; `weights`: a local ImageNet state dict;
    `arch`: its architecture switches (name -> value), checked against its `Options`."""
    cls = model_class(name)
    backbone, _, fusion = name.rpartition("-")
    if spec.task not in cls.tasks:
        raise ValueError(f"{name} does not do {spec.task} (the {fusion} fusion does {', '.join(cls.tasks)})")
    if cls.Options is NoOptions:
        if arch:
            raise ValueError(f"{name} has no architecture options (--arch {', '.join(arch)})")
        return cls(backbone, spec, weights)
    return cls(backbone, spec, weights, options=parse_options(cls.Options, arch, f"--arch of {name}"))
