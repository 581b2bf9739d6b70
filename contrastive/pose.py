"""The pose pretext: which pose an isometric shows, from f, r, t and the isometric.

Trained on pose data (each model's f, r, t and its isometrics from poses 1..8, or 1..20
for the extended variants), the classifier answers I2P and P2I without their labels:
I2P reads the logits of poses 1, 2, 5 and 6 (all 20 for the extended variant), P2I scores
each candidate by the logit of the queried pose. Fine-tuning on either task starts from
it (`spare3d train --task i2p --init RUN`).

- `PoseModel` (`<backbone>-pose` in `spare3d.models`): the four-branch network with a
  logit per pose, read out for I2P or P2I.
- `PosePretext` (`pose` in `spare3d.methods`): cross-entropy over the poses of every
  isometric of a model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from spare3d_bench.data import pose_elevation
from spare3d_bench.inputs import prepare
from spare3d_bench.methods import Method, StepOutput
from spare3d_bench.models import TaskModel, TaskSpec

from .branches import ENCODER_BACKBONES, BranchOptions, FourBranchNet

#: The I2P choices' poses (labels 0..3) as indices into the pose logits.
I2P_POSE_INDEX = (0, 1, 4, 5)


class PoseModel(TaskModel):
    """A pose classifier over (f, r, t, isometric), answering I2P and P2I by its logits."""

    tasks = ("i2p", "p2i")
    Options = BranchOptions
    backbones = ENCODER_BACKBONES

    def __init__(self, backbone: str, spec: TaskSpec, weights=None, options: BranchOptions | None = None) -> None:
        super().__init__(spec)
        options = options or BranchOptions()
        if options.head != "joint":
            raise ValueError("a pose classifier needs the joint head (--arch head=joint)")
        self.net = FourBranchNet(backbone, spec, options, spec.poses, weights)

    def readout(self, logits: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """Pose logits (B, K, P) of each candidate -> the task's scores: I2P (K = 1) the
        logits of poses 1, 2, 5, 6 (all P when P = 20); P2I the queried pose's logit of
        each candidate."""
        if self.spec.task == "i2p":
            first = logits[:, 0]
            return first[:, list(I2P_POSE_INDEX)] if self.spec.poses == 8 else first
        b, k, _ = logits.shape
        return logits.gather(2, (pose.long() - 1).view(b, 1, 1).expand(b, k, 1))[..., 0]

    def forward(self, views: torch.Tensor, candidates: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        return self.readout(self.net(views, candidates), pose)

    def loss(self, scores: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        scores = scores.float()
        if self.spec.task == "i2p":
            return F.cross_entropy(scores, answer)
        return F.binary_cross_entropy_with_logits(scores, F.one_hot(answer, scores.shape[1]).float())


class PosePretext(Method):
    """Trains a `<backbone>-pose` classifier on pose data (see the module docstring)."""

    data = ("poses",)
    description = "the pose pretext on pose data: which of the 8 (or 20) poses an isometric shows, from f, r, t"
    default_model = "vgg16-pose"

    @classmethod
    def model_task(cls, data: str) -> str:
        return "i2p"

    @classmethod
    def check_config(cls, model: str, arch: dict, options) -> dict:
        if not model.endswith("-pose"):
            raise ValueError(f"the pose pretext trains a <backbone>-pose network, not {model}")
        return arch

    def __init__(self, spec: TaskSpec, model: TaskModel, options, inputs) -> None:
        super().__init__(spec, model, options, inputs)
        # Each pose's elevation (index: pose - 1), for val_elevation; not part of a checkpoint.
        self.register_buffer("elevation", torch.as_tensor(pose_elevation(np.arange(1, spec.poses + 1))),
                             persistent=False)

    def forward_module(self):
        return self.model.net

    def check_split(self, ds, where) -> None:
        k = ds.candidate_rows.shape[1]
        if ds.view_rows.shape[1] != 3 or k != self.spec.poses:
            raise ValueError(f"{where}: not pose data of {self.spec.poses} poses (3 views and {self.spec.poses} "
                             f"isometrics a model; found {ds.view_rows.shape[1]} and {k})")
        wanted = list(range(1, k + 1))
        bad = next((q for q, a in zip(ds.ids, ds.answers) if list(a) != wanted), None)
        if bad is not None:
            raise ValueError(f"{where}: model {bad} does not list poses 1..{k} in order")

    def prepare(self, batch: dict, device: torch.device, generator: torch.Generator | None = None) -> tuple:
        views, isos, _, poses = prepare(batch, self.inputs, device, generator)
        return views, isos, poses

    def compute(self, views: torch.Tensor, isos: torch.Tensor, poses: torch.Tensor) -> StepOutput:
        """views (B, 3, C, H, W), isos (B, P, C, H, W), poses (B, P) -> cross-entropy over
        the poses of every isometric, how many it names right and, in validation, how many
        of the named poses see the object from the right elevation."""
        logits = self.net(views, isos).float().flatten(0, 1)  # (B * P, P)
        target = poses.flatten().long() - 1
        named = logits.detach().argmax(1)
        tallies = {} if self.training else {"elevation": (self.elevation[named] == self.elevation[target]).sum()}
        return StepOutput(F.cross_entropy(logits, target), (named == target).sum(), len(target), tallies)

    def validate(self, ds, device, batch: int) -> dict[str, float]:
        """val_loss and val_accuracy over every isometric, and val_elevation: the share whose
        named pose sees the object from the right elevation (above, below or level), the
        part of a pose that one isometric shows without its views (`--arch views=no`)."""
        return self.evaluate_loop(ds, device, batch)
