"""Self-supervised pretraining on single drawings: the parts SimCLR, MoCo, CLSA and DisCo share.

- `EmbeddingModel` (`<backbone>-embed` in `spare3d.models`): a per-drawing encoder (ResNet-18
  or -50, MobileNet-v3, EfficientNet-B0 from torchvision, classifier removed). It answers
  no question itself: `spare3d probe` scores its frozen features, and `spare3d train
  --init RUN` hands it to a task model as its backbone's weights (late fusion and the
  four-branch network take it as it is, early fusion tiles its first convolution, as with
  ImageNet weights).
- `ProjectionHead`: the MLP between encoder and loss (SimCLR's, MoCo v2's), dropped after
  pretraining.
- `DrawingMethod`: the base of the methods. Its data are every distinct drawing of a
  dataset folder of any kind (`data.drawing_pool`), kept uint8 until they are on the
  device and augmented there (`augment.LineAugment`); its monitors, on detached features,
  are a linear head trained beside the network and a weighted kNN, both naming the pose of
  the isometrics of pose data (8 or 20 classes): `train_accuracy` is the online linear
  head's, `val_knn` (which picks best.pt) and `val_linear` are scored on the validation
  drawings against the training ones.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spare3d_bench.backbones import FEATURE_BACKBONES, make_feature_encoder
from spare3d_bench.data import ELEVATIONS, QuestionDataset, drawing_pool, pose_elevation, spread_by_label, subset
from spare3d_bench.inputs import to_float
from spare3d_bench.methods import DATA_KINDS, Method, StepOutput
from spare3d_bench.models import TASKS, TaskModel, TaskSpec
from spare3d_bench.options import option
from spare3d_bench.probe import data_bn, drawing_batches, knn_predict

from .augment import AugmentOptions, LineAugment

#: The most training drawings the kNN monitor compares the validation drawings with.
KNN_BANK = 4096


class EmbeddingModel(TaskModel):
    """A per-drawing encoder: (N, C, H, W) drawings -> (N, features). See the module
    docstring; its state dict is `encoder.` + torchvision's names."""

    tasks = TASKS
    backbones = tuple(FEATURE_BACKBONES)
    encoder_only = True

    def __init__(self, backbone: str, spec: TaskSpec, weights=None) -> None:
        super().__init__(spec)
        self.backbone = backbone
        self.features = FEATURE_BACKBONES[backbone]
        self.encoder = make_feature_encoder(backbone, spec.channels, weights)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, views: torch.Tensor, candidates: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        raise ValueError("a pretrained drawing encoder answers no question by itself: probe its features "
                         "(spare3d probe RUN --data DIR) or fine-tune it (spare3d train --init RUN --model ...)")

    @classmethod
    def encoder_state(cls, state: dict) -> dict:
        """The encoder's weights under torchvision's names, from this model's state dict."""
        return {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}


class ProjectionHead(nn.Module):
    """MLP projection head: `layers` linear layers (2: SimCLR v1, MoCo v2; 3: SimCLR v2),
    the hidden ones `hidden` wide with ReLU, and batch norm if `batch_norm` (SimCLR's head
    has it, MoCo v2's not), the last `out` wide without."""

    def __init__(self, features: int, hidden: int, out: int, layers: int = 2, batch_norm: bool = True) -> None:
        super().__init__()
        if layers not in (1, 2, 3):
            raise ValueError(f"a projection head has 1, 2 or 3 layers, not {layers}")
        blocks: list[nn.Module] = []
        width = features
        for _ in range(layers - 1):
            blocks += [nn.Linear(width, hidden, bias=not batch_norm)]
            blocks += [nn.BatchNorm1d(hidden)] if batch_norm else []
            blocks += [nn.ReLU(inplace=True)]
            width = hidden
        blocks.append(nn.Linear(width, out))
        self.net = nn.Sequential(*blocks)
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass(frozen=True)
class DrawingOptions(AugmentOptions):
    """What every method on single drawings takes: the augmentation of each view
    (`augment.AugmentOptions`), the projection head and the loss's temperature."""

    head_layers: int = option(2, "projection head layers (2: SimCLR v1 / MoCo v2, 3: SimCLR v2)", choices=(1, 2, 3))
    head_hidden: int = option(0, "projection head hidden width (0: the encoder's feature count)", range=(0, 16384))
    head_out: int = option(128, "embedding size the loss sees", range=(8, 4096))
    head_bn: bool = option(True, "batch norm after the projection head's hidden layers (SimCLR's head has it)")
    temperature: float = option(0.2, "softmax temperature of the contrastive loss", range=(1e-3, 10.0))


