"""Early fusion ("binary classification" in SPARE3D): each candidate is stacked with the
f, r, t views as input channels and one backbone scores it.

- T2I: one logit per candidate, binary cross-entropy over the 4 logits, argmax.
- I2P: f, r, t and the isometric in, one logit per pose class (4, or 20 extended).
- P2I: the backbone gives 128 features per candidate, joined with the queried pose's
  one-hot; a hidden layer (the original joins them linearly, which lets the pose only
  shift every candidate's score alike) maps them to one logit, BCE over the 4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spare3d_bench.backbones import make_backbone
from spare3d_bench.models import TaskModel, TaskSpec

P2I_FEATURES = 128


class EarlyFusion(TaskModel):
    tasks = ("t2i", "i2p", "p2i")

    def __init__(self, backbone: str, spec: TaskSpec, weights=None) -> None:
        super().__init__(spec)
        out = {"t2i": 1, "i2p": spec.n_scores, "p2i": P2I_FEATURES}[spec.task]
        self.net = make_backbone(backbone, 4 * spec.channels, out, weights, spec.channels)
        if spec.task == "p2i":
            self.head = nn.Sequential(nn.Linear(P2I_FEATURES + spec.poses, P2I_FEATURES), nn.ReLU(inplace=True), nn.Linear(P2I_FEATURES, 1))

    def forward(self, views: torch.Tensor, candidates: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        b, k = candidates.shape[:2]
        stacked = views.flatten(1, 2).unsqueeze(1).expand(b, k, -1, -1, -1)
        x = torch.cat([stacked, candidates], dim=2).flatten(0, 1)  # (B*K, 4C, H, W)
        out = self.net(x)
        if self.spec.task == "i2p":
            return out
        if self.spec.task == "p2i":
            onehot = F.one_hot(pose - 1, self.spec.poses).to(out.dtype).repeat_interleave(k, dim=0)
            out = self.head(torch.cat([out, onehot], dim=1))
        return out.view(b, k)

    def loss(self, scores: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        scores = scores.float()
        if self.spec.task == "i2p":
            return F.cross_entropy(scores, answer)
        return F.binary_cross_entropy_with_logits(scores, F.one_hot(answer, scores.shape[1]).float())
