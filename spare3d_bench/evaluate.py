"""Evaluating a trained run on a question split: accuracy with a 95% confidence interval,
the chance level, and every question's prediction saved beside it.

Works on our packed or SPARE3D-layout data and on the original SPARE3D release (int or
string labels); drawings of another size are resized to the run's input resolution.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from renderers.files import plain_name
from renderers.writers import atomic_write

Z95 = 1.959963984540054


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (better than p +- z*se near 0 and 1
    and for small n)."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; centre - half rounds to 5.6e-17.
    return (0.0 if correct == 0 else max(0.0, centre - half), 1.0 if correct == n else min(1.0, centre + half))


@dataclass(frozen=True)
class Evaluation:
    """One run on one split."""

    task: str
    model: str
    data: str
    questions: int
    correct: int
    accuracy: float
    ci95: tuple[float, float]
    chance: float
    loss: float


def split_folder(data: str | os.PathLike, split: str) -> Path:
    """`data/<split>`, or `data` itself when it already is a split (answer.json or
    manifest.json inside), as the original release's folders are."""
    data = Path(data)
    if (data / "answer.json").exists() or (data / "manifest.json").exists():
        return data
    if not (data / split).is_dir():
        raise ValueError(f"{data}: no {split} split (and not a split folder itself)")
    return data / split


def result_name(data: str | os.PathLike, split: str) -> str:
    """Default name of an evaluation's files in RUN/eval: '<data folder>-<split>'."""
    return f"{Path(data).resolve().name}-{split}"


def _check_not_other_data(result: Path, folder: Path) -> None:
    """Default result names come from the data folder's name: refuse to overwrite results
    on another folder of the same name (d1/t2i and d2/t2i)."""
    try:
        before = json.loads(result.read_text()).get("data")
    except (OSError, ValueError, AttributeError):
        return
    if isinstance(before, str) and os.path.realpath(before) != os.path.realpath(folder):
        raise ValueError(f"{result}: holds results on {before}, not {folder}; give this evaluation a --name")


def evaluate_run(run: str | os.PathLike, data: str | os.PathLike, split: str = "test", device: str = "auto", name: str | None = None) -> Evaluation:
    """Evaluate RUN's best checkpoint on DATA's split; writes RUN/eval/<name>.json and
    RUN/eval/<name>.predictions.jsonl (name: '<data folder>-<split>' by default). `split`
    and `name` must be plain names: they become paths under DATA and RUN/eval."""
    from .data import check_answers, open_split, split_task
    from .models import model_class
    from .train import TrainConfig, model_from_checkpoint, pick_device, predict, run_checkpoint

    plain_name(split, "split")
    if name is not None:
        plain_name(name, "result name")
    run = Path(run)
    ckpt = run_checkpoint(run)
    config = TrainConfig.from_dict(ckpt["config"])
    folder = split_folder(data, split)
    task = config.task
    if config.method != "supervised":
        # A pretrained network answers the tasks its model reads out, without their labels.
        cls = model_class(config.model)
        if cls.encoder_only:
            raise ValueError(f"{run}: a {config.method} run pretrains a drawing encoder, which answers no question by "
                             "itself: probe its features (spare3d probe RUN --data DIR) or fine-tune it (spare3d train "
                             "--init RUN --model ...)")
        readouts = cls.tasks
        task = split_task(folder)
        if task not in readouts:
            raise ValueError(f"{folder}: {task} questions; a {config.method} run answers {' or '.join(readouts)} "
                             "directly (fine-tune it for other tasks: spare3d train --init)")
    ds = open_split(folder, task)
    if not len(ds):
        raise ValueError(f"{folder}: no questions to evaluate")
    out = run / "eval"
    if name is None:
        name = result_name(data, split)
        _check_not_other_data(out / f"{name}.json", folder)
    dev = pick_device(device)
    model = model_from_checkpoint(ckpt, task).to(dev)
    check_answers(ds, model.spec.n_scores, folder)
    if len(ds) and int(ds.poses.max()) > model.spec.poses:
        raise ValueError(f"{folder}: questions use poses up to {int(ds.poses.max())}, the run was trained "
                         f"on {model.spec.poses} poses")
    # Drawings of another size go to the size the run trained on (checkpoints without
    # "input_size", from before it was stored, feed them as they are).
    inputs = replace(config.inputs, resolution=config.resolution or ckpt.get("input_size"))
    result = predict(model, ds, inputs, dev, batch=max(config.batch, 32))
    correct = int((result.answers == result.predictions).sum())
    n = len(ds)
    evaluation = Evaluation(
        task=task,
        model=config.model,
        data=os.path.abspath(folder),
        questions=n,
        correct=correct,
        accuracy=correct / n,
        ci95=wilson_interval(correct, n),
        chance=1.0 / model.spec.n_scores,
        loss=result.loss,
    )
    out.mkdir(exist_ok=True)
    lines = [
        json.dumps({"id": qid, "answer": int(a), "prediction": int(p), "scores": [round(float(x), 5) for x in s]})
        for qid, a, p, s in zip(result.ids, result.answers, result.predictions, result.scores)
    ]
    atomic_write(out / f"{name}.predictions.jsonl", "".join(line + "\n" for line in lines).encode())
    atomic_write(out / f"{name}.json", (json.dumps(asdict(evaluation), indent=1) + "\n").encode())
    return evaluation
