"""A crash-proof, resumable job of independent units, journalled in SQLite.

A job is units 0..n-1 (a question to build). Each unit runs on an executor
(renderers.executors: local processes, serial, Dask) and returns `(outcome, blob)`: the
parent stores the blob and marks the unit done in one SQLite transaction, so a unit is
either done with its whole result or not done at all, whatever moment the job is killed.
Executor errors (a crash, a hang past the timeout, an exception) are counted; a unit is
retried `retries` times, then marked failed with its reason. A unit function may instead
raise `UnitFailed` for a deterministic failure, recorded at once without a retry.

The journal (`<out>/.spare3d/journal.sqlite`) has one row per unit: state (pending, done,
failed), attempts, error, outcome, result blob, its sha256 and the run that finished it.
A re-run of the same job skips done and failed units (unless told to retry the failed);
a job with other settings is refused.
WAL mode with synchronous=NORMAL: a commit survives a `kill -9` of the process (not a
power cut) and costs tens of microseconds.
"""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from renderers.executors import drain_on_sigint

STATE_DIR = ".spare3d"
JOURNAL = "journal.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    outcome TEXT,
    result BLOB,
    sha256 TEXT,
    run INTEGER,
    seconds REAL
);
"""


class UnitFailed(Exception):
    """Raised by a unit function for a failure that a retry would only repeat."""


class JobMismatch(ValueError):
    """The output folder holds a job with other settings."""


class JournalDamaged(ValueError):
    """The job's journal cannot be read: it names the file and what to do."""

    def __init__(self, path: Path, root: str | Path, error: Exception) -> None:
        super().__init__(
            f"{path}: the job journal is damaged ({error}); the job cannot resume from it: move {root} aside (or "
            f"delete it) and run the command again into an empty folder; spare3d verify {root} checks any "
            f"dataset files already written"
        )


class Interrupted(Exception):
    """The job stopped on Ctrl-C after finishing the units in flight."""

    def __init__(self, done: int, pending: int) -> None:
        self.done, self.pending = done, pending
        super().__init__(f"interrupted with {done} units done and {pending} pending")


@dataclass
class RunStats:
    """What one run of a job did: units finished now, skipped (finished by earlier runs),
    failed now (by reason), retries, and its wall time."""

    units: int
    skipped: int = 0
    done: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    seconds: float = 0.0


