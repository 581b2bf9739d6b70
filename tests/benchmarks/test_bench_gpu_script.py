"""The GPU suite script runs a suite in bounded commands: one cut at its limit exits 124,
the next resumes and finishes, and the results and report come out beside the log."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("manifold3d")
ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, out: str, limit: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "benchmarks/bench_gpu.sh", str(tmp_path / "s.yaml"), "tiny", str(tmp_path / out),
                           limit, "one"], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, "STORE": str(tmp_path / "store"),
                               "WORKERS": "2", "DEVICE": "cpu"})


def test_a_cut_command_resumes_in_the_next_and_reports(tmp_path):
    suite = {"name": "gpu-check", "base": {
        "data": {"task": "i2p", "csg": 8, "primitives": 3, "size": 32, "layout": "packed", "engine": "mesh",
                 "split": [0.5, 0.25, 0.25]},
        "train": {"model": "resnet18-early", "epochs": 1, "batch_size": 4}},
        "experiments": {"one": {"grid": {"train.lr": [0.001, 0.0001]}}, "other": {}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    cut = _run(tmp_path, "first", "2")
    assert cut.returncode == 124, cut.stdout[-1500:] + cut.stderr[-1500:]
    assert "bench exit 124" in (tmp_path / "first" / "bench.log").read_text()

    done = _run(tmp_path, "second", "600")
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
    with open(tmp_path / "second" / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == "accuracy"]
    assert len(rows) == 2 and {r["experiment"] for r in rows} == {"one"}  # only the experiment asked for
    assert all(0 <= float(r["value"]) <= 1 for r in rows)
    assert (tmp_path / "second" / "results.sqlite").is_file()
    html = (tmp_path / "second" / "report" / "report.html").read_text()
    assert "lr=0.001" in html.replace("train.", "") and "<img" in html
