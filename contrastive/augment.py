"""Augmentation of line drawings for self-supervised pretraining, per sample, on the device.

Batches arrive as floats in [0, 1] (black lines on white, `spare3d_bench.inputs`) and are
augmented where they are (the GPU in training): every sample of a batch draws its own
parameters. The work is done on *ink* (1 - image: lines 1, paper 0), so that whatever a
crop, rotation or shift uncovers is paper, and the result is turned back into black lines
on white, clamped to [0, 1].

The weak view (every method's) is a short, fixed chain of batched operations: one warp
(`torch.nn.functional.affine_grid` and `grid_sample`) for the crop (a zoom per axis), the
rotation, the shift and the optional flip; stroke-width jitter (a 3 x 3 max-pool dilation
or a line-preserving erosion); stroke dropout (a rectangle of ink erased); kornia's
`gaussian_blur2d` with a sigma per sample; Gaussian noise. Every random parameter of a
batch is drawn here in one draw from the caller's CPU generator and reaches the device in
one copy, and each optional operation is applied to the whole batch and kept per sample
by a mask, so the cost does not depend on which samples drew it and nothing reads the
device back. Why not kornia.augmentation, which does per-sample parameters: its framework
(parameter generators, probability gates, transform bookkeeping) made 536 top-level aten
operations for this chain, and on an H200 the step that used it ran at 65% of the bare
loop's views/s (the augmentation alone 14.9 ms a step against 39 ms for the network).
CLSA's strong set (fourteen photometric and geometric operations, each at its own
probability) stays on kornia.augmentation: there it is used as made.

Colour jitter and grayscale, SimCLR's strongest augmentations on photographs, mean nothing
on black lines: stroke-width jitter, stroke dropout (erasing patches of ink) and blur take
their place, with small rotations and shifts. Flips are off by default: a mirrored drawing
shows another object (a left-handed part is not the right-handed one).

Randomness: the weak chain draws from the caller's generator (its noise from a device
generator seeded from it); kornia's strong set draws from torch's global generator, so it
runs inside `torch.random.fork_rng`, seeded from the caller's with a seed of its own. A
view is a function of that generator's state, which the trainer checkpoints (exact resume).
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
    stroke: float = option(0.5, "augmentation: probability of stroke-width jitter (lines a pixel wider on each side, or "
                           "half a pixel narrower: lines of 1-2 px turn half grey)", range=(0.0, 1.0))
    dropout: float = option(0.3, "augmentation: probability of stroke dropout (a patch of ink erased)", range=(0.0, 1.0))
    blur: float = option(0.3, "augmentation: probability of Gaussian blur (sigma 0.1-1 px)", range=(0.0, 1.0))
    noise: float = option(0.2, "augmentation: probability of Gaussian noise (std 0.05)", range=(0.0, 1.0))
    flip: bool = option(False, "augmentation: horizontal flips (off: a mirrored drawing is another object)")


def jitter_strokes(ink: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Make each sample's lines thicker (`choice` 1: a 3 x 3 dilation, a pixel on each
    side), thinner (-1) or leave them (0); ink (B, C, H, W) in [0, 1], lines high, `choice`
    (B,) on its device. Thinner is a 3 x 3 erosion under which every pixel keeps at least
    half its ink: a line w >= 3 px wide keeps its w - 2 px core and half-grey edges (the
    ink of w - 1 px), a narrower one (the common case at 64-128 px), which erosion would
    remove, turns half grey. So no line ever disappears."""
    choice = choice.view(-1, 1, 1, 1)
    thick = F.max_pool2d(ink, 3, 1, 1)
    thin = torch.maximum(-F.max_pool2d(-ink, 3, 1, 1), 0.5 * ink)
    return torch.where(choice > 0, thick, torch.where(choice < 0, thin, ink))


