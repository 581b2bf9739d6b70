"""The end-to-end demo: generate small CSG T2I / I2P / P2I sets, train a baseline on each,
evaluate it on the test split, and write `report.md` with a table and a figure of example
questions with the model's answers.

Three plans: `ci` (seconds, for the test suite), `cpu` (at most 15 minutes on a 2-core
machine; I2P is large enough to beat chance) and `gpu` (more data and epochs). Every stage
is skipped when its output is complete, so an interrupted demo resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from renderers.errors import plural
from renderers.writers import atomic_write


@dataclass(frozen=True)
class DemoTask:
    """One task of the demo: its data and its training run."""

    task: str
    models: int
    primitives: int
    size: int
    model: str = "resnet18-early"
    epochs: int = 4
    batch_size: int = 32
    lr: float = 1e-3
    shift: float = 0.03


def _plan(scale: str) -> list[DemoTask]:
    if scale == "ci":
        return [DemoTask(t, 16, 3, 32, epochs=1, batch_size=4) for t in ("t2i", "i2p", "p2i")]
    if scale == "cpu":
        return [
            DemoTask("t2i", 240, 3, 64, epochs=4, batch_size=16),
            DemoTask("i2p", 4000, 3, 64, epochs=7),
            DemoTask("p2i", 240, 3, 64, epochs=4, batch_size=16),
        ]
    if scale == "gpu":
        return [
            DemoTask("t2i", 4000, 5, 128, epochs=20, batch_size=32),
            DemoTask("i2p", 8000, 5, 128, epochs=20, batch_size=64),
            DemoTask("p2i", 4000, 5, 128, epochs=20, batch_size=32),
        ]
    raise ValueError(f"unknown demo plan {scale!r} (use ci, cpu, gpu)")


def run_demo(out: str | os.PathLike, scale: str = "auto", workers: int = 1, seed: int = 0, progress: bool = True) -> Path:
    """Run the whole demo under `out`; returns the report's path."""
    import torch

    from .csg import CSGRecipe
    from .evaluate import evaluate_run
    from .generate import CARD, GenerateConfig, generate
    from .tasks import TaskOptions
    from .train import LAST, TrainConfig, Trainer

    if scale == "auto":
        scale = "gpu" if torch.cuda.is_available() else "cpu"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for job in _plan(scale):
        t0 = time.perf_counter()
        data = out / "data" / job.task
        if not (data / CARD).exists():
            _say(progress, f"[{job.task}] generating {job.models} questions ({job.primitives} primitives, {job.size} px)")
        # Also when the data exists: generate() then checks that it was made with these
        # settings (another plan or seed in this folder is refused) and returns at once.
        config = GenerateConfig(job.task, job.models, seed, CSGRecipe(job.primitives), options=TaskOptions(size=job.size), layout="packed")
        generate(config, data, workers, progress)
        t_data = time.perf_counter() - t0
        run = out / "runs" / f"{job.task}-{job.model}"
        train_config = TrainConfig(
            task=job.task, model=job.model, data=str(data), epochs=job.epochs, batch_size=job.batch_size, lr=job.lr,
            optimizer="adamw", weight_decay=0.05, shift=job.shift, seed=seed,
        )  # fmt: skip
        trainer = Trainer(train_config, run, resume=(run / LAST).exists(), progress=progress)  # refuses another plan's run
        if trainer.epoch < job.epochs:
            _say(progress, f"[{job.task}] training {job.model} for {plural(job.epochs, 'epoch')}")
            trainer.fit()
        t_train = time.perf_counter() - t0 - t_data
        evaluation = evaluate_run(run, data, "test")
        _say(progress, f"[{job.task}] {accuracy_line(evaluation)}")
        card = json.loads((data / CARD).read_text())
        rows.append({"job": asdict(job), "train_questions": card["questions"]["train"], "evaluation": asdict(evaluation), "seconds": {"data": t_data, "train": t_train}})
    device = "cuda" if torch.cuda.is_available() else "cpu"
    figure = out / "examples.png"
    example_figure(out, rows, figure)
    report = out / "report.md"
    atomic_write(report, _report(rows, scale, device).encode())
    atomic_write(out / "report.json", (json.dumps({"plan": scale, "device": device, "rows": rows}, indent=1) + "\n").encode())
    return report


