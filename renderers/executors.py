"""Run independent units of work where a crash, a hang or an OOM kill costs one unit only.

OCCT can segfault or hang on real-world files, so a unit (a model to render, a question to
build) runs in a worker process that may die. Three executors share one interface,
`map(fn, units) -> iterator of Outcome` in completion order:

* `LocalExecutor`: reused forked (or spawned) workers, each in its own process group, a
  wall-clock timeout per unit; a worker that crashes or overruns is killed with any helper
  it forked and replaced.
* `SerialExecutor`: every unit in this process, in order (debugging: breakpoints work; no
  isolation and no timeout).
* `DaskExecutor`: a Dask distributed cluster (a scheduler address, or a LocalCluster); each
  Dask worker runs its units in one isolated forked worker of its own, with the timeout,
  so a segfault costs the unit and not the Dask worker.

`fn` must be a module-level function (or a functools.partial of one) for spawn and Dask.
An exception raised by `fn` becomes the unit's error ("TypeName: message"). `drain()` asks
an executor to start no new unit and finish the ones in flight (Ctrl-C). Nothing here
knows about renderers or datasets; Dask is imported only by `DaskExecutor`.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

EXECUTORS = ("local", "serial", "dask")

#: Longest time limit accepted (11.6 days): the operating system's waits overflow past
#: about 24.8 days (2**31 ms).
MAX_SECONDS = 1e6


@dataclass
class Outcome:
    """The result of one unit: `value` when `error` is None, else the reason it failed."""

    key: Any
    value: Any = None
    error: str | None = None


def check_timeout(seconds: float, what: str = "timeout") -> None:
    """ValueError unless `seconds` is a usable time limit: positive, at most MAX_SECONDS."""
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"{what} must be more than 0 and at most {MAX_SECONDS:.0f} seconds, got {seconds!r}")


def die_with_parent(parent: int | None = None) -> None:
    """Linux: SIGKILL this process when its parent dies (a `kill -9` of the job must not
    leave hung OCCT workers, or helpers holding its lock, behind). `parent`: the pid that
    started this process; if it died before this call, the signal would never come, so the
    process ends here."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _call(fn: Callable, payload: Any) -> tuple[Any, str | None]:
    try:
        return fn(payload), None
    except MemoryError:
        return None, "out of memory"
    except Exception as e:  # noqa: BLE001 - any failure of a unit is reported, never raised
        return None, f"{type(e).__name__}: {e}"


def _worker_loop(conn, parent: int) -> None:
    """Worker body: run the (fn, payload) pairs it is sent, one at a time, until told to stop."""
    os.setpgid(0, 0)
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        while True:
            job = conn.recv()
            if job is None:
                break
            conn.send(_call(*job))
    except (EOFError, OSError):
        pass
    finally:
        os._exit(0)


