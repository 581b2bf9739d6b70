"""`spare3d score`: a solver's free-text answers to an export, scored per task and per
difficulty with Wilson 95% intervals, and recorded in a harness results database as a
solver (one run per task, answers by the dataset's question ids, so that `spare3d report`
sets it beside the models and pairs it with those answering the same questions).

Predictions are JSONL, one object per question: `id` (the export's `id`) and the answer
text under `prediction`, `response`, `answer`, `output` or `text`. A question with no
prediction, or whose answer names no single choice, counts as wrong; both are counted.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass

from ..evaluate import wilson_interval
from .answers import parse_choice
from .export import read_export, read_jsonl

TEXT_FIELDS = ("prediction", "response", "answer", "output", "text")


@dataclass(frozen=True)
class Score:
    """Accuracy of one group of questions (a task, or a task at one primitive count)."""

    task: str
    primitives: int | None
    questions: int
    correct: int
    unanswered: int
    missing: int
    chance: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.questions if self.questions else float("nan")

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.questions)


def read_predictions(path: str | os.PathLike) -> dict[str, str | None]:
    """Answer text by question id; ValueError naming the file and line of a bad row."""
    out: dict[str, str | None] = {}
    for i, r in read_jsonl(path, "predictions"):
        if not isinstance(r.get("id"), (str, int)):
            raise ValueError(f"{path}:{i}: a prediction needs an 'id' (the export's question id)")
        qid = str(r["id"])
        if qid in out:
            raise ValueError(f"{path}:{i}: a second prediction for question {qid}")
        answer = next((r[k] for k in TEXT_FIELDS if k in r), None)
        out[qid] = None if answer is None else str(answer)
    if not out:
        raise ValueError(f"{path}: no predictions")
    return out


def score(predictions: str | os.PathLike, data: str | os.PathLike) -> tuple[list[Score], dict[str, dict[str, bool]]]:
    """Scores per task and per (task, primitive count), and each task's per-question right
    or wrong by the dataset's question id. ValueError for a prediction of a question the
    export does not have."""
    rows = {r["id"]: r for r in read_export(data)}
    said = read_predictions(predictions)
    unknown = sorted(set(said) - set(rows))
    if unknown:
        raise ValueError(f"{predictions}: {len(unknown)} predictions for questions {data} does not have "
                         f"(first: {unknown[0]})")
    groups: dict[tuple[str, int | None], list[tuple[bool, bool, bool, float]]] = defaultdict(list)
    answers: dict[str, dict[str, bool]] = defaultdict(dict)
    for qid, r in rows.items():
        text = said.get(qid)
        poses = tuple(r["choice_poses"]) if r.get("choice_poses") else None
        choice = parse_choice(text, tuple(r["choices"]), poses)
        right = choice == r["answer_index"]
        answers[r["task"]][r["qid"]] = right
        entry = (right, choice is None and text is not None, text is None, 1 / len(r["choices"]))
        groups[(r["task"], None)].append(entry)
        if r.get("primitives") is not None:
            groups[(r["task"], r["primitives"])].append(entry)
    scores = []
    for (task, primitives), entries in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] is not None,
                                                                              kv[0][1] or 0)):
        scores.append(Score(task, primitives, len(entries), sum(e[0] for e in entries), sum(e[1] for e in entries),
                            sum(e[2] for e in entries), sum(e[3] for e in entries) / len(entries)))
    return scores, dict(answers)


def table(scores: list[Score], solver: str) -> str:
    """The scores as a Markdown table."""
    lines = [f"| {solver}: task | primitives | accuracy | 95% CI | questions | chance | no choice read | missing |",
             "|---|---|---|---|---|---|---|---|"]
    for s in scores:
        lo, hi = s.ci95
        lines.append(f"| {s.task} | {'all' if s.primitives is None else s.primitives} | {100 * s.accuracy:.1f}% | "
                     f"{100 * lo:.1f}-{100 * hi:.1f}% | {s.questions} | {100 * s.chance:.0f}% | {s.unanswered} | "
                     f"{s.missing} |")
    return "\n".join(lines) + "\n"


def record(db_path: str | os.PathLike, scores: list[Score], answers: dict[str, dict[str, bool]], solver: str,
           suite: str = "solvers", scale: str = "export", experiment: str | None = None) -> None:
    """Store each task's score as a run of `solver` (experiment: the task, unless given)."""
    from ..harness import results

    db = results.connect(db_path)
    try:
        for s in scores:
            if s.primitives is not None:
                continue  # the task's overall row is the run; difficulty rows are in the table
            results.record_solver(db, (suite, scale, experiment or s.task), solver, "solver", s.task, s.correct,
                                  s.questions, s.chance, answers[s.task], no_choice=s.unanswered, missing=s.missing)
    finally:
        db.close()
