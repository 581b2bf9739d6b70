"""The quiz under load, as the benchmark runs it: 50 participants at once answer 20
questions each (and the practice) while the server is killed with SIGKILL and restarted;
no answer is lost or duplicated and every acknowledged answer is stored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
ROOT = Path(__file__).resolve().parents[2]


def test_fifty_participants_through_a_kill_lose_and_duplicate_nothing(solver_data):
    datasets = [str(solver_data[t]) for t in ("t2i", "i2p", "p2i")]
    res = subprocess.run([sys.executable, "benchmarks/human_load.py", *datasets, "--participants", "50", "--questions",
                          "20", "--kill-after", "300", "--limit", "400"], capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert lines[0].startswith("killed the server (SIGKILL) once 300 answers were in")
    assert "1100 answers stored" in lines[1] and lines[-1] == "no answer lost or duplicated"
    assert {line.split()[0] for line in lines[2:6]} == {"start", "page", "drawing", "answer"}