class Journal:
    """The SQLite journal of a job in `<root>/.spare3d/` (see the module docstring).

    Opening it takes an exclusive lock, so two jobs never write one folder."""

    def __init__(self, root: str | Path, fingerprint: str, units: int) -> None:
        state = Path(root) / STATE_DIR
        state.mkdir(parents=True, exist_ok=True)
        self._lock = open(state / "lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise JobMismatch(f"{root}: another job is writing this folder") from None
        self.path = state / JOURNAL
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            meta = dict(self.db.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as e:  # not a database, a page overwritten, a missing table
            self._lock.close()
            raise JournalDamaged(self.path, root, e) from None
        if meta and (meta.get("fingerprint") != fingerprint or int(meta.get("units", -1)) != units):
            self.close()
            raise JobMismatch(f"{root} holds a job with other settings (or other contents of its model files): "
                              "use another output folder or delete it")
        if not meta:
            with self.transaction():
                self.db.executemany("INSERT INTO meta VALUES (?, ?)", [("fingerprint", fingerprint), ("units", str(units))])
                self.db.executemany("INSERT INTO units (id) VALUES (?)", ((i,) for i in range(units)))
        self.units = units

    def transaction(self):
        """`with journal.transaction():` commits the block, or rolls it back on an error."""
        return _Transaction(self.db)

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def new_run(self) -> int:
        run = int(self.meta("runs") or 0) + 1
        self.set_meta("runs", str(run))
        return run

    def pending(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM units WHERE state = 'pending' ORDER BY id")]

    def attempts(self, unit: int) -> int:
        return self.db.execute("SELECT attempts FROM units WHERE id = ?", (unit,)).fetchone()[0]

    def record_done(self, unit: int, outcome: str, blob: bytes | None, run: int, seconds: float) -> None:
        digest = hashlib.sha256(blob).hexdigest() if blob is not None else None
        self.db.execute(
            "UPDATE units SET state = 'done', attempts = attempts + 1, outcome = ?, result = ?, sha256 = ?, run = ?,"
            " seconds = ?, error = NULL WHERE id = ? AND state = 'pending'",
            (outcome, blob, digest, run, seconds, unit),
        )

    def record_error(self, unit: int, error: str, max_attempts: int, run: int) -> bool:
        """Count a failed attempt; the unit is failed (True) once it has had max_attempts."""
        attempts = self.attempts(unit) + 1
        state = "failed" if attempts >= max_attempts else "pending"
        self.db.execute(
            "UPDATE units SET state = ?, attempts = ?, error = ?, run = ? WHERE id = ? AND state = 'pending'",
            (state, attempts, error, run, unit),
        )
        return state == "failed"

    def counts(self) -> dict[str, int]:
        """Units per state: pending, done, failed."""
        out = {"pending": 0, "done": 0, "failed": 0}
        out.update(dict(self.db.execute("SELECT state, COUNT(*) FROM units GROUP BY state")))
        return out

    def failures(self) -> dict[str, str]:
        """{unit: reason} of the failed units."""
        return {str(u): e for u, e in self.db.execute("SELECT id, error FROM units WHERE state = 'failed' ORDER BY id")}

    def results(self) -> Iterator[tuple[int, str, str | None, bytes | None]]:
        """(unit, state, outcome or error, blob) of every unit in index order; a blob whose
        checksum does not match raises ValueError."""
        rows = self.db.execute("SELECT id, state, outcome, error, result, sha256 FROM units ORDER BY id")
        for unit, state, outcome, error, blob, digest in rows:
            if blob is not None and hashlib.sha256(blob).hexdigest() != digest:
                raise ValueError(f"{self.path}: the stored result of unit {unit} is corrupt")
            yield unit, state, outcome if state == "done" else error, blob

    def retry_failed(self) -> int:
        """Make the failed units pending again with no attempts counted; returns how many."""
        return self.db.execute("UPDATE units SET state = 'pending', attempts = 0, error = NULL WHERE state = 'failed'").rowcount

    def reopen(self, units: list[int]) -> None:
        """Make finished units pending again, to be built anew: those whose stored result
        was freed (a repair of damaged files; units rebuilt by an interrupted repair keep
        theirs)."""
        self.db.executemany(
            "UPDATE units SET state = 'pending', attempts = 0, error = NULL, outcome = NULL, sha256 = NULL"
            " WHERE id = ? AND result IS NULL",
            ((u,) for u in units),
        )

    def results_dropped(self) -> bool:
        """Whether some finished unit's result was freed by drop_results."""
        row = self.db.execute("SELECT 1 FROM units WHERE state = 'done' AND outcome = 'kept' AND result IS NULL LIMIT 1")
        return row.fetchone() is not None

    def drop_results(self) -> None:
        """Free the stored results (once the final files are written) and shrink the file."""
        self.db.execute("UPDATE units SET result = NULL WHERE result IS NOT NULL")
        self.db.execute("VACUUM")

    def close(self) -> None:
        self.db.close()
        self._lock.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def job_running(root: str | Path) -> bool:
    """Whether a job holds `root`'s lock now (a job killed or stopped holds none)."""
    lock = Path(root) / STATE_DIR / "lock"
    if not lock.is_file():
        return False
    with open(lock) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


@dataclass
class JobStatus:
    """A job's state as its journal records it: units per state (pending, done, failed),
    the meta table, done units per outcome, and each failed or filtered unit's reason."""

    counts: dict[str, int]
    meta: dict[str, str]
    outcomes: dict[str, int]
    failures: dict[str, str]
    filtered: dict[str, str]


def read_status(root: str | Path) -> JobStatus:
    """The status of the job in `root`, read-only (it works while the job runs). Raises
    ValueError if `root` holds no journal, JournalDamaged if it cannot be read."""
    path = Path(root) / STATE_DIR / JOURNAL
    if not path.is_file():
        raise ValueError(f"{root}: no job journal ({STATE_DIR}/{JOURNAL}) in this folder")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            counts = {"pending": 0, "done": 0, "failed": 0}
            counts.update(dict(db.execute("SELECT state, COUNT(*) FROM units GROUP BY state")))
            meta = dict(db.execute("SELECT key, value FROM meta"))
            failures = {str(u): e for u, e in db.execute("SELECT id, error FROM units WHERE state = 'failed' ORDER BY id")}
            outcomes = dict(db.execute("SELECT outcome, COUNT(*) FROM units WHERE state = 'done' GROUP BY outcome"))
            filtered = {str(u): o.removeprefix("filtered:") for u, o in db.execute(
                "SELECT id, outcome FROM units WHERE state = 'done' AND outcome LIKE 'filtered:%' ORDER BY id")}
        finally:
            db.close()
    except sqlite3.Error as e:
        raise JournalDamaged(path, root, e) from None
    return JobStatus(counts, meta, outcomes, failures, filtered)


def run_units(
    journal: Journal,
    executor,
    fn: Callable[[Any], tuple[str, bytes | None]],
    retries: int = 1,
    progress: bool = True,
    unit_name: str = "unit",
) -> RunStats:
    """Run every pending unit of the journal through `executor` and record each outcome.

    fn(unit) returns (outcome, blob) or raises UnitFailed. The first Ctrl-C lets the units
    in flight finish (one that fails then stays pending, its attempt not counted), then
    raises Interrupted; a second one stops at once (the journal stays consistent:
    unfinished units are simply still pending)."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    with journal.transaction():
        run = journal.new_run()
    todo = journal.pending()
    stats = RunStats(journal.units, skipped=journal.units - len(todo))
    restore = drain_on_sigint(executor, "units")
    tqdm.monitor_interval = 0  # no monitor thread: the local executor forks
    try:
        with tqdm(total=journal.units, initial=stats.skipped, unit=unit_name, disable=not progress or None) as bar:
            while todo and not executor.draining:
                again = []
                for o in executor.map(partial(_timed, fn), [(u, u) for u in todo]):
                    if o.error is None:
                        outcome, blob, seconds = o.value
                        with journal.transaction():
                            journal.record_done(o.key, outcome, blob, run, seconds)
                        stats.done += 1
                        bar.update(1)
                        continue
                    if executor.draining:  # Ctrl-C also reaches Dask workers: leave it for the resume
                        continue
                    error, deterministic = o.error, o.error.startswith(_DETERMINISTIC)
                    if deterministic:
                        error = error[len(_DETERMINISTIC):]
                    with journal.transaction():
                        failed = journal.record_error(o.key, error, 1 if deterministic else retries + 1, run)
                    if failed:
                        stats.failed[error] = stats.failed.get(error, 0) + 1
                        bar.write(f"FAILED {unit_name} {o.key}: {error}", file=sys.stderr)
                        bar.update(1)
                    else:
                        again.append(o.key)
                stats.retried += len(again)
                todo = sorted(again)
    finally:
        restore()
        stats.seconds = time.perf_counter() - t0
    if executor.draining:
        counts = journal.counts()
        raise Interrupted(counts["done"] + counts["failed"], counts["pending"])
    return stats


_DETERMINISTIC = "UnitFailed: "


def _timed(fn: Callable, unit: Any) -> tuple[str, bytes | None, float]:
    """Worker side: the unit's (outcome, blob) and its wall time."""
    t0 = time.perf_counter()
    outcome, blob = fn(unit)
    return outcome, blob, time.perf_counter() - t0
