"""The four-branch network of "Self-supervised Spatial Reasoning on Multi-View Line
Drawings" (CVPR 2022): an encoder per drawing (f, r, t and the isometric), the three
views' features joined by a fully connected layer, the isometric's by another, both
joined by a third that gives the outputs (one logit for "same object?", or a logit per
pose). Every switch of the paper's controlled experiments is an option, because the
experiment harness sweeps them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spare3d_bench.backbones import make_encoder
from spare3d_bench.models import TaskSpec
from spare3d_bench.options import option

#: Backbones the encoders can be built from.
ENCODER_BACKBONES = ("vgg13", "vgg16", "vgg19", "resnet18", "resnet50")


@dataclass(frozen=True)
class BranchOptions:
    """The architecture switches (`--arch NAME=VALUE`)."""

    share: bool = option(False, "one encoder for f, r, t and the isometric (weight sharing)")
    pool: bool = option(True, "adaptive pooling: VGG maps to 6 x 6, ResNet maps to 1 x 1; off: the map flattened as it is")
    dropout: bool = option(True, "dropout (p 0.5) after each hidden layer of the head")
    fc: int = option(3, "head: 3 (views -> FC, isometric -> FC, both -> FC -> output) or 1 (both -> output)",
                     choices=(1, 3))
    width: float = option(1.0, "VGG channel multiplier: 0.75, 0.875, 1, 2 give 384, 448, 512, 1024 last-stage channels",
                          range=(0.25, 4.0))
    branches: int = option(4, "4: an encoder per drawing; 1: f, r, t and the isometric stacked into one encoder "
                              "(the 12-channel early fusion)", choices=(1, 4))
    hidden: int = option(4096, "width of the head's hidden layers", range=(8, 16384))
    head: str = option("joint", "joint: the FC layers score a (views, isometric) pair; cosine: the cosine of the views' "
                                "and the isometric's embeddings over `temperature` (for NT-Xent)", choices=("joint", "cosine"))
    temperature: float = option(0.1, "the cosine head's temperature", range=(1e-3, 10.0))
    views: bool = option(True, "read f, r and t; no: the isometric alone (the ablation that measures what one "
                               "isometric tells without its views)")


class FourBranchNet(nn.Module):
    """(views (B, 3, C, H, W), isometrics (B, K, C, H, W)) -> (B, K, outputs): every
    isometric of row b paired with row b's views. The views are encoded once per row;
    with `views=no` they are not read at all."""

    def __init__(self, backbone: str, spec: TaskSpec, options: BranchOptions, outputs: int, weights=None) -> None:
        super().__init__()
        if backbone not in ENCODER_BACKBONES:
            raise ValueError(f"the four-branch network's encoders are {', '.join(ENCODER_BACKBONES)}, not {backbone}")
        o, c = options, spec.channels
        if o.head == "cosine" and (o.fc != 3 or o.branches != 4 or outputs != 1):
            raise ValueError("the cosine head compares the views' and the isometric's embeddings: it needs fc=3, "
                             "branches=4 and one output")
        if o.head == "cosine" and not o.views:
            raise ValueError("the cosine head compares the views with the isometric: it needs views=yes")
        self.options, self.outputs = o, outputs

        def encoder(stacked: int):
            return make_encoder(backbone, stacked * c, c, o.width, o.pool, spec.size, weights)

        if o.branches == 1:
            self.fused = encoder(4 if o.views else 1)
            features = self.fused.out_features
        elif o.share:
            self.shared = encoder(1)
            features = self.shared.out_features
        elif o.views:
            self.enc_f, self.enc_r, self.enc_t, self.enc_iso = (encoder(1) for _ in range(4))
            features = self.enc_iso.out_features
        else:
            self.enc_iso = encoder(1)
            features = self.enc_iso.out_features
        seen = 4 if o.views else 1  # drawings whose features reach the head
        h, drop = o.hidden, (lambda: nn.Dropout(0.5)) if o.dropout else nn.Identity
        if o.branches == 1:
            layers = [nn.Linear(features, outputs)] if o.fc == 1 else [
                nn.Linear(features, h), nn.ReLU(inplace=True), drop(),
                nn.Linear(h, h), nn.ReLU(inplace=True), drop(), nn.Linear(h, outputs)]
            self.head = nn.Sequential(*layers)
        elif o.fc == 1:
            self.head = nn.Linear(seen * features, outputs)
        else:
            if o.views:
                self.views_fc = nn.Linear(3 * features, h)
            self.iso_fc = nn.Linear(features, h)
            self.drop = drop()
            if o.head == "joint":
                self.head = nn.Sequential(nn.Linear((2 if o.views else 1) * h, h), nn.ReLU(inplace=True), drop(),
                                          nn.Linear(h, outputs))

    def encoders(self) -> dict[str, nn.Module]:
        """The encoders by the drawings they read."""
        if self.options.branches == 1:
            return {"stack": self.fused}
        if self.options.share:
            return {"shared": self.shared}
        if not self.options.views:
            return {"iso": self.enc_iso}
        return {"f": self.enc_f, "r": self.enc_r, "t": self.enc_t, "iso": self.enc_iso}

    def _views(self, views: torch.Tensor) -> torch.Tensor:
        """(B, 3, C, H, W) -> (B, 3F): the three views' features side by side."""
        if self.options.share:
            b = views.shape[0]
            return self.shared(views.flatten(0, 1)).view(b, -1)
        return torch.cat([self.enc_f(views[:, 0]), self.enc_r(views[:, 1]), self.enc_t(views[:, 2])], dim=1)

    def _iso(self, isos: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, F)."""
        return (self.shared if self.options.share else self.enc_iso)(isos)

    def embed(self, views: torch.Tensor, isos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cosine head's unit embeddings: views (B, 3, C, H, W) -> (B, D), isometrics
        (N, C, H, W) -> (N, D)."""
        za = F.normalize(self.views_fc(self._views(views)).float(), dim=1)
        zb = F.normalize(self.iso_fc(self._iso(isos)).float(), dim=1)
        return za, zb

    def forward(self, views: torch.Tensor, isos: torch.Tensor) -> torch.Tensor:
        b, k = isos.shape[:2]
        o = self.options
        if o.branches == 1:
            stack = isos if not o.views else torch.cat(
                [views.flatten(1, 2).unsqueeze(1).expand(b, k, -1, -1, -1), isos], dim=2)
            return self.head(self.fused(stack.flatten(0, 1))).view(b, k, -1)
        if o.head == "cosine":
            za, zb = self.embed(views, isos.flatten(0, 1))
            return (zb.view(b, k, -1) * za[:, None]).sum(-1, keepdim=True) / o.temperature
        if not o.views:
            i = self._iso(isos.flatten(0, 1))
            return self.head(i if o.fc == 1 else self.drop(F.relu(self.iso_fc(i)))).view(b, k, -1)
        # The views first: a shared encoder's batch-norm statistics are updated in this order.
        v, i = self._views(views), self._iso(isos.flatten(0, 1))
        if o.fc == 1:
            return self.head(torch.cat([v.repeat_interleave(k, dim=0), i], dim=1)).view(b, k, -1)
        a = self.drop(F.relu(self.views_fc(v)))
        c = self.drop(F.relu(self.iso_fc(i)))
        return self.head(torch.cat([a.repeat_interleave(k, dim=0), c], dim=1)).view(b, k, -1)
