"""The view-comparison benchmark and the prepared GPU script run first time: both are
exercised here on tiny data on the CPU (the GPU figures come from an H100/H200)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]


def test_the_throughput_benchmark_prints_the_bare_and_real_loops():
    res = subprocess.run([sys.executable, "benchmarks/view_comparison.py", "--synthetic", "12", "--resolution", "32",
                          "--steps", "2", "--batch", "4", "--model", "resnet18-compare", "--arch", "hidden=16",
                          "--device", "cpu"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-1500:]
    lines = res.stdout.strip().splitlines()
    assert lines[1].startswith("bare  :") and "pairs/s" in lines[1]
    assert lines[2].startswith("host  :") and "% of bare" in lines[2]


@pytest.mark.skipif(shutil.which("tar") is None or shutil.which("xz") is None, reason="needs tar and xz")
def test_the_gpu_script_prepares_its_archive_and_runs_end_to_end_at_the_tiny_scale(tmp_path):
    """What a GPU host gets: an archive of pairs and T2I data, and a run that needs only
    this checkout on PYTHONPATH (no install): pretraining, direct and fine-tuned T2I, the
    same network from scratch, supervised early fusion, a table."""
    script = ROOT / "benchmarks" / "view_comparison_gpu.sh"
    env = {**os.environ, "PYTHON": sys.executable}
    res = subprocess.run(["bash", str(script), "prepare", str(tmp_path / "data.tar.xz"), "tiny"], capture_output=True,
                         text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-1500:]
    res = subprocess.run(["bash", str(script), "run", str(tmp_path / "data.tar.xz"), str(tmp_path / "out"), "tiny"],
                         capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-1500:]
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["model"] for r in rows] == ["resnet18-compare"] * 3 + ["resnet18-early"]
    assert len({r["data"] for r in rows}) == 1 and all(r["task"] == "t2i" for r in rows)  # the same test questions
    assert (tmp_path / "out" / "results.md").read_text().count("\n") == 6
    bad = subprocess.run(["bash", str(script), "run"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage:" in bad.stderr
