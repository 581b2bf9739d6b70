"""The quiz's SQLite database (WAL): participants, the question served to each at each
position, and their answers. Every answer is committed, and the participant's position
advanced, in one transaction before the next question is served, so a killed server loses
nothing that was answered and a participant resumes where they were.

A participant is a random token and the plan of question keys drawn for them; nothing
personal is stored.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (
    token TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, csrf TEXT NOT NULL, plan TEXT NOT NULL,
    practice INTEGER NOT NULL, position INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, finished REAL
);
CREATE TABLE IF NOT EXISTS served (
    token TEXT NOT NULL, position INTEGER NOT NULL, question TEXT NOT NULL, nonce TEXT NOT NULL,
    served REAL NOT NULL, PRIMARY KEY (token, position)
);
CREATE TABLE IF NOT EXISTS questions (
    question TEXT PRIMARY KEY, dataset TEXT NOT NULL, qid TEXT NOT NULL, task TEXT NOT NULL, answer INTEGER NOT NULL,
    choices INTEGER NOT NULL, primitives INTEGER
);
CREATE TABLE IF NOT EXISTS answers (
    token TEXT NOT NULL, position INTEGER NOT NULL, question TEXT NOT NULL, practice INTEGER NOT NULL,
    choice INTEGER NOT NULL, correct INTEGER NOT NULL, client_ms REAL, server_ms REAL NOT NULL, answered REAL NOT NULL,
    PRIMARY KEY (token, position)
);
"""


@dataclass(frozen=True)
class Participant:
    token: str
    number: int
    csrf: str
    plan: tuple[str, ...]
    practice: int
    position: int
    finished: float | None

    @property
    def done(self) -> bool:
        return self.position >= len(self.plan)


class Refused(Exception):
    """An answer that cannot be taken: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating) a quiz database in WAL mode; one connection per thread."""
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # an answer acknowledged is on disk
    db.executescript(SCHEMA)
    return db


def add_questions(db: sqlite3.Connection, rows: list[tuple]) -> None:
    """Describe the questions a server asks (key, dataset folder, the dataset's question id,
    task, answer index, choices, primitives), so the database alone can be exported.
    ValueError when a key was recorded for another question (a server started on other
    datasets with the same database)."""
    with_db = {r[0]: r for r in db.execute("SELECT * FROM questions").fetchall()}
    clash = next((r for r in rows if r[0] in with_db and tuple(with_db[r[0]]) != tuple(r)), None)
    if clash is not None:
        raise ValueError(f"question {clash[0]} of this database is another question ({with_db[clash[0]][1]}); "
                         "use a new database for other datasets")
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT OR IGNORE INTO questions VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")


def add_participant(db: sqlite3.Connection, plan_for) -> Participant:
    """A new participant: a random token, the next number, and `plan_for(number)`, a
    (question keys, practice count) pair drawn for them."""
    token, csrf = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    db.execute("BEGIN IMMEDIATE")
    try:
        number = db.execute("SELECT COALESCE(MAX(number), -1) + 1 FROM participants").fetchone()[0]
        plan, practice = plan_for(number)
        db.execute("INSERT INTO participants (token, number, csrf, plan, practice, created) VALUES (?, ?, ?, ?, ?, ?)",
                   (token, number, csrf, json.dumps(list(plan)), practice, time.time()))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return Participant(token, number, csrf, tuple(plan), practice, 0, None)


def participant(db: sqlite3.Connection, token: str | None) -> Participant | None:
    if not token or len(token) > 64:
        return None
    row = db.execute("SELECT token, number, csrf, plan, practice, position, finished FROM participants WHERE token=?",
                     (token,)).fetchone()
    if row is None:
        return None
    return Participant(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4], row[5], row[6])


def serve(db: sqlite3.Connection, p: Participant) -> tuple[str, str]:
    """The question at the participant's position and its nonce, recording the serving
    the first time (a reload shows the same question with the same nonce)."""
    key = p.plan[p.position]
    row = db.execute("SELECT question, nonce FROM served WHERE token=? AND position=?", (p.token, p.position)).fetchone()
    if row is not None:
        return row[0], row[1]
    nonce = secrets.token_urlsafe(12)
    db.execute("INSERT OR IGNORE INTO served VALUES (?, ?, ?, ?, ?)", (p.token, p.position, key, nonce, time.time()))
    return tuple(db.execute("SELECT question, nonce FROM served WHERE token=? AND position=?",
                            (p.token, p.position)).fetchone())


def answer(db: sqlite3.Connection, token: str, position: int, nonce: str, choice: int, correct_choice: int,
           client_ms: float | None) -> bool:
    """Commit one answer and advance the participant, or raise Refused: a position other
    than the current one (a replay, or a question never served: 409), a nonce that is not
    the served question's (403). Returns whether the choice was right."""
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT position, plan, practice FROM participants WHERE token=?", (token,)).fetchone()
        if row is None:
            raise Refused(403, "unknown participant")
        current, plan, practice = row[0], json.loads(row[1]), row[2]
        if position != current:
            raise Refused(409, "not the question being asked (answered already, or never served)")
        served = db.execute("SELECT question, nonce, served FROM served WHERE token=? AND position=?",
                            (token, position)).fetchone()
        if served is None or not secrets.compare_digest(served[1], nonce):
            raise Refused(403, "this question was not served with that nonce")
        now = time.time()
        right = int(choice == correct_choice)
        db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (token, position, served[0], int(position < practice), choice, right, client_ms,
                    1000 * (now - served[2]), now))
        finished = now if position + 1 >= len(plan) else None
        db.execute("UPDATE participants SET position=?, finished=? WHERE token=?", (position + 1, finished, token))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return bool(right)


def last_answer(db: sqlite3.Connection, token: str, position: int) -> tuple[str, int, int] | None:
    """(question key, choice, correct) of the participant's answer at `position`."""
    row = db.execute("SELECT question, choice, correct FROM answers WHERE token=? AND position=?",
                     (token, position)).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def answers(db: sqlite3.Connection) -> list[dict]:
    """Every answer with its participant's number and its question, in order."""
    cur = db.execute(
        "SELECT p.number, a.position, a.question, q.dataset, q.qid, q.task, q.primitives, a.practice, a.choice, "
        "q.answer, q.choices, a.correct, a.client_ms, a.server_ms, a.answered FROM answers a "
        "JOIN participants p ON p.token = a.token JOIN questions q ON q.question = a.question "
        "ORDER BY p.number, a.position")
    names = ("participant", "position", "question", "dataset", "qid", "task", "primitives", "practice", "choice",
             "answer", "choices", "correct", "client_ms", "server_ms", "answered")
    return [dict(zip(names, r)) for r in cur.fetchall()]


def answers_csv(rows: list[dict]) -> str:
    """Answers (as `answers` gives them) as CSV, one row each."""
    out = io.StringIO()
    if rows:
        w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return out.getvalue()


def counts(db: sqlite3.Connection) -> dict:
    """Live counts for the admin page."""
    started, finished = db.execute("SELECT COUNT(*), COUNT(finished) FROM participants").fetchone()
    answered = db.execute("SELECT COUNT(*), COALESCE(SUM(correct), 0) FROM answers WHERE practice=0").fetchone()
    return {"participants": started, "finished": finished, "answers": answered[0], "right": answered[1]}
