"""The GPU suite script runs the built-in `paper-ssl` suite at its tiny scale in bounded
commands, with the experiments named as docs/experiments.md runs them on a GPU: every
pretraining method, direct evaluation and fine-tuning, and every claim of the suite. One
command cut at its limit exits 124, the next resumes and finishes, and the results and
report come out beside the log. (The sweeps' machinery is tested on small suites in
tests/spare3d_bench/harness, the network switches they vary in tests/contrastive.)"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("manifold3d")
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ["t2i-methods", "t2i-ssl", "i2p", "i2p-views", "p2i"]


def _run(tmp_path: Path, out: str, limit: str) -> subprocess.CompletedProcess:
    command = ["bash", "benchmarks/bench_gpu.sh", "paper-ssl", "tiny", str(tmp_path / out), limit, *EXPERIMENTS]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable, "STORE": str(tmp_path / "store"),
                               "WORKERS": "2", "DEVICE": "cpu"})


def test_paper_ssl_tiny_cut_in_one_command_resumes_in_the_next_and_reports(tmp_path):
    from spare3d_bench.harness.suite import load_suite

    cut = _run(tmp_path, "first", "20")
    assert cut.returncode == 124, cut.stdout[-1500:] + cut.stderr[-1500:]
    assert "bench exit 124" in (tmp_path / "first" / "bench.log").read_text()

    done = _run(tmp_path, "second", "800")
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
    suite = load_suite("paper-ssl", "tiny").only(EXPERIMENTS)
    assert len(suite.claims) == len(load_suite("paper-ssl", "tiny").claims)  # these experiments test every claim
    with open(tmp_path / "second" / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == "accuracy"]
    assert {(r["experiment"], r["run"].rsplit("/seed=", 1)[0]) for r in rows} == {(r.experiment, r.label)
                                                                                   for r in suite.runs}
    assert all(0 <= float(r["value"]) <= 1 for r in rows)
    assert (tmp_path / "second" / "results.sqlite").is_file()
    report = (tmp_path / "second" / "report" / "report.md").read_text()
    for experiment in suite.experiments:
        assert f"## paper-ssl (tiny): {experiment}" in report
    assert sum(report.count(f"| {v} |") for v in ("holds", "reversed", "not shown")) == len(suite.claims)
    html = (tmp_path / "second" / "report" / "report.html").read_text()
    assert html.count("<img") >= len(suite.experiments)
