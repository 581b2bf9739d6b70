"""Running a suite's stages, in order on this machine or as tasks on a Dask cluster.

Each stage runs through the `spare3d` command's own code (`cli.main`, in this process:
the same checks, the same resumable jobs) with its output kept in ROOT/logs/<key>.log.
A stage's work goes to ROOT/<kind>/<key> (an evaluation to its run's eval/<key>.json),
and ROOT/stages/<key>.json is written, atomically, once it has finished: a stage with
that file is never run again, and a stage without it resumes (generation from its
journal, training with --resume). A failed stage is recorded with its one-line error,
the stages that need it are skipped, and the others carry on.

With `executor="dask"` each stage is a task that depends on the tasks of its inputs;
training-type stages (pretrain, train, evaluate) off the CPU ask for one `GPU` worker
resource, so a cluster started with one worker per GPU (`dask worker --resources GPU=1`,
each with its own CUDA_VISIBLE_DEVICES) runs one on each; generation runs on a worker
with its own executor. This process alone writes the results database, as tasks finish.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from renderers.writers import atomic_write

from .. import __version__
from . import results
from .suite import Run, Stage, Suite, argv

DB_NAME = "results.sqlite"


@dataclass
class Outcome:
    """What a bench did: stages run, found done, failed (key -> error) and skipped."""

    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Bench:
    """A suite bound to a stage store (ROOT) and the machine settings it runs with."""

    def __init__(self, suite: Suite, root: str | os.PathLike, device: str = "auto", workers: int = 1,
                 executor: str = "local", scheduler: str | None = None) -> None:
        if executor not in ("local", "dask"):
            raise ValueError(f"unknown executor {executor!r} (local or dask)")
        if scheduler is not None and executor != "dask":
            raise ValueError("a scheduler needs the dask executor")
        self.suite, self.root, self.device, self.workers = suite, Path(root).absolute(), device, workers
        self.executor, self.scheduler = executor, scheduler

    def folder(self, stage: Stage) -> Path:
        """Where a stage's work lives (an evaluation: in the folder of the run it evaluates)."""
        return stage_folder(self.root, stage.inputs[0] if stage.kind == "evaluate" else stage.key)

    def done(self, stage: Stage) -> bool:
        return (self.root / "stages" / f"{stage.key}.json").is_file()

    def plan(self) -> list[tuple[Stage, bool]]:
        """Every stage of the suite, each before those that read it, and whether it is done."""
        return [(s, self.done(s)) for s in self.suite.stages()]

    def run(self, progress: bool = True) -> Outcome:
        """Run every stage not yet done; each run's results are stored once its evaluation
        is done (run now or before), so a report made mid-way sees them, and failed runs
        at the end."""
        from tqdm import tqdm

        t0 = time.perf_counter()
        out = Outcome()
        bar = tqdm(self.plan(), desc=f"{self.suite.name} ({self.suite.scale})", unit="stage", disable=not progress)
        self.root.mkdir(parents=True, exist_ok=True)
        db = results.connect(self.root / DB_NAME)
        try:
            results.record_suite(db, self.suite)
            if self.executor == "dask":
                self._run_dask(bar, out, db)
            for stage, done in () if self.executor == "dask" else bar:
                if done:
                    out.cached.append(stage.key)
                elif any(k in out.failed or k in out.skipped for k in stage.inputs):
                    out.skipped.append(stage.key)
                    continue
                else:
                    bar.set_postfix_str(stage.key)
                    error = self._execute(stage)
                    if error is not None:
                        out.failed[stage.key] = error
                        continue
                    out.ran.append(stage.key)
                if stage.kind == "evaluate":
                    self._record_runs(db, stage.key)
            self._record_failures(db, out)
        finally:
            db.close()
        out.seconds = time.perf_counter() - t0
        return out

    def _run_dask(self, bar, out: Outcome, db) -> None:
        """Every stage not done as a Dask task after the tasks of its inputs; outcomes (and
        each run's rows, once evaluated) recorded as tasks finish (`bar`: the plan's
        progress bar, advanced as they do)."""
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ValueError("the dask executor needs Dask: pip install 'spare3d-bench[dist]'") from None
        import dask

        with contextlib.ExitStack() as stack:
            if self.scheduler is None:
                with dask.config.set({"distributed.worker.daemon": False}):
                    cluster = stack.enter_context(LocalCluster(
                        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address="127.0.0.1:0", resources={"GPU": 1}))
                client = stack.enter_context(Client(cluster))
            else:
                client = stack.enter_context(Client(self.scheduler))
            futures, kinds = {}, {}
            gpu = self.device != "cpu"
            for stage, done in bar.iterable:
                if done:
                    bar.update()
                    out.cached.append(stage.key)
                    if stage.kind == "evaluate":
                        self._record_runs(db, stage.key)
                    continue
                upstream = [futures[k] for k in stage.inputs if k in futures]
                needs = {"GPU": 1} if gpu and stage.kind != "generate" else None
                futures[stage.key] = client.submit(_remote_stage, self, stage, *upstream, key=f"spare3d-{stage.key}",
                                                   resources=needs, pure=False)
                kinds[futures[stage.key].key] = stage
            for future in as_completed(list(futures.values())):
                stage = kinds[future.key]
                bar.update()
                bar.set_postfix_str(stage.key)
                try:
                    error = future.result()
                except Exception as e:  # noqa: BLE001 - a worker lost, a task killed: the stage failed
                    error = f"dask: {type(e).__name__}: {e}"
                if error == _SKIPPED:
                    out.skipped.append(stage.key)
                elif error is not None:
                    out.failed[stage.key] = error
                else:
                    out.ran.append(stage.key)
                    if stage.kind == "evaluate":
                        self._record_runs(db, stage.key)

    def _execute(self, stage: Stage) -> str | None:
        """Run one stage; its one-line error, or None once its done file is written."""
        folder = self.folder(stage)
        command = self._command(stage, folder)
        log = self.root / "logs" / f"{stage.key}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        code, printed, errors = run_command(command)
        seconds = time.perf_counter() - t0
        log.write_text(f"$ spare3d {' '.join(command)}\n{printed}{errors}")
        if code != 0:
            lines = [line for line in errors.splitlines() if line.strip()]
            return " ".join((lines[-1] if lines else f"spare3d {command[0]} exited with {code}").split())
        record = {"kind": stage.kind, "settings": stage.settings, "inputs": list(stage.inputs), "seconds": round(seconds, 3),
                  "device": self.device, "command": command}
        (self.root / "stages").mkdir(exist_ok=True)
        atomic_write(self.root / "stages" / f"{stage.key}.json", (json.dumps(record, indent=1, default=str) + "\n").encode())
        return None

    def _command(self, stage: Stage, folder: Path) -> list[str]:
        """The `spare3d` command line of a stage."""
        if stage.kind == "generate":
            settings = dict(stage.settings)
            task = settings.pop("task")
            settings.pop("models_sha256", None)
            models = settings.pop("models", [])
            return ["generate", task, *argv(settings), *(["--models", *models] if models else []), "--out", str(folder),
                    "--quiet", "--workers", str(self.workers)]
        if stage.kind == "evaluate":
            data = stage_folder(self.root, stage.inputs[1])
            return ["evaluate", str(folder), "--data", str(data), "--split", stage.settings["split"], "--name", stage.key,
                    "--device", self.device]
        data = stage_folder(self.root, stage.inputs[0])
        command = [stage.kind, *argv(stage.settings), "--data", str(data), "--out", str(folder), "--quiet",
                   "--device", self.device]
        if len(stage.inputs) > 1:  # a fine-tuning's pretrained run; a distillation's teacher
            flag = "--init" if stage.kind == "train" else "--teacher"
            command += [flag, str(stage_folder(self.root, stage.inputs[1]))]
        if (folder / "last.pt").exists():
            command.append("--resume")  # killed part-way: continue the run
        elif folder.exists():
            shutil.rmtree(folder)  # killed before its first checkpoint: nothing to keep
        return command

    def _record_runs(self, db, evaluation: str) -> None:
        """Store the results of the finished runs that `evaluation` evaluates."""
        for run in self.suite.runs:
            if run.evaluation.key == evaluation and all(self.done(s) for s in run.stages):
                results.record_run(db, self._key(run), *self._metrics(run))

    def _record_failures(self, db, out: Outcome) -> None:
        """Store each run with a failed stage, with that stage's error."""
        for run in self.suite.runs:
            failed = next((s for s in run.stages if s.key in out.failed), None)
            if failed is not None:
                results.record_failure(db, self._key(run), failed.key, out.failed[failed.key])

    def _key(self, run: Run) -> tuple[str, str, str, str]:
        return self.suite.name, self.suite.scale, run.experiment, f"{run.label}/seed={run.seed}"

    @cached_property
    def commit(self) -> str | None:
        """The checkout's commit (asked of git once per bench)."""
        return git_commit()

    def _metrics(self, run: Run) -> tuple[dict, dict, dict]:
        """A finished run's metrics, the row details, and its answers by question."""
        evaluation = run.evaluation
        folder = self.folder(evaluation) / "eval"
        card = json.loads((folder / f"{evaluation.key}.json").read_text())
        answers = {}
        for line in (folder / f"{evaluation.key}.predictions.jsonl").read_text().splitlines():
            item = json.loads(line)
            answers[str(item["id"])] = item["answer"] == item["prediction"]
        low, high = card["ci95"]
        metrics = {"accuracy": card["accuracy"], "ci_low": low, "ci_high": high, "correct": card["correct"],
                   "questions": card["questions"], "chance": card["chance"], "loss": card["loss"]}
        stages = [s.key for s in run.stages]
        seconds = sum(json.loads((self.root / "stages" / f"{s.key}.json").read_text())["seconds"] for s in run.stages)
        trained = next((s for s in reversed(run.stages) if s.kind in ("train", "pretrain")), None)
        info = {"factors": run.factors, "seed": run.seed, "task": card["task"], "model": card["model"],
                "method": trained.settings.get("method", "supervised") if trained else None, "stages": stages,
                "version": __version__, "git_commit": self.commit, "device": self.device, "seconds": round(seconds, 3)}
        return metrics, info, answers