def describe_exit(code: int | None) -> str:
    """Why a worker ended without a result, from its exit code."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = ", out of memory?" if code == -signal.SIGKILL else ""
        return f"worker crashed ({name}{hint})"
    return f"worker exited with status {code} without a result"


class Worker:
    """A worker process reused for many units until it crashes or times out.

    Reuse saves a fork per unit (about 20 ms with OCCT loaded); its own process group lets
    a kill also end any helper it forked (the exact-HLR watchdog).
    """

    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_loop, args=(child, os.getpid()))
        self.proc.start()
        try:  # also set in the child: whichever runs first wins the race
            os.setpgid(self.proc.pid, self.proc.pid)
        except (ProcessLookupError, PermissionError):
            pass
        child.close()
        self.key: Any = None
        self.busy = False
        self.deadline = 0.0

    def submit(self, key: Any, fn: Callable, payload: Any, timeout: float) -> None:
        self.key, self.busy, self.deadline = key, True, time.monotonic() + timeout
        self.conn.send((fn, payload))

    def collect(self, timeout: float) -> Outcome:
        """The outcome of the unit submitted last: its result, a crash or a timeout
        (after which the worker is dead and must be replaced)."""
        key, self.busy = self.key, False
        try:
            if self.conn.poll(0) or wait([self.conn, self.proc.sentinel], max(0.0, self.deadline - time.monotonic())):
                if self.conn.poll(0):
                    value, error = self.conn.recv()
                    return Outcome(key, value, error)
                return self._died(key)
        except (EOFError, OSError):
            return self._died(key)
        self.kill()
        return Outcome(key, error=f"timed out after {timeout:g} s")

    def _died(self, key: Any) -> Outcome:
        self.proc.join(5)
        self.conn.close()
        return Outcome(key, error=describe_exit(self.proc.exitcode))

    @property
    def alive(self) -> bool:
        return self.proc.is_alive() and not self.conn.closed

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


def _context(start_method: str | None):
    # Fork is cheap and shares loaded OCCT; a process holding an OpenGL (EGL) context
    # cannot fork children that render (they hang), so then spawn.
    return mp.get_context(start_method or ("spawn" if "OpenGL" in sys.modules else "fork"))


class LocalExecutor:
    """A pool of isolated worker processes on this machine (see the module docstring)."""

    def __init__(self, workers: int = 1, timeout: float = 300.0, start_method: str | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        check_timeout(timeout)
        self.workers, self.timeout, self.start_method = workers, timeout, start_method
        self.draining = False

    def drain(self) -> None:
        self.draining = True

    def map(self, fn: Callable, units: Iterable[tuple[Any, Any]]) -> Iterator[Outcome]:
        """Run fn(payload) for each (key, payload), in the given order of starting; yields
        outcomes as units finish."""
        ctx = _context(self.start_method)
        queue = list(units)[::-1]
        pool = [Worker(ctx) for _ in range(min(self.workers, len(queue)))]
        try:
            while pool:
                for slot, w in enumerate(pool):
                    if not w.busy and queue and not self.draining:
                        if not w.alive:  # died while idle, or was killed after a crash
                            w = pool[slot] = Worker(ctx)
                        key, payload = queue.pop()
                        w.submit(key, fn, payload, self.timeout)
                busy = [w for w in pool if w.busy]
                if not busy:
                    break
                wait_for = max(0.0, min(w.deadline for w in busy) - time.monotonic())
                ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], wait_for))
                for w in busy:
                    if w.conn in ready or w.proc.sentinel in ready or time.monotonic() >= w.deadline:
                        yield w.collect(self.timeout)
        finally:
            for w in pool:
                if w.busy:
                    w.kill()
                elif w.alive:
                    w.stop()

    def close(self) -> None:
        """Nothing to release: workers end with each `map`."""


class SerialExecutor:
    """Every unit in this process, one after the other: for debugging, no isolation."""

    def __init__(self) -> None:
        self.draining = False

    def drain(self) -> None:
        self.draining = True

    def map(self, fn: Callable, units: Iterable[tuple[Any, Any]]) -> Iterator[Outcome]:
        for key, payload in units:
            if self.draining:
                return
            value, error = _call(fn, payload)
            yield Outcome(key, value, error)

    def close(self) -> None:
        """Nothing to release."""


_DASK_WORKER: dict[int, Worker] = {}
# One thread forks at a time: on Python 3.12+ filelock (which torch loads) refuses a fork
# while another thread is inside one, and `children_allowed` flips a process-wide flag.
_FORKING = threading.Lock()


@contextlib.contextmanager
def children_allowed() -> Iterator[None]:
    """Let this process start child processes while in the block, even when it is daemonic
    (as Dask's worker processes are): multiprocessing refuses children to daemons, which
    could outlive them; the caller answers for its children ending with it."""
    me = mp.current_process()
    daemon = me._config.get("daemon")
    me._config["daemon"] = False
    try:
        yield
    finally:
        me._config["daemon"] = daemon


def _isolated(fn: Callable, payload: Any, timeout: float) -> tuple[Any, str | None]:
    """Run one unit inside a Dask worker thread, in that thread's isolated process (forked
    once and reused, replaced after a crash or a timeout). One per thread: a `dask worker`
    runs a thread per core, and two threads sharing one process would swap results."""
    me_thread = threading.get_ident()
    w = _DASK_WORKER.get(me_thread)
    if w is None or not w.alive:
        # Ours dies with its parent (PR_SET_PDEATHSIG) and is stopped when the Dask worker exits.
        with _FORKING, children_allowed():
            w = _DASK_WORKER[me_thread] = Worker(mp.get_context("fork"))
    w.submit(None, fn, payload, timeout)
    outcome = w.collect(timeout)
    return outcome.value, outcome.error


class DaskExecutor:
    """Units on a Dask distributed cluster: `scheduler` is an address (tcp://host:port), or
    None to start a LocalCluster of `workers` single-threaded processes on 127.0.0.1."""

    def __init__(self, scheduler: str | None = None, workers: int = 1, timeout: float = 300.0) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError("the dask executor needs Dask: pip install 'spare3d-bench[dist]'") from None
        check_timeout(timeout)
        self.timeout = timeout
        self.draining = False
        self.cluster = None
        if scheduler is None:
            import dask

            # Dask's statistical profiler samples every worker thread each 10 ms: pure
            # overhead here, where a worker thread only waits for its isolated process.
            quiet = {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.gil.enabled": False}
            # Its worker processes share our terminal's process group: started with SIGINT
            # ignored (kept across exec), a Ctrl-C reaches only us, drains, and does not
            # kill the workers whose results we then wait for.
            main = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
            try:
                with dask.config.set(quiet):
                    # No dashboard; Dask's small HTTP server still starts, on a free port
                    # (on 8787 it warned whenever another Dask was running).
                    self.cluster = LocalCluster(
                        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                    )  # fmt: skip
            finally:
                if main:
                    signal.signal(signal.SIGINT, previous)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(scheduler, timeout=30)
            except (OSError, TimeoutError) as e:
                raise ValueError(f"cannot reach the Dask scheduler {scheduler}: {e}") from None

    def drain(self) -> None:
        self.draining = True

    def map(self, fn: Callable, units: Iterable[tuple[Any, Any]]) -> Iterator[Outcome]:
        """Keeps about two units per Dask thread in flight, so that draining is quick and a
        huge job does not flood the scheduler."""
        from distributed import as_completed

        queue = list(units)[::-1]
        limit = 2 * max(1, sum(self.client.nthreads().values()))
        pending = as_completed()
        keys = {}

        def top_up() -> None:
            while queue and not self.draining and pending.count() < limit:
                key, payload = queue.pop()
                fut = self.client.submit(_isolated, fn, payload, self.timeout, pure=False)
                keys[fut.key] = key
                pending.add(fut)

        top_up()
        while not pending.is_empty():
            fut = next(pending)
            key = keys.pop(fut.key)
            try:
                value, error = fut.result()
            except Exception as e:  # noqa: BLE001 - a lost Dask worker (KilledWorker) costs the unit
                value, error = None, f"dask: {type(e).__name__}: {e}"
            fut.release()
            yield Outcome(key, value, error)
            top_up()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(
    name: str, workers: int = 1, timeout: float = 300.0, scheduler: str | None = None, start_method: str | None = None
):
    """The executor called `name` (one of EXECUTORS); `start_method` is for local workers."""
    if name == "local":
        return LocalExecutor(workers, timeout, start_method)
    if name == "serial":
        return SerialExecutor()
    if name == "dask":
        return DaskExecutor(scheduler, workers, timeout)
    raise ValueError(f"unknown executor {name!r} (use {', '.join(EXECUTORS)})")


def drain_on_sigint(executor, what: str) -> Callable[[], None]:
    """First Ctrl-C: let the `what` in flight finish and start no more; second: stop now
    (KeyboardInterrupt). Returns the function that puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame) -> None:
        if executor.draining:
            raise KeyboardInterrupt
        executor.drain()
        print(f"\nstopping after the {what} in flight (Ctrl-C again to stop now)...", file=sys.stderr)

    signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)
