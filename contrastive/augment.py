"""Augmentation of line drawings for self-supervised pretraining, per sample, on the device.

Batches arrive as floats in [0, 1] (black lines on white, `spare3d_bench.inputs`) and are
augmented where they are (the GPU in training): every sample of a batch draws its own
parameters. The work is done on *ink* (1 - image: lines 1, paper 0), so that whatever a
crop, rotation or shift uncovers is paper, and the result is turned back into black lines
on white, clamped to [0, 1].

What it uses: kornia.augmentation for the per-sample geometric and photometric operations
(affine, blur, noise, erasing, the strong set): it samples a parameter per sample and
applies them as one batched kernel. Written here, because neither kornia nor torchvision
has them: stroke-width jitter (grey dilation or a line-preserving erosion of the ink by a
3 x 3 max-pool, per sample).

Cost on a GPU is the number of calls, not the pixels: each kornia operation launches some
hundreds of small kernels whatever the batch (an H200 ran the first version, a random
resized crop then an affine, twice per step, at 40% of the bare loop's views/s). So the
crop is the affine's zoom (one warp, not two), and a method augments all its views of a
batch in one call (`LineAugment` on the batch repeated, then split).

Colour jitter and grayscale, SimCLR's strongest augmentations on photographs, mean nothing
on black lines: stroke-width jitter, stroke dropout (erasing patches of ink) and blur take
their place, with small rotations and shifts. Flips are off by default: a mirrored drawing
shows another object (a left-handed part is not the right-handed one).

Randomness: kornia draws from torch's global generator, so `LineAugment.__call__` runs it
inside `torch.random.fork_rng`, seeded from the caller's generator: the augmentation is a
function of that generator's state, which the trainer checkpoints (exact resume).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spare3d_bench.options import option


@dataclass(frozen=True)
class AugmentOptions:
    """How a view of a drawing is drawn (each a flag of the pretraining methods)."""

    crop: float = option(0.5, "augmentation: smallest share of the drawing a view keeps: a zoom of up to 1/sqrt(crop) "
                         "on each axis, drawn per axis (1: no zoom)", range=(0.05, 1.0))
    rotate: float = option(10.0, "augmentation: largest rotation, degrees", range=(0.0, 180.0))
    translate: float = option(0.05, "augmentation: largest shift, a share of the side", range=(0.0, 0.5))
    stroke: float = option(0.5, "augmentation: probability of stroke-width jitter (one pixel thicker or thinner)",
                           range=(0.0, 1.0))
    dropout: float = option(0.3, "augmentation: probability of stroke dropout (a patch of ink erased)", range=(0.0, 1.0))
    blur: float = option(0.3, "augmentation: probability of Gaussian blur (sigma 0.1-1 px)", range=(0.0, 1.0))
    noise: float = option(0.2, "augmentation: probability of Gaussian noise (std 0.05)", range=(0.0, 1.0))
    flip: bool = option(False, "augmentation: horizontal flips (off: a mirrored drawing is another object)")


def jitter_strokes(ink: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Make each sample's lines thicker (3 x 3 dilation: a pixel on each side) or thinner,
    with probability `p`, half and half; ink (B, C, H, W) in [0, 1], lines high. Thinner
    is a 3 x 3 erosion that keeps half the ink where it would remove a line altogether
    (lines under 3 px wide, the common case at 64-128 px), so no line ever disappears."""
    b = ink.shape[0]
    draw = torch.rand(b, generator=generator)
    choice = torch.where(draw < p / 2, 1, torch.where(draw < p, -1, 0)).to(ink.device).view(b, 1, 1, 1)
    thick = F.max_pool2d(ink, 3, 1, 1)
    thin = torch.maximum(-F.max_pool2d(-ink, 3, 1, 1), 0.5 * ink)
    return torch.where(choice > 0, thick, torch.where(choice < 0, thin, ink))


class LineAugment(nn.Module):
    """One random view of each drawing of a batch: (B, C, H, W) floats in [0, 1] ->
    the same shape, black lines on white. `strong` adds CLSA's RandAugment-style set."""

    def __init__(self, size: int, options: AugmentOptions | None = None, strong: bool = False) -> None:
        import kornia.augmentation as K

        super().__init__()
        o = self.options = options or AugmentOptions()
        ops: list[nn.Module] = []
        if o.flip:
            ops.append(K.RandomHorizontalFlip())
        if o.crop < 1 or o.rotate or o.translate:  # crop, rotation and shift as one warp
            zoom = (1.0, 1.0 / math.sqrt(o.crop)) * 2 if o.crop < 1 else None
            ops.append(K.RandomAffine(o.rotate, translate=(o.translate, o.translate) if o.translate else None,
                                      scale=zoom, padding_mode="zeros", p=1.0))
        self.geometric = K.AugmentationSequential(*ops) if ops else None
        late: list[nn.Module] = []
        if o.dropout:  # erased ink is paper
            late.append(K.RandomErasing(scale=(0.02, 0.15), ratio=(0.3, 3.3), value=0.0, p=o.dropout))
        if o.blur:
            late.append(K.RandomGaussianBlur(5, (0.1, 1.0), p=o.blur))
        if o.noise:
            late.append(K.RandomGaussianNoise(std=0.05, p=o.noise))
        self.photometric = K.AugmentationSequential(*late) if late else None
        self.strong = strong_set(size) if strong else None

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x (B, C, H, W) floats in [0, 1]; `generator` (CPU) decides every random choice."""
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            ink = 1 - x
            if self.geometric is not None:
                ink = self.geometric(ink)
            if self.options.stroke:
                ink = jitter_strokes(ink, self.options.stroke, generator)
            if self.strong is not None:
                ink = self.strong(ink)
            if self.photometric is not None:
                ink = self.photometric(ink)
        return (1 - ink).clamp_(0, 1)


def strong_set(size: int, ops: int = 5, p: float = 0.5) -> nn.Module:
    """CLSA's strong augmentation, made per sample: the reference draws `ops` of 14
    RandAugment operations (with replacement) per image, each applied with probability
    `p` at a random magnitude. kornia's RandAugment draws the operations once per batch,
    so here each of the 14 is applied to each sample independently with the probability
    it has there, 1 - (1 - p / 14) ** ops (about 0.17), at a magnitude drawn per sample
    up to the reference's largest: rotate 30 degrees, shear 0.3, translate 0.3 of the
    side, posterize to 4 bits, solarize, brightness, contrast, saturation, sharpness,
    equalize, auto-contrast, invert (on ink: lines and paper swap), identity."""
    import kornia.augmentation as K

    q = 1 - (1 - p / 14) ** ops
    shear = math.degrees(math.atan(0.3))
    return K.AugmentationSequential(
        K.RandomRotation(30.0, p=q),
        K.RandomAffine(0.0, shear=(-shear, shear, 0.0, 0.0), p=q),
        K.RandomAffine(0.0, shear=(0.0, 0.0, -shear, shear), p=q),
        K.RandomAffine(0.0, translate=(0.3, 0.0), p=q),
        K.RandomAffine(0.0, translate=(0.0, 0.3), p=q),
        K.RandomPosterize((4, 8), p=q),
        K.RandomSolarize(0.1, 0.1, p=q),
        K.RandomBrightness((0.5, 1.5), p=q),
        K.RandomContrast((0.5, 1.5), p=q),
        K.RandomSaturation((0.1, 1.9), p=q),
        K.RandomSharpness(0.9, p=q),
        K.RandomEqualize(p=q),
        K.RandomAutoContrast(p=q),
        K.RandomInvert(p=q),
    )
