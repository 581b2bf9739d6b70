"""Render many models safely: one forked process per model, a timeout, crash isolation.

OCCT can hang (exact HLR on some freeform parts) or crash the process (hostile files).
Each model therefore runs in its own forked child, in its own process group so that a
timeout also ends the exact-HLR helper it may have forked. A model that fails, hangs or
crashes is reported with its file and reason; the others go on; finished models are kept
and skipped by a re-run.
"""

from __future__ import annotations

import glob
import json
import multiprocessing as mp
import os
import resource
import signal
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import wait
from pathlib import Path

from .errors import RenderError
from .render import ModelReport, RenderOptions, is_complete, render_model

#: Extensions picked up when a folder is given (meshes join once the mesh renderer does).
INPUT_EXTENSIONS = (".step", ".stp", ".iges", ".igs", ".brep", ".brp")

REPORT = "render-report.json"


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
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in INPUT_EXTENSIONS)
            if not found:
                missing.append(ModelReport(p.name, item, ok=False, error="folder holds no CAD files"))
            files.extend(found)
        elif p.exists():
            files.append(p)
        elif glob.has_magic(item):
            found = sorted(Path(f) for f in glob.glob(item, recursive=True) if Path(f).is_file())
            if not found:
                missing.append(ModelReport(p.name, item, ok=False, error="pattern matches no file"))
            files.extend(found)
        else:
            missing.append(ModelReport(p.stem, item, ok=False, error="file not found"))
    unique = list(dict.fromkeys(f.resolve() for f in files))
    return unique, missing


def name_tasks(files: list[Path]) -> list[Task]:
    """Output names: the file stem; stems shared by several files get `_<ext>`, then `_<n>`."""
    stems: dict[str, int] = {}
    for f in files:
        stems[f.stem] = stems.get(f.stem, 0) + 1
    names: list[str] = []
    for f in files:
        name = f.stem if stems[f.stem] == 1 else f"{f.stem}_{f.suffix.lstrip('.').lower()}"
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return [Task(n, f) for n, f in zip(names, files)]


def _child(conn, task: Task, out_root: Path, options: RenderOptions) -> None:
    """Forked worker body: render one model, send back a report, never return."""
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # OCCT's readers print banners to stdout
    try:
        report = render_model(task.source, out_root / task.name, options, task.name)
    except RenderError as e:
        report = ModelReport(task.name, str(task.source), ok=False, error=e.reason)
    except MemoryError:
        report = ModelReport(task.name, str(task.source), ok=False, error="out of memory")
    except Exception as e:  # noqa: BLE001 - any other failure is reported, never raised
        report = ModelReport(task.name, str(task.source), ok=False, error=f"{type(e).__name__}: {e}")
    report.seconds["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    try:
        conn.send(asdict(report))
    finally:
        conn.close()
        os._exit(0)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"renderer crashed ({signal.Signals(-code).name})"
        except ValueError:
            return f"renderer crashed (signal {-code})"
    return f"renderer exited with status {code} without a result"


def run_batch(
    tasks: list[Task],
    out_root: str | os.PathLike,
    options: RenderOptions,
    workers: int = 1,
    timeout: float = 300.0,
    force: bool = False,
    progress: bool = True,
) -> list[ModelReport]:
    """Render every task into `out_root/<task.name>/`; returns one report per task, in order."""
    from tqdm import tqdm

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    reports: dict[int, ModelReport] = {}
    todo: list[int] = []
    for i, t in enumerate(tasks):
        if not force and is_complete(out / t.name, options):
            reports[i] = ModelReport(t.name, str(t.source), skipped=True)
        else:
            todo.append(i)
    ctx = mp.get_context("fork")
    tqdm.monitor_interval = 0  # no monitor thread: this process forks
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="model", disable=not progress or None)
    running: dict[int, tuple] = {}  # index -> (process, connection, deadline)
    queue = list(reversed(todo))
    try:
        while queue or running:
            while queue and len(running) < workers:
                i = queue.pop()
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(send, tasks[i], out, options))
                proc.start()
                try:  # also set in the child: whichever runs first wins the race
                    os.setpgid(proc.pid, proc.pid)
                except (ProcessLookupError, PermissionError):
                    pass
                send.close()
                running[i] = (proc, recv, time.monotonic() + timeout)
            now = time.monotonic()
            wait_for = max(0.0, min(d for _, _, d in running.values()) - now)
            ready = set(wait([r for _, r, _ in running.values()] + [p.sentinel for p, _, _ in running.values()], wait_for))
            for i, (proc, recv, deadline) in list(running.items()):
                report = None
                if recv in ready or proc.sentinel in ready:
                    try:
                        report = ModelReport(**recv.recv()) if recv.poll() else None
                    except (EOFError, OSError):
                        report = None
                    proc.join(5)
                    if report is None:
                        report = ModelReport(tasks[i].name, str(tasks[i].source), ok=False, error=_describe_exit(proc.exitcode))
                elif time.monotonic() >= deadline:
                    _kill_group(proc)
                    report = ModelReport(tasks[i].name, str(tasks[i].source), ok=False, error=f"timed out after {timeout:g} s")
                if report is not None:
                    recv.close()
                    del running[i]
                    reports[i] = report
                    bar.update(1)
                    if not report.ok:
                        bar.write(f"FAILED {report.source}: {report.error}", file=sys.stderr)
    finally:
        for proc, recv, _ in running.values():
            _kill_group(proc)
        bar.close()
    return [reports[i] for i in range(len(tasks))]


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.join()


def write_report(out_root: str | os.PathLike, reports: list[ModelReport]) -> Path:
    """Write `render-report.json` (every model's status, algorithms and timings) atomically."""
    from .writers import atomic_write

    path = Path(out_root) / REPORT
    data = {
        "models": [asdict(r) for r in reports],
        "failed": sum(not r.ok for r in reports),
        "skipped": sum(r.skipped for r in reports),
        "rendered": sum(r.ok and not r.skipped for r in reports),
    }
    atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())
    return path