def accuracy_line(e) -> str:
    """An evaluation as the console shows it: accuracy, its 95% interval, the questions
    behind it and chance, as report.md gives them."""
    lo, hi = e.ci95
    return (f"test accuracy {100 * e.accuracy:.1f}% (95% CI {100 * lo:.1f}-{100 * hi:.1f}%, {e.correct}/{e.questions} "
            f"questions), chance {100 * e.chance:.0f}%")


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, flush=True)


def _report(rows: list[dict], scale: str, device: str) -> str:
    lines = [
        "# spare3d-bench demo",
        "",
        f"Plan `{scale}` on {device}. Generated SPARE3D-CSG questions (packed layout), one baseline per task trained "
        "with the project's training loop, evaluated on the held-out test split (models never seen in training). "
        "The 95% interval is Wilson's; chance is one over the number of choices. Where the interval "
        "contains chance, the result is indistinguishable from guessing: on the `cpu` plan only I2P gets "
        "enough data to beat chance, T2I and P2I (SPARE3D's baselines reach 27-28% on P2I) are there to "
        "show the pipeline, with intervals tens of points wide.",
        "",
        "| task | model | train questions | drawings | test questions | accuracy | 95% CI | chance | data s | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        j, e, s = r["job"], r["evaluation"], r["seconds"]
        lo, hi = e["ci95"]
        lines.append(
            f"| {j['task'].upper()} | {j['model']} | {r['train_questions']} | {j['primitives']} primitives, {j['size']} px | "
            f"{e['questions']} | {100 * e['accuracy']:.1f}% | {100 * lo:.1f}-{100 * hi:.1f}% | {100 * e['chance']:.0f}% | "
            f"{s['data']:.0f} | {s['train']:.0f} |"
        )
    lines += ["", "![example test questions with the model's answers](examples.png)", ""]
    lines.append(
        "Each row of the figure is a test question: the f, r, t views, then the choices (I2P: the isometric, captioned "
        "with the true and predicted pose). A green frame marks the right answer, a red one the model's wrong choice."
    )
    return "\n".join(lines) + "\n"


I2P_POSES = (1, 2, 5, 6)


def example_figure(out: Path, rows: list[dict], path: Path, per_task: int = 2) -> None:
    """A grid of test questions per task with the model's predictions marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .data import open_split
    from .evaluate import result_name

    shown = []  # (task row, dataset, prediction) per figure row
    for r in rows:
        task = r["job"]["task"]
        ds = open_split(Path(r["evaluation"]["data"]), task)
        name = result_name(out / "data" / task, "test")
        preds = (out / "runs" / f"{task}-{r['job']['model']}" / "eval" / f"{name}.predictions.jsonl").read_text().splitlines()
        shown += [(task, ds[k], json.loads(preds[k])) for k in range(min(per_task, len(ds)))]
    fig, axes = plt.subplots(max(1, len(shown)), 7, figsize=(14, 2.1 * max(1, len(shown))), squeeze=False)
    for row in axes:
        for ax in row:
            ax.axis("off")
    for row, (task, item, p) in zip(axes, shown):
        for v in range(3):
            row[v].imshow(item["views"][v].numpy())
            row[v].set_title(f"{task.upper()} q{p['id']}: f" if v == 0 else "frt"[v], fontsize=8)
        if task == "i2p":
            row[3].imshow(item["candidates"][0].numpy())
            ok = p["prediction"] == p["answer"]
            row[3].set_title(f"pose {I2P_POSES[p['answer']]}; said {I2P_POSES[p['prediction']]}", fontsize=8, color="green" if ok else "red")
            continue
        for c in range(4):
            ax = row[3 + c]
            ax.imshow(item["candidates"][c].numpy())
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            color = "green" if c == p["answer"] else "red" if c == p["prediction"] else "white"
            for spine in ax.spines.values():
                spine.set_edgecolor(color)
                spine.set_linewidth(3)
            ax.set_title(f"choice {c}" + (f" (pose {int(item['pose'])} asked)" if task == "p2i" and c == 0 else ""), fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)

