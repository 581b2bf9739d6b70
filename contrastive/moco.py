"""MoCo v2 (Chen et al. 2020, https://arxiv.org/abs/2003.04297) and CLSA (Wang and Qi 2021,
https://arxiv.org/abs/2104.07713) on line drawings.

MoCo v2: a query encoder with an MLP head, a momentum copy of both for the keys, and a
queue of past keys as negatives; InfoNCE at temperature 0.2. The loss is symmetric (each
view's query against the other view's key, averaged, as solo-learn does), so that both
views' query features are used. Under torchrun the keys of every rank enter the queue, in
rank order, on every rank. The queue remembers which drawing each key came from, and a
drawing's own earlier keys are left out of its negatives: on a pool not much larger than
the queue (thousands of line drawings against ImageNet's 1.28 million images) a drawing
would otherwise meet its key of the epoch before as a negative, the positive pushed away.
The momentum update and the enqueue happen after each optimiser step (`after_step`), so a
checkpoint holds the queue and the key encoder as they are between steps, and a resumed
run continues them exactly.

CLSA adds strongly augmented views (`augment.strong_set`, resized smaller: one at 0.43 of
the side in the single-crop setting, five at 1, 0.86, 0.71, 0.57 and 0.43 in the
multi-crop one, the reference's 224 ... 96 out of 224) and the DDM loss: each strong
query must rank [the positive key, the queue] as the weak query does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from spare3d_bench import distributed
from spare3d_bench.options import option

from .augment import LineAugment
from .losses import DDMLoss, InfoNCELoss, queue_similarities
from .ssl import DrawingMethod, DrawingOptions, momentum_copy, momentum_update


@dataclass(frozen=True)
class MoCoOptions(DrawingOptions):
    queue: int = option(4096, "negatives kept in the queue (MoCo: 65,536 on ImageNet)", range=(16, 1_000_000))
    momentum: float = option(0.99, "momentum of the key encoder (MoCo: 0.999 over 200 ImageNet epochs)",
                             range=(0.0, 0.99999))
    head_bn: bool = option(False, "batch norm after the projection head's hidden layers (MoCo v2's head, which CLSA "
                           "and DisCo build on, has none)")


class MoCo(DrawingMethod):
    """MoCo v2: InfoNCE of each view's query against the other view's momentum key and the queue."""

    Options = MoCoOptions
    description = "MoCo v2 on single drawings: momentum key encoder, queue of negatives, InfoNCE (symmetric)"
    default_optimizer = "sgd"
    default_lr = 0.03  # at 256 drawings, scaled with the batch; MoCo v2's SGD with weight decay 1e-4
    default_weight_decay = 1e-4

    def __init__(self, spec, model, options, inputs) -> None:
        super().__init__(spec, model, options, inputs)
        self.key_encoder = momentum_copy(model.encoder)
        self.key_head = momentum_copy(self.head)
        self.register_buffer("queue", F.normalize(torch.randn(options.queue, options.head_out), dim=1))
        self.register_buffer("queue_ids", torch.full((options.queue,), -1, dtype=torch.long))  # -1: no drawing
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.criterion = InfoNCELoss(options.temperature)
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None

    @torch.no_grad()
    def keys(self, view: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.key_head(self.key_encoder(view)).float(), dim=1)

    def own_keys(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, K) bool: which queued keys came from each drawing of the batch."""
        return self.queue_ids[None, :] == ids[:, None]

    def contrast(self, features, views, ids) -> tuple:
        """Queries (normalised) of the two weak views, their keys, the symmetric InfoNCE and
        the step's negatives (the queue as it was before the step, and which of its keys
        are each drawing's own, left out); the keys of view 2 wait to be queued after the
        step."""
        queries = [F.normalize(self.head(f).float(), dim=1) for f in features[:2]]
        keys = [self.keys(v) for v in views[:2]]
        negatives = self.queue.clone(), self.own_keys(ids)
        loss = (self.criterion(queries[0], keys[1], *negatives) + self.criterion(queries[1], keys[0], *negatives)) / 2
        self._pending = distributed.gather_nograd(keys[1]), distributed.gather_nograd(ids)
        return queries, keys, loss, negatives

    def loss(self, features, views, ids):
        return self.contrast(features, views, ids)[2]

    @torch.no_grad()
    def after_step(self) -> None:
        if self._pending is not None:
            (k, ids), n = self._pending, len(self._pending[0])
            if n > len(self.queue):  # more keys than places (every rank's batch): keep the newest, one each
                k, ids, n = k[-len(self.queue):], ids[-len(self.queue):], len(self.queue)
            idx = (self.queue_ptr + torch.arange(n, device=k.device)) % len(self.queue)
            self.queue[idx] = k.to(self.queue.dtype)
            self.queue_ids[idx] = ids
            self.queue_ptr.copy_((self.queue_ptr + n) % len(self.queue))
            self._pending = None
        momentum_update(self.key_encoder, self.model.encoder, self.options.momentum)
        momentum_update(self.key_head, self.head, self.options.momentum)


#: The strong crops' sides as shares of the drawing's: CLSA's 96 of 224, or its five crops.
CROPS = {"single": (96 / 224,), "multi": (1.0, 192 / 224, 160 / 224, 128 / 224, 96 / 224)}


@dataclass(frozen=True)
class CLSAOptions(MoCoOptions):
    crops: str = option("single", "strong views: single (one at 0.43 of the side) or multi (five, 1 down to 0.43)",
                        choices=tuple(CROPS))
    alpha: float = option(1.0, "weight of the DDM loss (summed over the strong views)", range=(0.0, 100.0))
    strong_geometry: bool = option(True, "strong views: the reference's rotations (30 degrees) and shears (0.3); "
                                   "no keeps an isometric drawing's pose")


class CLSA(MoCo):
    """CLSA: MoCo v2 plus the DDM loss of strongly augmented views."""

    Options = CLSAOptions
    description = "CLSA on single drawings: MoCo v2 plus the DDM loss of strongly augmented views (single- or multi-crop)"

    def __init__(self, spec, model, options, inputs) -> None:
        super().__init__(spec, model, options, inputs)
        self.ddm = DDMLoss(options.temperature)
        self.sides = [max(16, round((spec.size or 64) * s)) for s in CROPS[options.crops]]

    @classmethod
    def strong_views(cls, options) -> int:
        return len(CROPS[options.crops])

    @staticmethod
    def strong_augment(options) -> LineAugment:
        return LineAugment(options, strong=True, strong_geometry=options.strong_geometry)

    def prepare(self, batch, device, generator=None) -> tuple:
        *views, labels, ids = super().prepare(batch, device, generator)
        strong = [v if v.shape[-1] == s else F.interpolate(v, size=(s, s), mode="bilinear", antialias=True,
                                                             align_corners=False)
                  for v, s in zip(views[2:], self.sides)]
        return (*views[:2], *strong, labels, ids)

    def loss(self, features, views, ids):
        queries, keys, loss, negatives = self.contrast(features, views, ids)
        weak = queue_similarities(queries[0], keys[1], *negatives)
        strong = [queue_similarities(self.head(f), keys[1], *negatives) for f in features[2:]]
        ddm = torch.stack([self.ddm(weak, s) for s in strong]).sum()  # summed over the crops, as CLSA's code does
        return loss + self.options.alpha * ddm
