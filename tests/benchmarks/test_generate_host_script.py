"""The many-core generation script (mesh engine, no OpenCascade needed) runs to the end or to
its time limit and prints the rate and the projections (the figures come from a GPU host)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("manifold3d")
ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    res = subprocess.run(["bash", "benchmarks/generate_host.sh", *args], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHON": sys.executable}, timeout=600)
    assert res.returncode == 0, res.stderr[-1500:]
    return res.stdout


def test_a_whole_set_is_timed_and_projected():
    out = _run("3", "2")
    assert "3 questions: 3 done (kept 3), 0 failed, 0 pending; assembled" in out
    rate = re.search(r"3 questions in ([\d.]+) s \(all 3 questions, assembled\): ([\d.]+) questions/s", out)
    assert rate and float(rate.group(2)) > 0
    assert re.search(r"40,000: [\d.]+ min at this rate", out)


def test_a_time_limit_stops_the_job_and_the_rate_comes_from_what_was_done():
    out = _run("500", "2", "3")
    done = re.search(r"(\d+) questions in [\d.]+ s \(stopped at the 3 s limit\)", out)
    assert done and int(done.group(1)) < 500
    assert "run the same command again to resume" in out
