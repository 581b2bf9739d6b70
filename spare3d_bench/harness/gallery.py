"""The report's gallery: the first test questions of an experiment, drawn as a person sees
them, with each setting's answer, and the attention maps of the experiment's best run.

A run's files are found from its row's stage keys (the first generates the data it was
tested on, the last evaluates, the one before trained it) under the bench's root, the
folder that holds the results database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class RunFiles:
    """Where a finished run's data and predictions lie."""

    data: Path  # the evaluated dataset folder
    trained: Path  # the run folder that was evaluated
    predictions: Path


def run_files(root: Path, stages: list[str]) -> RunFiles:
    """A run's files from its stage keys (as the results table stores them)."""
    from .runner import stage_folder

    data, trained, evaluation = stages[0], stages[-2], stages[-1]
    folder = stage_folder(root, trained)
    return RunFiles(stage_folder(root, data), folder, folder / "eval" / f"{evaluation}.predictions.jsonl")


def predictions(path: Path) -> dict[str, int]:
    """A run's answer (the index it chose) by question id."""
    out = {}
    for line in path.read_text().splitlines():
        item = json.loads(line)
        out[str(item["id"])] = int(item["prediction"])
    return out


def question_figure(ds, k: int, answers: list[tuple[str, int | None]], path: Path) -> None:
    """Question `k` of split `ds`: its views, then its candidates (the right one framed in
    green; I2P: the isometric and the four poses), and beneath, each setting's answer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = ds.images[ds.view_rows[k]]
    cands = ds.images[ds.candidate_rows[k]]
    right = int(ds.answers[k])
    names = ["f", "r", "t"][: len(views)]
    i2p = ds.task == "i2p"
    choices = ["pose 1", "pose 2", "pose 5", "pose 6"] if i2p else [LETTERS[i] for i in range(len(cands))]
    cols = max(len(views), len(cands))
    fig, axes = plt.subplots(2, cols, figsize=(1.6 * cols, 3.6 + 0.16 * len(answers)), dpi=110, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (img, name) in enumerate(zip(views, names)):
        axes[0, i].imshow(img)
        axes[0, i].set_title(name, fontsize=8)
    for i, img in enumerate(cands):
        axes[1, i].imshow(img)
        framed = not i2p and i == right
        axes[1, i].set_title("isometric" if i2p else choices[i], fontsize=8, color="green" if framed else "black")
        if framed:
            h, w = img.shape[:2]
            axes[1, i].add_patch(matplotlib.patches.Rectangle((0, 0), w - 1, h - 1, fill=False, edgecolor="green",
                                                              linewidth=2.5))
    pose = f", pose {int(ds.poses[k])}" if ds.task == "p2i" else ""
    lines = [f"{ds.task.upper()} question {ds.ids[k]}{pose}: the answer is {choices[right]}"]
    lines += [f"{label}: {'no answer' if said is None else choices[said]} ({'right' if said == right else 'wrong'})"
              for label, said in answers]
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, va="bottom", family="monospace")
    fig.tight_layout(rect=(0, 0.03 + 0.035 * len(lines), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def experiment_gallery(root: Path, runs: list[tuple[str, list[str]]], best: str, questions: int, out: Path,
                       stem: str) -> list[Path]:
    """PNGs of the first `questions` test questions of the best setting's data, with the
    answers of every setting tested on the same data (`runs`: label and stage keys of the
    first seed of each setting), then the best run's attention maps where its network
    gives them. Returns the figures written, in order."""
    from ..data import open_split

    files = {label: run_files(root, stages) for label, stages in runs if len(stages) >= 3}
    if best not in files or not files[best].predictions.is_file():
        return []
    data = files[best].data
    ds = open_split(data / "test")
    said = {label: predictions(f.predictions) for label, f in files.items() if f.data == data and f.predictions.is_file()}
    written = []
    for k in range(min(questions, len(ds))):
        path = out / f"{stem}-q{k}.png"
        question_figure(ds, k, [(label, s.get(ds.ids[k])) for label, s in said.items()], path)
        written.append(path)
    try:
        from ..attention import attention_run

        maps = attention_run(files[best].trained, data, out / f"{stem}-attention", questions=questions)
    except (ImportError, ValueError, RuntimeError, KeyError):  # no torch, or a network without maps
        maps = []
    return written + list(maps)

