"""Render many models safely: isolated worker processes, a timeout, crash isolation.

OCCT can hang (exact HLR on some freeform parts) or crash the process (hostile files).
Models therefore run on an executor (renderers.executors, local by default): a worker that crashes
or overruns the per-model timeout is killed (with any helper it forked) and replaced. The
model is reported with its file and reason, the others go on, finished models are kept
and skipped by a re-run.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import stat
import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from .errors import RenderError
from .executors import drain_on_sigint, make_executor
from .mesh_io import MESH_EXTENSIONS
from .render import ModelReport, RenderOptions, is_complete, render_model

#: Extensions picked up when a folder is given: CAD and mesh files.
INPUT_EXTENSIONS = (".step", ".stp", ".iges", ".igs", ".brep", ".brp") + MESH_EXTENSIONS

REPORT = "render-report.json"


class Interrupted(Exception):
    """Ctrl-C stopped a batch: the reports of the models done (or skipped), in task order,
    and the tasks not rendered."""

    def __init__(self, reports: list[ModelReport], pending: list[Task]) -> None:
        self.reports, self.pending = reports, pending
        super().__init__(f"interrupted with {len(reports)} models done and {len(pending)} pending")


@dataclass(frozen=True)
class Task:
    """One model to render: its output folder name and its file."""

    name: str
    source: Path


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[ModelReport]]:
    """Files, folders (searched recursively for CAD files) and globs -> sorted unique files.

    Inputs that match nothing come back as failed reports, not exceptions.
    """
    files: list[Path] = []
    missing: list[ModelReport] = []
    for item in inputs:
        p = Path(item)
        mode = _mode(p)
        if not item.strip():  # Path("") is the current folder: an unset shell variable, not a request
            missing.append(ModelReport("", item, ok=False, error="empty path"))
        elif mode is not None and stat.S_ISDIR(mode):
            found = sorted(f for f in _walk(p) if f.suffix.lower() in INPUT_EXTENSIONS and _is_file(f))
            if not found:
                missing.append(ModelReport(p.name, item, ok=False, error="folder holds no CAD or mesh files"))
            files.extend(found)
        elif mode is not None:
            files.append(p)
        elif glob.has_magic(item):  # like a folder: only the CAD and mesh files it matches
            found = sorted(Path(f) for f in glob.glob(item, recursive=True)
                           if Path(f).suffix.lower() in INPUT_EXTENSIONS and _is_file(Path(f)))
            if not found:
                missing.append(ModelReport(p.name, item, ok=False, error="pattern matches no CAD or mesh file"))
            files.extend(found)
        else:
            missing.append(ModelReport(p.stem, item, ok=False, error="file not found"))
    unique = list(dict.fromkeys(_resolved(f) for f in files))
    return unique, missing


def _walk(root: Path) -> list[Path]:
    """Every file under `root`, following linked folders (as a `**` glob does; rglob did
    not, and skipped them silently), each real folder once, so a link loop ends."""
    seen: set[str] = set()
    files: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        files.extend(Path(folder, n) for n in names)
    return files


def _resolved(p: Path) -> Path:
    """The absolute path with links resolved; a link loop stays as it is, for its reading
    to fail with the reason (pathlib raises RuntimeError or OSError for loops)."""
    if os.path.islink(p) and not os.path.exists(p):  # dangling: keep the link's name for the report
        return p.absolute()
    try:
        return p.resolve()
    except (RuntimeError, OSError):
        return p.absolute()


def _mode(p: Path) -> int | None:
    """`p`'s st_mode; None when nothing is there (or a dangling link); 0 when it is there
    but cannot be examined (no permission, a link loop): its reading then fails with the
    reason, as one model's failure."""
    try:
        return p.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return 0


def _is_file(p: Path) -> bool:
    """Whether a path found in a folder or by a glob is a file to read, or one whose reading
    must fail with the reason: unexaminable, or a dangling link (a missing model)."""
    mode = _mode(p)
    return os.path.islink(p) if mode is None else mode == 0 or stat.S_ISREG(mode)


def name_tasks(files: list[Path]) -> list[Task]:
    """Output names: the file stem; stems shared by several files get `_<ext>`, then `_<n>`.

    A stem that is not a safe folder name inside the output (".", "..", the report's name)
    gets `_<ext>` too, and one over 200 bytes is cut to 50 characters first."""
    stems: dict[str, int] = {}
    for f in files:
        stems[f.stem] = stems.get(f.stem, 0) + 1
    names: list[str] = []
    for f in files:
        stem = f.stem if len(os.fsencode(f.stem)) <= 200 else f.stem[:50]  # 50 characters fit in 200 bytes
        unsafe = stem != f.stem or stem in ("", ".", "..", REPORT)
        name = stem if stems[f.stem] == 1 and not unsafe else f"{stem}_{f.suffix.lstrip('.').lower()}"
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return [Task(n, f) for n, f in zip(names, files)]


def failed_line(report: ModelReport) -> str:
    """`FAILED <file>: <reason>` on one line (the file name as `shown_source` gives it)."""
    return f"FAILED {shown_source(report)}: {report.error}"