def stage_folder(root: Path, key: str) -> Path:
    """ROOT/<kind>/<key>: where the stage `key` (which begins with its kind) keeps its work."""
    return root / key.partition("-")[0] / key


#: A task's result when an input stage failed or was skipped: it did not run.
_SKIPPED = "skipped: an input stage did not finish"


def _remote_stage(bench: Bench, stage: Stage, *upstream: str | None) -> str | None:
    """A stage as a Dask task: skipped when an input did not finish, else run as the local
    bench runs it (its error or None), allowed the child processes that generation starts
    (they die with it) although Dask's worker process is daemonic."""
    if any(u is not None for u in upstream):
        return _SKIPPED
    from renderers.executors import children_allowed

    with children_allowed():
        return bench._execute(stage)


def run_command(argv: list[str]) -> tuple[int, str, str]:
    """`spare3d ARGV` in this process (its imports paid once for many commands): the exit
    status and what it printed to stdout and stderr. argparse's refusals give their status;
    an exception gives 1 and its traceback, whose last line names it. Freed memory goes back
    to the system afterwards."""
    from ..cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse's refusals
            code = e.code if isinstance(e.code, int) else 1
        except Exception:  # noqa: BLE001 - the caller records the failure and carries on
            code = 1
            err.write(traceback.format_exc())
    release_memory()
    return code, out.getvalue(), err.getvalue()


def release_memory() -> None:
    """Collect garbage and hand freed memory back to the system (glibc keeps freed arenas)
    and to the GPU (torch's cache): stages run one after another in one process, and should
    peak no higher than one. A stage that decides by the GPU's free memory whether its
    drawings fit on it (`--data-on-device auto`) must not see the last stage's cache."""
    import ctypes
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")  # never imported here for a stage that did not
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def git_commit() -> str | None:
    """The checkout's commit, when the package runs from a git checkout."""
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                           cwd=Path(__file__).resolve().parents[2])
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None
