"""Turning uint8 question batches into model inputs, on the device.

Drawings travel host -> device as uint8 (a quarter of float32's bytes) and become floats
in [0, 1] there (SPARE3D used no mean/std normalisation), optionally grayscale and
resized. Augmentation moves every drawing of a question by the same amount, because the
relation between a question's drawings is what the task is about.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma: the red hidden lines stay visible as mid grey.
LUMA = (0.299, 0.587, 0.114)


VIEWS = "frt"


@dataclass(frozen=True)
class InputOptions:
    """How drawings become tensors: channels (1 grayscale, 3 RGB), side in pixels (None:
    as stored), the largest random shift, as a fraction of the side (0: none), and the
    views (letters of f, r, t) the model sees as blank paper, in training and evaluation
    alike (view-subset experiments)."""

    channels: int = 3
    resolution: int | None = None
    shift: float = 0.0
    blank_views: str = ""

    def __post_init__(self) -> None:
        letters = self.blank_views.replace(",", "")
        if any(v not in VIEWS for v in letters) or len(set(letters)) != len(letters) or len(letters) > 2:
            raise ValueError(f"blank views must be one or two of f, r, t, got {self.blank_views!r}")


def blank(views: torch.Tensor, names: str) -> torch.Tensor:
    """(B, N, C, H, W) views in f, r, t order (repeated for pair data) with the named
    views white."""
    keep = [i for i in range(views.shape[1]) if VIEWS[i % 3] not in names]
    if len(keep) == views.shape[1]:
        return views
    out = torch.ones_like(views)
    out[:, keep] = views[:, keep]
    return out


def to_float(images: torch.Tensor, options: InputOptions) -> torch.Tensor:
    """(B, N, H, W, 3) uint8 -> (B, N, C, S, S) float in [0, 1]."""
    b, n, h, w, _ = images.shape
    x = images.permute(0, 1, 4, 2, 3).reshape(b * n, 3, h, w).float().div_(255.0)
    if options.channels == 1:  # weights as Python numbers: no tensor to copy to the device each batch
        x = LUMA[0] * x[:, 0:1] + LUMA[1] * x[:, 1:2] + LUMA[2] * x[:, 2:3]
    if options.resolution is not None and options.resolution != h:
        x = F.interpolate(x, size=(options.resolution, options.resolution), mode="bilinear", antialias=True, align_corners=False)
    return x.view(b, n, *x.shape[1:])


def shift_questions(groups: list[torch.Tensor], max_shift: float, generator: torch.Generator) -> list[torch.Tensor]:
    """Translate every drawing of question i (all tensors in `groups`, each (B, N, C, H, W))
    by the same random offset (up to `max_shift` of the side), filling with white."""
    b = groups[0].shape[0]
    offsets = (torch.rand(b, 2, generator=generator) * 2 - 1) * max_shift * 2  # grid units span 2
    out = []
    for x in groups:
        _, n, c, h, w = x.shape
        theta = torch.zeros(b, 2, 3, dtype=x.dtype)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, :, 2] = offsets
        if x.device.type == "cuda":  # from pinned memory, without waiting for the device
            theta = theta.pin_memory().to(x.device, non_blocking=True)
        theta = theta.repeat_interleave(n, dim=0)
        grid = F.affine_grid(theta, [b * n, c, h, w], align_corners=False)
        flat = 1 - x.reshape(b * n, c, h, w)  # shift ink, pad with 0 = white
        moved = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out.append((1 - moved).view_as(x))
    return out


def prepare(batch: dict, options: InputOptions, device: torch.device, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """views, candidates (floats on `device`), pose and answer from a loader batch; shifted
    when `generator` is given and options.shift > 0 (training)."""
    non_blocking = device.type == "cuda"
    views = to_float(batch["views"].to(device, non_blocking=non_blocking), options)
    candidates = to_float(batch["candidates"].to(device, non_blocking=non_blocking), options)
    if options.blank_views:
        views = blank(views, options.blank_views)
    if generator is not None and options.shift > 0:
        views, candidates = shift_questions([views, candidates], options.shift, generator)
    pose = batch["pose"].to(device, non_blocking=non_blocking)
    answer = batch["answer"].to(device, non_blocking=non_blocking)
    return views, candidates, pose, answer
