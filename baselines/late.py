"""Late fusion ("metric learning" in SPARE3D): a three-view branch (f, r, t stacked) and a
candidate branch each embed to 128-d; a candidate's score is minus its L2 distance to the
views' embedding (the answer is the nearest), trained with a margin-ranking loss
(margin 2) between the right candidate and each wrong one.
"""

from __future__ import annotations

import torch

from spare3d_bench.backbones import make_backbone
from spare3d_bench.models import TaskModel, TaskSpec

EMBEDDING = 128
MARGIN = 2.0


class LateFusion(TaskModel):
    tasks = ("t2i",)

    def __init__(self, backbone: str, spec: TaskSpec, weights=None) -> None:
        super().__init__(spec)
        self.views_net = make_backbone(backbone, 3 * spec.channels, EMBEDDING, weights, spec.channels)
        self.candidate_net = make_backbone(backbone, spec.channels, EMBEDDING, weights, spec.channels)

    def forward(self, views: torch.Tensor, candidates: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        b, k = candidates.shape[:2]
        v = self.views_net(views.flatten(1, 2)).float()
        c = self.candidate_net(candidates.flatten(0, 1)).float().view(b, k, -1)
        return -(c - v[:, None]).norm(dim=-1)

    def loss(self, scores: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        """mean over wrong candidates j of max(0, d_answer - d_j + margin)."""
        d = -scores.float()
        positive = d.gather(1, answer[:, None])
        wrong = torch.ones_like(d, dtype=torch.bool).scatter_(1, answer[:, None], False)
        hinge = torch.relu(positive - d + MARGIN).masked_fill(~wrong, 0)  # masked, not selected: no wait for the device
        return hinge.sum() / (d.shape[0] * (d.shape[1] - 1))
