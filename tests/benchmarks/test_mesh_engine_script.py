"""The mesh-engine benchmark runs and prints its table (the figures come from a full run)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("OCP")
ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_prints_f1_of_both_line_kinds_and_both_engines_times():
    res = subprocess.run([sys.executable, "benchmarks/mesh_engine.py", "--models", "1", "--primitives", "4"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-1500:]
    out = res.stdout
    rows = [line.split("|") for line in out.splitlines() if line.startswith(("| visible", "| hidden"))]
    assert len(rows) == 2 and all(0.5 <= float(r[2]) <= 1.0 and r[4].strip() == "11" for r in rows)
    assert "OpenCascade" in out and "mesh engine" in out
    referee = next(line for line in out.splitlines() if line.startswith("referee:"))
    checked, behind = (int(x) for x in re.findall(r": (\d+)", referee))
    assert 0 <= behind <= checked
