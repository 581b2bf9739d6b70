"""The generation benchmark's engine comparison runs and prints its table (the figures
come from a full run: docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("OCP")
ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_comparison_prints_each_engines_rate_and_the_speed_ups():
    res = subprocess.run([sys.executable, "benchmarks/generate.py", "--engines-only", "--questions", "2", "--primitives", "3",
                          "--scaling-questions", "3"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-1500:]
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in res.stdout.splitlines() if line.startswith("| ")}
    engines = [float(v[0]) for k, v in rows.items() if k.startswith(("OpenCascade", "--engine mesh, 1"))]
    assert len(engines) == 3 and all(r > 0 for r in engines)
    assert "--engine mesh, 3 questions" in rows
    for k in ("1 process", "2 processes"):  # the rate is the faster of the two runs listed
        runs = [float(t) for t in rows[k][1].split(",")]
        assert len(runs) == 2 and float(rows[k][0]) == pytest.approx(3 / min(runs), rel=0.02, abs=0.01)
    assert "target >= 5x" in res.stdout and "target >= 1.8x" in res.stdout
