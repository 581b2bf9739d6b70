"""SimCLR (Chen et al. 2020, https://arxiv.org/abs/2002.05709) on line drawings: two
augmented views of each drawing, an MLP projection head with batch norm, NT-Xent with a
temperature, LARS with warm-up and cosine decay by default. Negatives are every other
view of the batch, gathered from every rank under torchrun."""

from __future__ import annotations

from .losses import NTXentLoss
from .ssl import DrawingMethod


class SimCLR(DrawingMethod):
    """SimCLR: NT-Xent between the projections of two views of each drawing."""

    description = "SimCLR on single drawings: NT-Xent between two augmented views (LARS, warm-up, cosine)"
    default_optimizer = "lars"
    default_lr = 0.3  # at 256 drawings, scaled with the batch: SimCLR's 0.3 x batch / 256
    default_weight_decay = 1e-6
    default_warmup = 10.0

    def __init__(self, spec, model, options, inputs) -> None:
        super().__init__(spec, model, options, inputs)
        self.criterion = NTXentLoss(options.temperature, gather_distributed=True)

    def loss(self, features, views, ids):
        return self.criterion(self.head(features[0]), self.head(features[1]))
