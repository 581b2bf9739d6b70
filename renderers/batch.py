"""Render many models safely: forked worker processes, a timeout, crash isolation.

OCCT can hang (exact HLR on some freeform parts) or crash the process (hostile files).
Models therefore run in forked workers, each in its own process group; a worker that
crashes or overruns the per-model timeout is killed (with any helper it forked) and
replaced. The model is reported with its file and reason, the others go on, finished
models are kept and skipped by a re-run.
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
from .mesh_io import MESH_EXTENSIONS
from .render import ModelReport, RenderOptions, is_complete, render_model

#: Extensions picked up when a folder is given: CAD and mesh files.
INPUT_EXTENSIONS = (".step", ".stp", ".iges", ".igs", ".brep", ".brp") + MESH_EXTENSIONS

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
                missing.append(ModelReport(p.name, item, ok=False, error="folder holds no CAD or mesh files"))
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


def _render_one(task: Task, out_root: Path, options: RenderOptions) -> ModelReport:
    try:
        return render_model(task.source, out_root / task.name, options, task.name)
    except RenderError as e:
        return ModelReport(task.name, str(task.source), ok=False, error=e.reason)
    except MemoryError:
        return ModelReport(task.name, str(task.source), ok=False, error="out of memory")
    except Exception as e:  # noqa: BLE001 - any other failure is reported, never raised
        return ModelReport(task.name, str(task.source), ok=False, error=f"{type(e).__name__}: {e}")


def _worker_loop(conn, out_root: Path, options: RenderOptions) -> None:
    """Forked worker body: render the models it is sent, one at a time, until told to stop."""
    os.setpgid(0, 0)
    try:
        while True:
            task = conn.recv()
            if task is None:
                break
            report = _render_one(task, out_root, options)
            report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            conn.send(asdict(report))
    except (EOFError, OSError):
        pass
    finally:
        os._exit(0)


class _Worker:
    """A forked worker process, reused for many models until it crashes or times out.

    Reuse saves a fork per model (about 20 ms with OCCT loaded); each worker has its own
    process group so that killing it also ends the exact-HLR helper it may have forked.
    """

    def __init__(self, ctx, out_root: Path, options: RenderOptions) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_loop, args=(child, out_root, options))
        self.proc.start()
        try:  # also set in the child: whichever runs first wins the race
            os.setpgid(self.proc.pid, self.proc.pid)
        except (ProcessLookupError, PermissionError):
            pass
        child.close()
        self.index: int | None = None
        self.deadline = 0.0

    def submit(self, index: int, task: Task, timeout: float) -> None:
        self.index, self.deadline = index, time.monotonic() + timeout
        self.conn.send(task)

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.kill()
        self.conn.close()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.proc.kill()
        self.proc.join()
        self.conn.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


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
    # Fork is cheap and shares the loaded OCCT; but a process that has created an OpenGL
    # (EGL) context cannot fork children that render (they hang), so then spawn.
    ctx = mp.get_context("spawn" if "OpenGL" in sys.modules else "fork")
    tqdm.monitor_interval = 0  # no monitor thread: this process forks
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="model", disable=not progress or None)
    # Largest files first: a big model started last would leave the other workers idle.
    queue = sorted(todo, key=lambda i: (_size(tasks[i].source), -i))
    pool = [_Worker(ctx, out, options) for _ in range(min(workers, len(todo)))]

    def finish(w: _Worker, report: ModelReport, replace: bool) -> None:
        assert w.index is not None
        reports[w.index] = report
        w.index = None
        bar.update(1)
        if not report.ok:
            bar.write(f"FAILED {report.source}: {report.error}", file=sys.stderr)
        if replace:  # a worker that crashed or overran is not trusted again
            w.kill()
            if queue:
                pool[pool.index(w)] = _Worker(ctx, out, options)

    try:
        while queue or any(w.index is not None for w in pool):
            for slot, w in enumerate(pool):
                if w.index is None and queue:
                    if not w.proc.is_alive():  # died while idle (killed from outside)
                        w = pool[slot] = _Worker(ctx, out, options)
                    i = queue.pop()
                    w.submit(i, tasks[i], timeout)
            busy = [w for w in pool if w.index is not None]
            wait_for = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], wait_for))
            for w in busy:
                task = tasks[w.index]  # type: ignore[index]
                if w.conn in ready or w.proc.sentinel in ready:
                    try:
                        report = ModelReport(**w.conn.recv()) if w.conn.poll() else None
                    except (EOFError, OSError):
                        report = None
                    if report is not None:
                        finish(w, report, replace=False)
                    else:
                        w.proc.join(5)
                        error = _describe_exit(w.proc.exitcode)
                        finish(w, ModelReport(task.name, str(task.source), ok=False, error=error), replace=True)
                elif time.monotonic() >= w.deadline:
                    error = f"timed out after {timeout:g} s"
                    finish(w, ModelReport(task.name, str(task.source), ok=False, error=error), replace=True)
    finally:
        for w in pool:
            if w.index is not None:
                w.kill()
            elif w.proc.is_alive():
                w.stop()
        bar.close()
    return [reports[i] for i in range(len(tasks))]


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