class DrawingMethod(Method):
    """Base of the methods that pretrain a per-drawing encoder (see the module docstring).
    Subclasses build their heads in `__init__` and implement `loss`."""

    data = DATA_KINDS
    Options: ClassVar[type] = DrawingOptions
    default_model = "resnet18-embed"
    default_batch = 256  # drawings: MoCo v2's and CLSA's batch (SimCLR's 4,096 does not fit one GPU)
    metric = "val_knn"

    def __init__(self, spec: TaskSpec, model: EmbeddingModel, options, inputs) -> None:
        super().__init__(spec, model, options, inputs)
        o = options
        self.weak = LineAugment(o)
        self.n_strong = self.strong_views(o)
        self.strong = self.strong_augment(o) if self.n_strong else None
        self.head = ProjectionHead(model.features, o.head_hidden or model.features, o.head_out, o.head_layers,
                                   batch_norm=o.head_bn)
        self.classes = spec.poses + 1  # label 0: not an isometric of pose data
        self.probe = nn.Linear(model.features, self.classes)
        self.bank_source: QuestionDataset | None = None

    @classmethod
    def strong_views(cls, options) -> int:
        """Strongly augmented views per drawing (CLSA's); none by default."""
        return 0

    @staticmethod
    def strong_augment(options) -> LineAugment:
        """The augmentation of the strong views, where a method has them."""
        return LineAugment(options, strong=True)

    @classmethod
    def model_task(cls, data: str) -> str:
        return "t2i"  # an encoder answers no task: any spec will do

    @classmethod
    def check_config(cls, model: str, arch: dict, options) -> dict:
        if not model.endswith("-embed"):
            raise ValueError(f"this method pretrains a per-drawing encoder <backbone>-embed "
                             f"({', '.join(b + '-embed' for b in FEATURE_BACKBONES)}), not {model}")
        return arch

    def forward_module(self) -> nn.Module:
        return self.model.encoder

    def dataset(self, ds: QuestionDataset, split: str) -> QuestionDataset:
        pool = drawing_pool(ds)
        if split == "train":
            self.bank_source = pool
        return pool

    def check_split(self, ds: QuestionDataset, where) -> None:
        if len(ds) == 0:
            raise ValueError(f"{where}: no drawings to pretrain on")

    def prepare(self, batch: dict, device: torch.device, generator: torch.Generator | None = None) -> tuple:
        """(drawing views..., labels, ids): two weak views (and `n_strong` strong ones) of
        each drawing when training, the drawing itself otherwise; ids are the drawings'
        indices in the pool (MoCo's queue keeps them)."""
        x = to_float(batch["views"].to(device, non_blocking=device.type == "cuda"), self.inputs)[:, 0]
        labels = batch["answer"].to(device, non_blocking=device.type == "cuda")
        ids = batch["index"].to(device, non_blocking=device.type == "cuda")
        if generator is None:
            return (x, x, *[x] * self.n_strong, labels, ids)
        # One call per kind of view, on the batch repeated: a call costs the same whatever the batch.
        views = list(self.weak(x.repeat(2, 1, 1, 1), generator).chunk(2))
        if self.n_strong:
            views += self.strong(x.repeat(self.n_strong, 1, 1, 1), generator).chunk(self.n_strong)
        return (*views, labels, ids)

    def loss(self, features: list[torch.Tensor], views: list[torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
        """The method's loss from the encoder's features of each view (and the views, and
        the drawings' pool indices)."""
        raise NotImplementedError

    def compute(self, *inputs: torch.Tensor) -> StepOutput:
        *views, labels, ids = inputs
        features = [self.net(v) for v in views]
        pretext = self.loss(features, views, ids)
        # The online linear monitor: detached features, labelled drawings only, by mask
        # rather than by selection, so that the step never waits for the device. Its loss
        # trains only the monitor's head, and is logged apart (train_monitor_loss).
        known = labels > 0
        count = known.sum()
        logits = self.probe(features[0].detach().float())
        per_drawing = F.cross_entropy(logits, labels, reduction="none")
        monitor = (per_drawing * known).sum() / count.clamp(min=1)
        right = ((logits.argmax(1) == labels) & known).sum()
        return StepOutput(pretext + monitor, right, count,
                          parts={"pretext_loss": pretext.detach(), "monitor_loss": monitor.detach()})

    @torch.no_grad()
    def embed_pool(self, encoder: nn.Module, pool: QuestionDataset, device: torch.device, batch: int,
                   limit: int | None = None) -> tuple:
        """Features (float32) by `encoder` and labels of the labelled drawings of `pool` (at
        most `limit`, each pose keeping its share: `spread_by_label`)."""
        answers = np.asarray(pool.answers)
        idx = np.flatnonzero(answers > 0)
        if limit is not None:
            idx = idx[spread_by_label(answers[idx], limit)]
        labelled = subset(pool, idx)
        feats, labels = [], []
        for x, b in drawing_batches(labelled, self.inputs, device, batch):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                feats.append(encoder(x).float())
            labels.append(b["answer"].to(device))
        if not feats:
            return torch.zeros(0, self.model.features, device=device), torch.zeros(0, dtype=torch.long, device=device)
        return torch.cat(feats), torch.cat(labels).long()

    def validate(self, ds: QuestionDataset, device: torch.device, batch: int) -> dict[str, float]:
        """val_knn and val_linear: pose accuracy of the validation drawings' features, by
        kNN against the training drawings and by the online linear head (none when the
        data give no pose labels); val_knn_elevation: their elevation (above, below or
        level) by the same kNN, the part of a pose one isometric shows. The features are
        the offline probe's: eval mode, with batch-norm statistics of the training drawings
        (`spare3d_bench.probe.data_bn`, on a copy: the network in training keeps its own)."""
        if self.bank_source is None or not (np.asarray(ds.answers) > 0).any():
            return {}
        self.eval()
        encoder = data_bn(self.model.encoder, self.bank_source, self.inputs, device, batch)
        queries, truth = self.embed_pool(encoder, ds, device, batch)
        bank, labels = self.embed_pool(encoder, self.bank_source, device, batch, KNN_BANK)
        result = {"val_linear": float((self.probe(queries).argmax(1) == truth).float().mean())}
        if len(bank):
            result["val_knn"] = float((knn_predict(queries, bank, labels, self.classes) == truth).float().mean())
            elevation = torch.as_tensor(pose_elevation(np.arange(1, self.classes)), device=device)  # of poses 1..P
            named = knn_predict(queries, bank, elevation[labels - 1], len(ELEVATIONS))
            result["val_knn_elevation"] = float((named == elevation[truth - 1]).float().mean())
        return result

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Batch-norm weights and biases neither decay nor (under LARS) adapt: SimCLR's rule."""
        decay, plain = [], []
        for p in self.parameters():
            if p.requires_grad:
                (plain if p.dim() <= 1 else decay).append(p)
        return [{"params": decay, "weight_decay": weight_decay, "adapt": True},
                {"params": plain, "weight_decay": 0.0, "adapt": False}]


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen copy of `module` (a momentum encoder or a teacher): no gradients."""
    twin = copy.deepcopy(module)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


@torch.no_grad()
def momentum_update(target: nn.Module, source: nn.Module, m: float) -> None:
    """target = m * target + (1 - m) * source, parameter by parameter; buffers (batch-norm
    statistics) copied."""
    for t, s in zip(target.parameters(), source.parameters()):
        t.mul_(m).add_(s.detach(), alpha=1 - m)
    for t, s in zip(target.buffers(), source.buffers()):
        t.copy_(s)