# Columns of the per-sample parameter table `LineAugment.draw` makes.
_THETA = slice(0, 6)  # the inverse warp, normalised coordinates (affine_grid's theta)
_STROKE, _ERASE, _BLUR, _SIGMA, _NOISE = 6, slice(7, 11), 11, 12, 13
_COLUMNS = 14


class LineAugment(nn.Module):
    """One random view of each drawing of a batch: (B, C, H, W) floats in [0, 1] ->
    the same shape, black lines on white. `strong` adds CLSA's RandAugment-style set,
    without its rotations and shears when `strong_geometry` is off."""

    def __init__(self, options: AugmentOptions | None = None, strong: bool = False,
                 strong_geometry: bool = True) -> None:
        super().__init__()
        self.options = options or AugmentOptions()
        self.strong = strong_set(geometry=strong_geometry) if strong else None

    def draw(self, b: int, h: int, w: int, generator: torch.Generator) -> torch.Tensor:
        """The (b, 14) float32 parameter table of a batch of b drawings of h x w pixels,
        drawn from `generator` on the CPU: the inverse warp (zoom per axis of 1 to
        1/sqrt(crop), rotation, shift, flip, composed in pixels), the stroke choice (1
        thicker, -1 thinner, 0 neither), the erased rectangle (rows y0, y1, columns x0, x1;
        empty when not drawn), whether to blur and its sigma, whether to add noise."""
        o = self.options
        u = torch.rand(b, 15, generator=generator, dtype=torch.float64)
        angle = torch.deg2rad((2 * u[:, 0] - 1) * o.rotate)
        zoom = 1 + u[:, 1:3] * (1 / math.sqrt(o.crop) - 1)  # (sx, sy) >= 1
        shift = (2 * u[:, 3:5] - 1) * o.translate * torch.tensor([w, h], dtype=torch.float64)  # pixels
        mirror = torch.where(u[:, 5] < 0.5, -1.0, 1.0) if o.flip else torch.ones(b, dtype=torch.float64)
        # out = R S in + t in centred pixels, so in = M S^-1 R^-1 (out - t) (M the mirror);
        # affine_grid wants it in normalised coordinates: D^-1 (.) D with D = diag(w/2, h/2).
        cos, sin = torch.cos(angle), torch.sin(angle)
        inv = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)  # R^-1
        inv = inv * torch.stack([mirror / zoom[:, 0], 1 / zoom[:, 1]], 1)[:, :, None]  # rows scaled: M S^-1
        d = torch.tensor([w / 2, h / 2], dtype=torch.float64)
        table = torch.zeros(b, _COLUMNS, dtype=torch.float64)
        lin = inv * d[None, None, :] / d[None, :, None]
        offset = -(inv @ shift[:, :, None])[:, :, 0] / d
        table[:, _THETA] = torch.cat([lin, offset[:, :, None]], 2).reshape(b, 6)
        table[:, _STROKE] = torch.where(u[:, 6] < o.stroke / 2, 1.0, torch.where(u[:, 6] < o.stroke, -1.0, 0.0))
        # Stroke dropout as kornia's RandomErasing: 2-15% of the area, aspect 0.3-3.3 (log-uniform).
        area = (0.02 + 0.13 * u[:, 7]) * h * w
        ratio = torch.exp(math.log(0.3) + u[:, 8] * (math.log(3.3) - math.log(0.3)))
        eh = torch.sqrt(area * ratio).round().clamp(1, h)
        ew = torch.sqrt(area / ratio).round().clamp(1, w)
        y0 = torch.floor(u[:, 9] * (h - eh + 1))
        x0 = torch.floor(u[:, 10] * (w - ew + 1))
        table[:, _ERASE] = torch.stack([y0, y0 + eh, x0, x0 + ew], 1) * (u[:, 12:13] < o.dropout)  # empty: kept
        table[:, _SIGMA] = 0.1 + 0.9 * u[:, 11]
        table[:, _BLUR] = (u[:, 13] < o.blur).double()
        table[:, _NOISE] = (u[:, 14] < o.noise).double()
        return table.float()

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x (B, C, H, W) floats in [0, 1]; `generator` (CPU) decides every random choice."""
        from kornia.filters import gaussian_blur2d

        o = self.options
        b, c, h, w = x.shape
        table = self.draw(b, h, w, generator)
        seeds = torch.randint(0, 2**62, (1 + (self.strong is not None),), generator=generator).tolist()
        seed = seeds[0]
        cuda = x.device.type == "cuda"
        p = (table.pin_memory() if cuda else table).to(x.device, x.dtype, non_blocking=cuda)  # the one copy
        ink = 1 - x
        if o.crop < 1 or o.rotate or o.translate or o.flip:
            grid = F.affine_grid(p[:, _THETA].view(b, 2, 3), [b, c, h, w], align_corners=False)
            ink = F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if o.stroke:
            ink = jitter_strokes(ink, p[:, _STROKE])
        if self.strong is not None:
            with torch.random.fork_rng(devices=[x.device] if cuda else []):
                torch.manual_seed(seeds[1])  # not the noise's seed: on the CPU both generators are Mersenne twisters
                # Grey drawings go through as three equal channels (kornia's saturation takes
                # RGB only), which every operation keeps equal: one of them is the grey view.
                ink = self.strong(ink.expand(-1, 3, -1, -1).contiguous())[:, :c] if c == 1 else self.strong(ink)
        if o.dropout:
            rows = torch.arange(h, device=x.device, dtype=x.dtype)
            cols = torch.arange(w, device=x.device, dtype=x.dtype)
            box = p[:, _ERASE]
            inside_rows = (rows >= box[:, 0:1]) & (rows < box[:, 1:2])  # (B, H)
            inside_cols = (cols >= box[:, 2:3]) & (cols < box[:, 3:4])  # (B, W)
            ink = ink * ~(inside_rows[:, None, :, None] & inside_cols[:, None, None, :])
        if o.blur:
            sigma = table[:, _SIGMA : _SIGMA + 1].repeat(1, 2)  # on the host: kornia checks it there, no sync
            ink = torch.where(p[:, _BLUR].view(b, 1, 1, 1) > 0, gaussian_blur2d(ink, (5, 5), sigma), ink)
        if o.noise:
            noise = torch.randn(ink.shape, generator=torch.Generator(x.device).manual_seed(seed), device=x.device,
                                dtype=x.dtype)
            ink = ink + noise * (0.05 * p[:, _NOISE]).view(b, 1, 1, 1)
        return (1 - ink).clamp_(0, 1)


def strong_set(ops: int = 5, p: float = 0.5, geometry: bool = True) -> nn.Module:
    """CLSA's strong augmentation, made per sample: the reference draws `ops` of 14
    RandAugment operations (with replacement) per image, each applied with probability
    `p` at a random magnitude. kornia's RandAugment draws the operations once per batch,
    so here each of the 14 is applied to each sample independently with the probability
    it has there, 1 - (1 - p / 14) ** ops (about 0.17), at a magnitude drawn per sample
    up to the reference's largest: rotate 30 degrees, shear 0.3, translate 0.3 of the
    side, posterize to 4 bits, solarize, brightness, contrast, saturation, sharpness,
    equalize, auto-contrast, invert (on ink: lines and paper swap), identity.
    `geometry` off leaves out the rotation and the two shears, which turn the axes of an
    isometric drawing and so its pose: for pretraining that must keep pose apart (the
    others keep their probabilities)."""
    import kornia.augmentation as K

    q = 1 - (1 - p / 14) ** ops
    shear = math.degrees(math.atan(0.3))
    turns = [K.RandomRotation(30.0, p=q),
             K.RandomAffine(0.0, shear=(-shear, shear, 0.0, 0.0), p=q),
             K.RandomAffine(0.0, shear=(0.0, 0.0, -shear, shear), p=q)] if geometry else []
    return K.AugmentationSequential(
        *turns,
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