def warning_line(report: ModelReport) -> str | None:
    """`WARNING <file>: ...` for a model drawn with views that hold no visible line (a
    sign of degenerate or damaged geometry: a STEP point moved to 1e30 drew a blank
    view and passed as rendered); None when there is nothing to say."""
    if not (report.ok and report.blank_views):
        return None
    return (f"WARNING {shown_source(report)}: no visible line in view(s) {', '.join(report.blank_views)} "
            "(degenerate or damaged geometry?)")


def shown_source(report: ModelReport) -> str:
    """The model's file name for one output line: a name holding a newline or bytes that
    are not UTF-8 is shown escaped, so it can neither split the line nor fake another."""
    return report.source if report.source.isprintable() else ascii(report.source)


def _render_one(out_root: Path, options: RenderOptions, task: Task) -> ModelReport:
    """Worker side: render one model; failures come back as a failed report."""
    per_model = _reset_peak_rss()
    try:
        report = render_model(task.source, out_root / task.name, options, task.name)
    except RenderError as e:
        report = ModelReport(task.name, str(task.source), ok=False, error=e.reason)
    except OSError as e:  # a full disk, a file quota, no permission
        writing = e.filename is not None and str(e.filename).startswith(str(out_root))
        other = e.filename is not None and str(e.filename) != str(task.source)  # the report names the source
        where = f"cannot write {e.filename}: " if writing else f"{e.filename}: " if other else ""
        report = ModelReport(task.name, str(task.source), ok=False, error=f"{where}{e.strerror or e}")
    report.peak_rss_mb = (_peak_rss_kb() if per_model else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024.0
    return report


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux: /proc/self/clear_refs), so
    that a reused worker reports each model's own peak, not the largest model's so far;
    False where that is not possible (the report then holds the process's peak)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _peak_rss_kb() > 0
    except OSError:
        return False


def _peak_rss_kb() -> int:
    """VmHWM of /proc/self/status in kB (0 when unreadable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def run_batch(
    tasks: list[Task],
    out_root: str | os.PathLike,
    options: RenderOptions,
    workers: int = 1,
    timeout: float = 300.0,
    force: bool = False,
    progress: bool = True,
    executor: str = "local",
    scheduler: str | None = None,
) -> list[ModelReport]:
    """Render every task into `out_root/<task.name>/`; returns one report per task, in order.

    Models run on an executor (renderers.executors: local isolated processes by default,
    serial, or Dask, whose workers must share `out_root`): a crash or a hang costs that
    model only, after one retry (noted in its report). The first Ctrl-C lets the models in flight finish, the second kills them;
    either way Interrupted then carries what was done."""
    from tqdm import tqdm

    pool = make_executor(executor, workers, timeout, scheduler)
    out = Path(out_root).absolute()  # Dask workers elsewhere resolve a relative one in their own folder
    out.mkdir(parents=True, exist_ok=True)
    reports: dict[int, ModelReport] = {}
    todo: list[int] = []
    for i, t in enumerate(tasks):
        if not force and is_complete(out / t.name, options, str(t.source)):
            reports[i] = ModelReport(t.name, str(t.source), skipped=True)
        else:
            todo.append(i)
    tqdm.monitor_interval = 0  # no monitor thread: this process forks
    # Largest files first: a big model started last would leave the other workers idle.
    order = sorted(todo, key=lambda i: (-_size(tasks[i].source), i))
    restore = drain_on_sigint(pool, "models")
    first_errors: dict[int, str] = {}
    try:
        with tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="model", disable=not progress or None) as bar:
            while order and not pool.draining:
                again = []
                for outcome in pool.map(partial(_render_one, out, options), [(i, tasks[i]) for i in order]):
                    task = tasks[outcome.key]
                    if outcome.value is None:  # a crash, a hang or an unexpected error, not a bad file
                        if pool.draining:  # Ctrl-C also reaches Dask workers: leave it pending
                            continue
                        if outcome.key not in first_errors:  # retried once, as generation's units
                            first_errors[outcome.key] = outcome.error
                            again.append(outcome.key)
                            continue
                    report = outcome.value or ModelReport(task.name, str(task.source), ok=False, error=outcome.error)
                    if outcome.key in first_errors:
                        report.notes.append(f"retried after: {first_errors[outcome.key]}")
                    reports[outcome.key] = report
                    bar.update(1)
                    if not report.ok:
                        bar.write(failed_line(report), file=sys.stderr)
                order = again
    except KeyboardInterrupt:  # the second Ctrl-C: the models in flight were killed, so they lack reports
        pass
    finally:
        restore()
        pool.close()
    if len(reports) < len(tasks):
        raise Interrupted([reports[i] for i in sorted(reports)], [t for i, t in enumerate(tasks) if i not in reports])
    return [reports[i] for i in range(len(tasks))]


def write_report(out_root: str | os.PathLike, reports: list[ModelReport], pending: list[Task] = ()) -> Path:
    """Write `render-report.json` (every model's status, algorithms and timings, and the
    models an interrupted batch did not reach) atomically."""
    from .writers import atomic_write

    path = Path(out_root) / REPORT
    data = {
        "status": "interrupted" if pending else "complete",
        "models": [asdict(r) for r in reports],
        "failed": sum(not r.ok for r in reports),
        "skipped": sum(r.skipped for r in reports),
        "rendered": sum(r.ok and not r.skipped for r in reports),
        "pending": [{"name": t.name, "source": str(t.source)} for t in pending],
    }
    atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())
    return path
