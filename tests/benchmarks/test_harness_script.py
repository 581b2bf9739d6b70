"""The harness benchmark runs a suite and prints the harness's share of the time and the
second bench's (the figures come from a full run: docs/benchmarks.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("OCP")
ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_prints_the_overhead_and_a_second_bench_that_does_nothing(tmp_path):
    suite = {"name": "bench-check", "base": {
        "data": {"task": "i2p", "csg": 8, "primitives": 3, "size": 32, "layout": "packed", "split": [0.5, 0.25, 0.25]},
        "train": {"model": "resnet18-early", "epochs": 1, "batch_size": 4}}, "experiments": {"one": {}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    res = subprocess.run([sys.executable, "benchmarks/harness.py", str(tmp_path / "s.yaml")], capture_output=True,
                         text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-1500:]
    assert "1 runs, 3 stages run, 0 failed" in res.stdout
    share = float(re.search(r"([\d.]+)% of the time", res.stdout).group(1))
    assert 0 <= share < 100
    assert re.search(r"second bench of the finished suite: [\d.]+ s, 0 stages run", res.stdout)
