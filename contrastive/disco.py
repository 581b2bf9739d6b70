"""DisCo (Gao et al. 2022, https://arxiv.org/abs/2104.09124): a small student trained with
MoCo v2 and distilled from a frozen self-supervised teacher.

The teacher is one of our own runs (SimCLR, CLSA or MoCo: its encoder and projection
head, whose final embedding it gives) or a local encoder weights file (`teacher_model`
names its backbone; its pooled features are the embedding). It is frozen and stays in
eval mode: no gradient, no batch-norm statistics, never updated. The distillation term
is the mean squared distance between the L2-normalised final embeddings of student and
teacher for both views (mean over the batch; the reference sums). The student's MLP
hidden layer is at least as wide as the teacher's (the "distilling bottleneck": 0 picks
the larger of the student's feature count and the teacher's hidden width).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from spare3d_bench.backbones import FEATURE_BACKBONES, make_feature_encoder
from spare3d_bench.options import option, parse_options

from .losses import DistillLoss
from .moco import MoCo, MoCoOptions
from .ssl import DrawingOptions, ProjectionHead


@dataclass(frozen=True)
class DisCoOptions(MoCoOptions):
    teacher: str = option("", "the teacher: a pretraining run (SimCLR, CLSA or MoCo) or a local encoder weights file "
                          "(required)")
    teacher_model: str = option("resnet50", "backbone of a teacher given as a weights file", choices=tuple(FEATURE_BACKBONES))
    beta: float = option(1.0, "weight of the distillation loss", range=(0.0, 100.0))

    def __post_init__(self) -> None:
        if self.teacher and os.path.exists(self.teacher):  # config.json keeps a path that works from anywhere
            object.__setattr__(self, "teacher", os.path.abspath(self.teacher))


class Teacher(nn.Module):
    """A frozen encoder and, for a run, its projection head: drawings -> final embeddings."""

    def __init__(self, encoder: nn.Module, head: nn.Module | None, out: int, hidden: int) -> None:
        super().__init__()
        self.encoder, self.head, self.out, self.hidden = encoder, head or nn.Identity(), out, hidden
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True):
        return super().train(False)  # always eval: batch-norm statistics stay the teacher's

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def load_teacher(source: str, backbone: str, channels: int) -> Teacher:
    """The teacher named by `source` (a run folder or a weights file); ValueError in one line."""
    from spare3d_bench.train import run_checkpoint

    if not source:
        raise ValueError("DisCo needs a teacher: --teacher RUN (a SimCLR, CLSA or MoCo run) or --teacher FILE")
    path = Path(source)
    if path.is_dir():
        ckpt = run_checkpoint(path)
        config = ckpt["config"]
        model = str(config.get("model", ""))
        name = model.removesuffix("-embed")
        if not model.endswith("-embed") or name not in FEATURE_BACKBONES:
            raise ValueError(f"{path}: a {config.get('method', '?')} run of {model or '?'}, not a pretrained drawing "
                             "encoder (SimCLR, CLSA or MoCo)")
        known = {f for f in DrawingOptions.__dataclass_fields__}
        options = parse_options(DrawingOptions, {k: v for k, v in config.get("options", {}).items() if k in known},
                                f"{path} options")
        weights = {k.removeprefix("encoder."): v for k, v in ckpt["model"].items() if k.startswith("encoder.")}
        head_state = {k.removeprefix("head."): v for k, v in ckpt.get("method", {}).items() if k.startswith("head.")}
        first = head_state.get("net.0.weight")
        # The hidden width as trained: a DisCo run's config keeps --head-hidden 0 even where
        # its head was widened to its own teacher's.
        hidden = int(first.shape[0]) if options.head_layers > 1 and isinstance(first, torch.Tensor) else 0
        try:
            encoder = make_feature_encoder(name, channels, weights=weights)  # a grey run serves an RGB student
            head = ProjectionHead(FEATURE_BACKBONES[name], hidden, options.head_out, options.head_layers,
                                  batch_norm=options.head_bn)  # a run saved before head_bn had batch norm
            head.load_state_dict(head_state)
        except (RuntimeError, ValueError) as e:
            raise ValueError(f"{path}: its checkpoint does not fit its own configuration "
                             f"({str(e).splitlines()[0][:160]})") from None
        return Teacher(encoder, head, options.head_out, hidden)
    if not path.is_file():
        raise ValueError(f"{path}: no such teacher (a pretraining run folder or an encoder weights file)")
    encoder = make_feature_encoder(backbone, channels, str(path))
    return Teacher(encoder, None, FEATURE_BACKBONES[backbone], 0)


class DisCo(MoCo):
    """DisCo: MoCo v2 for the student plus distillation of a frozen teacher's embeddings."""

    Options = DisCoOptions
    description = "DisCo: a small student (MoCo v2) distilled from a frozen SimCLR, CLSA or MoCo teacher"

    def __init__(self, spec, model, options, inputs) -> None:
        teacher = load_teacher(options.teacher, options.teacher_model, spec.channels)
        if options.head_out != teacher.out:
            raise ValueError(f"the teacher {options.teacher} gives {teacher.out}-d embeddings, the student "
                             f"{options.head_out}-d: set --head-out {teacher.out}")
        hidden = options.head_hidden or max(model.features, teacher.hidden)
        if options.head_layers > 1 and hidden < teacher.hidden:  # a one-layer head has no hidden width
            raise ValueError(f"--head-hidden {hidden} is narrower than the teacher's {teacher.hidden}: DisCo's student "
                             "head must be at least as wide (the distilling bottleneck)")
        super().__init__(spec, model, replace(options, head_hidden=hidden), inputs)
        self.teacher = teacher
        self.distill = DistillLoss()

    def loss(self, features, views, ids):
        queries, _, loss, _ = self.contrast(features, views, ids)
        targets = [self.teacher(v).float() for v in views[:2]]
        distill = (self.distill(queries[0], targets[0]) + self.distill(queries[1], targets[1])) / 2
        return loss + self.options.beta * distill
