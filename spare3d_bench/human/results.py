"""People's answers in the harness results database: per task, everyone pooled ("people")
and each participant, with Wilson 95% intervals and response times, so `spare3d report`
shows them beside the models."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from statistics import median

from . import store


def record_people(quiz_db: str | os.PathLike, results_db: str | os.PathLike, suite: str = "human",
                  scale: str = "quiz") -> list[dict]:
    """Record the quiz's scored answers (practice left out) as runs of experiment <task>:
    "people" (every answer pooled; a question counts as right for the pairing with models
    when most of its answers are) and "participant <n>". Returns the people rows."""
    from ..harness import results

    if not Path(quiz_db).is_file():
        raise ValueError(f"{quiz_db}: no quiz database")
    db = store.connect(quiz_db)
    try:
        rows = [r for r in store.answers(db) if not r["practice"]]
    finally:
        db.close()
    if not rows:
        raise ValueError(f"{quiz_db}: no answers yet (practice answers are not scored)")
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    out = results.connect(results_db)
    summary = []
    try:
        for task, answers in sorted(by_task.items()):
            groups = {"people": answers}
            for r in answers:
                groups.setdefault(f"participant {r['participant']}", []).append(r)
            for label, group in groups.items():
                per_question: dict[str, list[int]] = defaultdict(list)
                for r in group:
                    per_question[r["qid"]].append(r["correct"])
                times = [r["client_ms"] if r["client_ms"] is not None else r["server_ms"] for r in group]
                metrics = results.record_solver(
                    out, (suite, scale, task), label, "human", task, sum(r["correct"] for r in group), len(group),
                    sum(1 / r["choices"] for r in group) / len(group),
                    {q: 2 * sum(c) >= len(c) for q, c in per_question.items()},
                    median_seconds=median(times) / 1000, participants=len({r["participant"] for r in group}))
                if label == "people":
                    summary.append({"task": task, **metrics})
    finally:
        out.close()
    return summary
