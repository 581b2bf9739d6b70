"""The results database: SQLite, one row per (suite, scale, experiment, run, metric), each
question's right or wrong answer per run (for paired tests), and failed runs with their
one-line error. Writing a run's rows again replaces them, so a resumed suite ends with the
rows of an uninterrupted one."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    suite TEXT NOT NULL, scale TEXT NOT NULL, experiment TEXT NOT NULL, run TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL, factors TEXT NOT NULL, seed INTEGER NOT NULL, task TEXT, model TEXT, method TEXT,
    stages TEXT NOT NULL, version TEXT, git_commit TEXT, device TEXT, seconds REAL,
    PRIMARY KEY (suite, scale, experiment, run, metric)
);
CREATE TABLE IF NOT EXISTS answers (
    suite TEXT NOT NULL, scale TEXT NOT NULL, experiment TEXT NOT NULL, run TEXT NOT NULL, question TEXT NOT NULL,
    correct INTEGER NOT NULL,
    PRIMARY KEY (suite, scale, experiment, run, question)
);
CREATE TABLE IF NOT EXISTS published (
    suite TEXT NOT NULL, experiment TEXT NOT NULL, label TEXT NOT NULL, value REAL NOT NULL, source TEXT NOT NULL,
    PRIMARY KEY (suite, experiment, label)
);
CREATE TABLE IF NOT EXISTS claims (
    suite TEXT NOT NULL, scale TEXT NOT NULL, claim TEXT NOT NULL, better_experiment TEXT NOT NULL,
    better TEXT NOT NULL, worse_experiment TEXT NOT NULL, worse TEXT NOT NULL,
    PRIMARY KEY (suite, scale, claim)
);
CREATE TABLE IF NOT EXISTS failures (
    suite TEXT NOT NULL, scale TEXT NOT NULL, experiment TEXT NOT NULL, run TEXT NOT NULL, stage TEXT NOT NULL,
    error TEXT NOT NULL,
    PRIMARY KEY (suite, scale, experiment, run)
);
"""
#: What `results export` writes per row, in order.
COLUMNS = ("suite", "scale", "experiment", "run", "metric", "value", "factors", "seed", "task", "model", "method",
           "stages", "version", "git_commit", "device", "seconds")


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating) a results database."""
    db = sqlite3.connect(str(path), timeout=60)
    db.executescript(SCHEMA)
    return db


def record_run(db: sqlite3.Connection, key: tuple[str, str, str, str], metrics: dict[str, float], info: dict,
               answers: dict[str, bool]) -> None:
    """Store a run's metrics and answers in one transaction, replacing earlier rows of the
    run and any failure recorded for it."""
    with db:
        db.execute("DELETE FROM failures WHERE suite=? AND scale=? AND experiment=? AND run=?", key)
        db.execute("DELETE FROM answers WHERE suite=? AND scale=? AND experiment=? AND run=?", key)
        db.executemany(
            f"INSERT OR REPLACE INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [(*key, metric, float(value), json.dumps(info["factors"], sort_keys=True), info["seed"], info.get("task"),
              info.get("model"), info.get("method"), json.dumps(info["stages"]), info.get("version"),
              info.get("git_commit"), info.get("device"), info.get("seconds")) for metric, value in metrics.items()],
        )
        db.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                       [(*key, q, int(ok)) for q, ok in answers.items()])


def record_solver(db: sqlite3.Connection, key: tuple[str, str, str], solver: str, method: str, task: str, right: int,
                  questions: int, chance: float, answers: dict[str, bool], **extra: float) -> dict[str, float]:
    """Store a solver that is not a run of a suite (a vision-language model, people) as
    run `<solver>/seed=0` of (suite, scale, experiment) `key`: `right` of `questions`
    answers with their Wilson interval, the chance level and `extra` metrics, and its
    right or wrong per question id. Returns the metrics."""
    from .. import __version__
    from ..evaluate import wilson_interval

    low, high = wilson_interval(right, questions)
    metrics = {"accuracy": right / questions, "correct": right, "questions": questions, "chance": chance,
               "ci_low": low, "ci_high": high, **extra}
    info = {"factors": {"solver": solver}, "seed": 0, "task": task, "model": solver, "method": method, "stages": [],
            "version": __version__, "git_commit": None, "device": None, "seconds": None}
    record_run(db, (*key, f"{solver}/seed=0"), metrics, info, answers)
    return metrics


def record_failure(db: sqlite3.Connection, key: tuple[str, str, str, str], stage: str, error: str) -> None:
    """Store a failed run's stage and one-line error (its metrics, if any, are dropped)."""
    with db:
        db.execute("DELETE FROM results WHERE suite=? AND scale=? AND experiment=? AND run=?", key)
        db.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?)", (*key, stage, error))


def record_suite(db: sqlite3.Connection, suite) -> None:
    """Store a suite's published figures and claims, replacing its earlier ones for the
    experiments it runs (a bench of some experiments keeps the others')."""
    experiments = sorted(set(suite.experiments) | {f[0] for f in suite.published}
                         | {e for c in suite.claims for e in (c.better[0], c.worse[0])})
    if not experiments:
        return
    marks = ", ".join("?" * len(experiments))
    with db:
        db.execute(f"DELETE FROM published WHERE suite=? AND experiment IN ({marks})", (suite.name, *experiments))
        db.executemany("INSERT INTO published VALUES (?, ?, ?, ?, ?)", [(suite.name, *f) for f in suite.published])
        db.execute(f"DELETE FROM claims WHERE suite=? AND scale=? AND better_experiment IN ({marks}) "
                   f"AND worse_experiment IN ({marks})", (suite.name, suite.scale, *experiments, *experiments))
        db.executemany("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(suite.name, suite.scale, c.text, *c.better, *c.worse) for c in suite.claims])


def rows(db: sqlite3.Connection) -> list[dict]:
    """Every result row as a dict, in a stable order."""
    cur = db.execute(f"SELECT {', '.join(COLUMNS)} FROM results ORDER BY suite, scale, experiment, run, metric")
    return [dict(zip(COLUMNS, r)) for r in cur.fetchall()]


def answers(db: sqlite3.Connection, suite: str, scale: str, experiment: str, run: str) -> dict[str, bool]:
    """A run's answers by question id."""
    cur = db.execute("SELECT question, correct FROM answers WHERE suite=? AND scale=? AND experiment=? AND run=?",
                     (suite, scale, experiment, run))
    return {q: bool(c) for q, c in cur.fetchall()}


def export(path: str | Path, fmt: str) -> str:
    """The results table of a database as CSV or JSON text."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such results database")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        table = rows(db)
    except sqlite3.DatabaseError as e:
        raise ValueError(f"{path}: not a results database ({e})") from None
    finally:
        db.close()
    if fmt == "json":
        return json.dumps(table, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return out.getvalue()
