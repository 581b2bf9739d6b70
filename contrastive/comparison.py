"""The binary view-comparison network and its pair pretext.

From pair data alone (a model cut twice into objects 1 and 2, each drawn as f, r, t and
the pose-2 isometric) the network learns whether three views and an isometric show the
same object: the four pairings (views_i, iso_j) are labelled [1, 0, 0, 1]. It then
answers T2I directly, by scoring each candidate against the views (no T2I label used),
or after fine-tuning on T2I answers (`spare3d train --task t2i --init RUN`).

- `ComparisonModel` (`<backbone>-compare` in `spare3d.models`): the network as a T2I
  model: one logit per candidate, binary cross-entropy over the 4 when fine-tuned.
- `ViewComparison` (`view-comparison` in `spare3d.methods`): training on pairs, with
  binary cross-entropy (the paper's) or NT-Xent between the views' and the isometrics'
  embeddings (the paper's weaker variant: 48.4% against 74.9% on T2I).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from spare3d_bench.inputs import prepare
from spare3d_bench.methods import Method, StepOutput
from spare3d_bench.models import TaskModel, TaskSpec
from spare3d_bench.options import option

from .branches import ENCODER_BACKBONES, BranchOptions, FourBranchNet
from .losses import NTXentLoss

class ComparisonModel(TaskModel):
    """T2I through the view-comparison network: each candidate's logit of showing the
    object of f, r and t; the answer is the argmax."""

    tasks = ("t2i",)
    Options = BranchOptions
    backbones = ENCODER_BACKBONES

    def __init__(self, backbone: str, spec: TaskSpec, weights=None, options: BranchOptions | None = None) -> None:
        super().__init__(spec)
        options = options or BranchOptions()
        self.net = FourBranchNet(backbone, spec, options, 1, weights)

    def forward(self, views: torch.Tensor, candidates: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        return self.net(views, candidates)[..., 0]

    def loss(self, scores: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        scores = scores.float()
        return F.binary_cross_entropy_with_logits(scores, F.one_hot(answer, scores.shape[1]).float())


@dataclass(frozen=True)
class ComparisonSettings:
    """The view-comparison method's options."""

    loss: str = option("bce", "bce: binary cross-entropy over the four pairings [1, 0, 0, 1]; ntxent: NT-Xent between "
                              "the views' and the isometrics' embeddings (the cosine head, --arch temperature)",
                       choices=("bce", "ntxent"))


def pairing_labels(pairs: int, device=None) -> torch.Tensor:
    """(2 * pairs, 2) targets: row 2p + i holds the labels of object i's views against
    the two isometrics of pair p, [1, 0] then [0, 1]: the [1, 0, 0, 1] of a pair."""
    return torch.eye(2, device=device).repeat(pairs, 1)  # made on the device: no host copy to wait for


class ViewComparison(Method):
    """Trains a `<backbone>-compare` network on pair data (see the module docstring)."""

    data = ("pairs",)
    Options = ComparisonSettings
    description = "the binary view-comparison network on pair data: do f, r, t and an isometric show one object?"
    default_model = "vgg16-compare"

    @classmethod
    def model_task(cls, data: str) -> str:
        return "t2i"

    @classmethod
    def check_config(cls, model: str, arch: dict, options: ComparisonSettings) -> dict:
        if not model.endswith("-compare"):
            raise ValueError(f"the view-comparison method trains a <backbone>-compare network, not {model}")
        if options.loss == "ntxent":
            arch = {**arch, "head": arch.get("head", "cosine")}
            if arch["head"] != "cosine":
                raise ValueError("the NT-Xent loss compares embeddings: it needs --arch head=cosine")
        return arch

    def __init__(self, spec, model, options, inputs) -> None:
        super().__init__(spec, model, options, inputs)
        if not model.net.options.views:
            raise ValueError("the pair pretext asks whether the views and the isometric show one object: it needs "
                             "--arch views=yes (each isometric is labelled 1 with one view set and 0 with the other)")
        if options.loss == "ntxent":
            self.ntxent = NTXentLoss(model.net.options.temperature)

    def forward_module(self):
        return self.model.net

    def check_split(self, ds, where) -> None:
        if ds.view_rows.shape[1] != 6 or ds.candidate_rows.shape[1] != 2:
            raise ValueError(f"{where}: not pair data (a pair is 6 views and 2 isometrics)")
        bad = next((q for q, a in zip(ds.ids, ds.answers) if list(a) != [1, 0, 0, 1]), None)
        if bad is not None:
            raise ValueError(f"{where}: pair {bad} is not labelled [1, 0, 0, 1]")

    def prepare(self, batch: dict, device: torch.device, generator: torch.Generator | None = None) -> tuple:
        views, isos, _, _ = prepare(batch, self.inputs, device, generator)
        b = views.shape[0]
        return views.reshape(2 * b, 3, *views.shape[2:]), isos  # (2B, 3, C, H, W): object 1, 2 of each pair

    def compute(self, views: torch.Tensor, isos: torch.Tensor) -> StepOutput:
        """views (2B, 3, C, H, W), isos (B, 2, C, H, W) -> the loss, and how many view
        sets score their own isometric above their pair's other one."""
        pairs = isos.shape[0]
        if self.options.loss == "ntxent":
            za, zb = self.model.net.embed(views, isos.flatten(0, 1))
            loss = self.ntxent(za, zb)
            scores = torch.einsum("pid,pjd->pij", za.view(pairs, 2, -1), zb.view(pairs, 2, -1)).reshape(2 * pairs, 2)
        else:
            scores = self.net(views, isos.repeat_interleave(2, dim=0))[..., 0].float()  # (2B, 2)
            loss = F.binary_cross_entropy_with_logits(scores, pairing_labels(pairs, scores.device))
        mine = torch.arange(2 * pairs, device=scores.device).remainder(2)[:, None]  # row 2p + i: object i's views
        own, other = scores.detach().gather(1, mine)[:, 0], scores.detach().gather(1, 1 - mine)[:, 0]
        return StepOutput(loss, (own > other).sum(), 2 * pairs)

    def validate(self, ds, device, batch: int) -> dict[str, float]:
        return self.evaluate_loop(ds, device, batch)
