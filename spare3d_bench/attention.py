"""Attention maps: where each encoder stage of a trained model responds on a question.

As in the 2022 paper, a stage's map is the mean over channels of its squared activations,
upsampled to the drawing and laid over it. Every backbone of the project is covered
(VGG: the output of each max-pooling; ResNet and BagNet: layer1..layer4; the four-branch
encoders likewise), whatever model holds it: the maps are taken with forward hooks while
the model answers one question, so an early-fusion model shows one row per candidate
stack, a four-branch one a row per drawing it encodes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import BagNet, Encoder


def backbone_stages(model: nn.Module) -> list[tuple[str, nn.Module, list[nn.Module]]]:
    """(name, backbone module, its stage modules) of every backbone inside `model`."""
    from torchvision.models import VGG, ResNet

    found = []
    for name, m in model.named_modules():
        if isinstance(m, Encoder):
            stages = m.stages
        elif isinstance(m, VGG):
            stages = [x for x in m.features if isinstance(x, nn.MaxPool2d)]
        elif isinstance(m, (ResNet, BagNet)):
            stages = [m.layer1, m.layer2, m.layer3, m.layer4]
        else:
            continue
        found.append((name or "net", m, stages))
    return found


@dataclass
class StageMaps:
    """One backbone's pass over a question: its inputs (N, C, H, W) in [0, 1] and, per
    stage, (N, H, W) maps scaled to [0, 1] each."""

    name: str
    inputs: np.ndarray
    maps: list[np.ndarray]


@torch.no_grad()
def attention_maps(model: nn.Module, views: torch.Tensor, candidates: torch.Tensor, pose: torch.Tensor) -> tuple[list[StageMaps], torch.Tensor]:
    """Run `model` (eval mode) on one question (a batch of one) and return every backbone
    call's stage maps, in call order, with the model's scores."""
    calls: list[StageMaps] = []
    hooks = []
    for name, backbone, stages in backbone_stages(model):
        current: dict = {}

        def before(module, args, name=name, current=current):
            current["inputs"] = args[0].detach().float()
            current["maps"] = []

        def after(module, args, output, current=current):
            current["maps"].append(output.detach().float().pow(2).mean(1))

        def done(module, args, output, name=name, current=current):
            size = current["inputs"].shape[-2:]
            maps = []
            for m in current["maps"]:
                up = F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
                lo = up.flatten(1).min(1).values[:, None, None]
                hi = up.flatten(1).max(1).values[:, None, None]
                flat = (hi - lo) <= 1e-6 * hi.abs().clamp_min(1e-12)  # a 1 x 1 stage: nothing to show
                maps.append(torch.where(flat, 0.0, (up - lo) / (hi - lo).clamp_min(1e-12)).cpu().numpy())
            calls.append(StageMaps(name, current["inputs"].cpu().numpy(), maps))

        hooks.append(backbone.register_forward_pre_hook(before))
        hooks += [s.register_forward_hook(after) for s in stages]
        hooks.append(backbone.register_forward_hook(done))
    model.eval()
    try:
        scores = model(views, candidates, pose)
    finally:
        for h in hooks:
            h.remove()
    return calls, scores


def composite(stack: np.ndarray, channels: int) -> np.ndarray:
    """A backbone input (C, H, W) holding C / channels stacked drawings -> one (H, W, 3)
    picture: the darkest value of the drawings at each pixel, so every line shows."""
    images = stack.reshape(-1, channels, *stack.shape[1:]).min(0)
    picture = images.transpose(1, 2, 0)
    return np.repeat(picture, 3, axis=2) if channels == 1 else picture


def write_figure(calls: list[StageMaps], channels: int, title: str, path: str | os.PathLike) -> None:
    """One PNG: a row per drawing (or stack) a backbone read, its stages side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(c.name, i, c) for c in calls for i in range(len(c.inputs))]
    stages = max(len(c.maps) for c in calls)
    fig, axes = plt.subplots(len(rows), stages + 1, figsize=(1.7 * (stages + 1), 1.7 * len(rows)), squeeze=False)
    for r, (name, i, call) in enumerate(rows):
        picture = composite(call.inputs[i], channels)
        axes[r][0].imshow(picture)
        axes[r][0].set_ylabel(f"{name} #{i}", fontsize=7)
        for s in range(stages + 1):
            ax = axes[r][s]
            ax.set_xticks([])
            ax.set_yticks([])
            if s == 0:
                continue
            if s - 1 < len(call.maps):
                ax.imshow(picture.mean(2), cmap="gray", vmin=0, vmax=1)
                ax.imshow(call.maps[s - 1][i], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            if r == 0:
                ax.set_title(f"stage {s}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)


def attention_run(run: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, split: str = "test",
                  questions: int = 4, device: str = "cpu") -> list[Path]:
    """Figures of RUN's best checkpoint on the first `questions` questions of DATA's split,
    written as OUT/<question id>.png; returns their paths."""
    from renderers.files import plain_name

    from .data import open_split, split_task
    from .evaluate import split_folder
    from .inputs import prepare
    from .models import model_class
    from .train import TrainConfig, model_from_checkpoint, pick_device, run_checkpoint

    plain_name(split, "split")
    ckpt = run_checkpoint(run)
    config = TrainConfig.from_dict(ckpt["config"])
    folder = split_folder(data, split)
    task = split_task(folder)
    if task not in model_class(config.model).tasks or (config.method == "supervised" and task != config.task):
        raise ValueError(f"{folder}: {task} questions; {run} answers {config.task if config.method == 'supervised' else ', '.join(model_class(config.model).tasks)}")
    ds = open_split(folder, task)
    dev = pick_device(device)
    model = model_from_checkpoint(ckpt, task).to(dev)
    inputs = config.inputs
    if config.resolution is None and ckpt.get("input_size"):
        from dataclasses import replace

        inputs = replace(inputs, resolution=ckpt["input_size"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k in range(min(questions, len(ds))):
        batch = ds.gather(np.array([k]))
        views, candidates, pose, answer = prepare(batch, inputs, dev)
        calls, scores = attention_maps(model, views, candidates, pose)
        said = int(scores.float().argmax(1)[0])
        title = f"{task.upper()} question {ds.ids[k]}: answer {int(answer[0])}, model says {said} ({config.model})"
        path = out / f"{plain_name(ds.ids[k], 'question id')}.png"
        write_figure(calls, config.channels, title, path)
        written.append(path)
    return written
