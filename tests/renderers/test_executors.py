"""The executor layer: a crash, a hang or an exception costs one unit; draining stops early."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from renderers.executors import LocalExecutor, SerialExecutor, make_executor


def faulty(x: int) -> int:
    """Squares x; 1 segfaults, 2 hangs, 3 raises."""
    if x == 1:
        os.kill(os.getpid(), signal.SIGSEGV)
    if x == 2:
        time.sleep(60)
    if x == 3:
        raise ValueError("three is bad")
    return x * x


def test_local_executor_isolates_crash_hang_and_exception():
    t0 = time.monotonic()
    outcomes = {o.key: o for o in LocalExecutor(workers=2, timeout=2).map(faulty, [(x, x) for x in range(7)])}
    assert time.monotonic() - t0 < 20
    assert sorted(outcomes) == list(range(7))
    assert "crashed (SIGSEGV" in outcomes[1].error
    assert outcomes[2].error == "timed out after 2 s"
    assert outcomes[3].error == "ValueError: three is bad"
    assert {k: o.value for k, o in outcomes.items() if o.error is None} == {0: 0, 4: 16, 5: 25, 6: 36}


def test_serial_executor_runs_in_order_and_drains():
    ex = SerialExecutor()
    seen = []
    for o in ex.map(lambda x: x + 1, [(k, k) for k in range(5)]):
        seen.append(o.value)
        if len(seen) == 2:
            ex.drain()
    assert seen == [1, 2]


def test_draining_local_executor_finishes_units_in_flight_only():
    ex = LocalExecutor(workers=2, timeout=10)
    done = []
    for o in ex.map(faulty, [(k, k) for k in (4, 5, 6, 7, 8, 9)]):
        done.append(o.key)
        ex.drain()
    assert sorted(done) == [4, 5]  # the two in flight when asked to drain, none started after


def test_unknown_executor_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("threads")
    for bad in (0, -1, float("nan"), 3e6):  # 3e6 s overflows the operating system's waits
        with pytest.raises(ValueError, match="timeout must be more than 0 and at most 1000000 seconds"):
            LocalExecutor(1, timeout=bad)
    assert LocalExecutor(1, timeout=1e6).timeout == 1e6


def slow_echo(x: int) -> int:
    time.sleep(0.05 * (3 - x % 3))
    return x


def test_dask_worker_threads_each_run_units_in_their_own_process():
    """A `dask worker` runs a thread per core; threads that shared one isolated process
    swapped each other's results. Here four threads stand in for a worker's."""
    from concurrent.futures import ThreadPoolExecutor

    from renderers import executors

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda x: executors._isolated(slow_echo, x, 30.0), range(24)))
        assert results == [(x, None) for x in range(24)]
        assert len({w.proc.pid for w in executors._DASK_WORKER.values()}) == len(executors._DASK_WORKER) > 1
    finally:
        for w in executors._DASK_WORKER.values():
            w.stop()
        executors._DASK_WORKER.clear()


def test_dask_worker_threads_start_their_processes_one_at_a_time(monkeypatch):
    """Forks from several threads at once break on Python 3.12+ once filelock is loaded (it
    refuses a fork while another thread is inside one: a flaky RuntimeError with torch
    imported), and each start flips the process's daemon flag: starts must not overlap."""
    from concurrent.futures import ThreadPoolExecutor

    from renderers import executors

    inside, most = [0], [0]
    guard = threading.Lock()

    class Starting:
        alive = True

        def __init__(self, ctx) -> None:
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with guard:
                inside[0] -= 1

        def submit(self, key, fn, payload, timeout) -> None:
            self.result = fn(payload)

        def collect(self, timeout):
            return executors.Outcome(None, self.result, None)

    monkeypatch.setattr(executors, "Worker", Starting)
    monkeypatch.setattr(executors, "_DASK_WORKER", {})
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda x: executors._isolated(abs, -x, 30.0), range(8))) == [(x, None) for x in range(8)]
    assert most[0] == 1 and len(executors._DASK_WORKER) == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_process_whose_parent_died_before_it_asked_to_die_with_it_ends():
    # The death signal only comes if the parent dies after the request: a worker whose job
    # was killed while it started must notice and end, or it hangs on as an orphan.
    from renderers.executors import die_with_parent

    pid = os.fork()
    if pid == 0:  # the child: claim a parent that is not this one's
        die_with_parent(os.getppid() + 100000)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
