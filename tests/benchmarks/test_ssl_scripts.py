"""The pretraining throughput benchmark and the prepared GPU script run first time: both are
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
pytest.importorskip("kornia")
ROOT = Path(__file__).resolve().parents[2]


def test_the_throughput_benchmark_prints_views_per_second_of_the_bare_and_real_loops():
    res = subprocess.run([sys.executable, "benchmarks/ssl_throughput.py", "--synthetic", "4", "--resolution", "32",
                          "--steps", "2", "--batch", "8", "--method", "moco", "--option", "queue=32", "--device", "cpu"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-1500:]
    lines = res.stdout.strip().splitlines()
    assert lines[1].startswith("bare   :") and "views/s" in lines[1]
    assert lines[2].startswith("host   :") and "% of bare" in lines[2]
    assert lines[3].startswith("augment:") and "ms a step" in lines[3]


@pytest.mark.skipif(shutil.which("tar") is None or shutil.which("xz") is None, reason="needs tar and xz")
def test_the_gpu_script_pretrains_probes_and_tabulates_at_the_tiny_scale(tmp_path):
    """MoCo and a DisCo student of it (the teacher path), pretrained with the seed asked for
    and probed beside random encoders of two initialisation seeds and the range they span."""
    script = ROOT / "benchmarks" / "ssl_gpu.sh"
    env = {**os.environ, "PYTHON": sys.executable, "METHODS": "moco disco", "RANDOM_SEEDS": "0 1", "SEED": "3"}
    res = subprocess.run(["bash", str(script), "prepare", str(tmp_path / "data.tar.xz"), "tiny"], capture_output=True,
                         text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-1500:]
    res = subprocess.run(["bash", str(script), "run", str(tmp_path / "data.tar.xz"), str(tmp_path / "out"), "tiny"],
                         capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-1500:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert list(results) == ["moco", "disco", "random resnet18 seed 0", "random resnet18 seed 1"]
    runs = tmp_path / "out" / "runs"
    assert {json.loads((runs / m / "config.json").read_text())["seed"] for m in ("moco", "disco")} == {3}
    kinds = {("pose", "kNN"), ("pose", "linear"), ("elevation", "kNN"), ("elevation", "linear")}
    assert all({(r["task"], r["protocol"]) for r in rows} == kinds and len(rows) == 4 for rows in results.values())
    scored = {r["data"] for rows in results.values() for r in rows}
    assert len(scored) == 1 and Path(scored.pop()).name == "test"  # the same drawings, none that picked best.pt
    table = (tmp_path / "out" / "results.md").read_text().splitlines()
    assert len(table) == 7

    def accuracies(task: str, protocol: str) -> list[float]:
        return sorted(next(r["accuracy"] for r in results[f"random resnet18 seed {s}"]
                           if (r["task"], r["protocol"]) == (task, protocol)) for s in (0, 1))

    (a, b), (c, d) = accuracies("pose", "kNN"), accuracies("elevation", "linear")
    assert table[-1].startswith(f"| random resnet18, range of 2 seeds | {100 * a:.1f}-{100 * b:.1f}% |")
    assert table[-1].endswith(f"| {100 * c:.1f}-{100 * d:.1f}% | - | - |")
    assert table[0].count("|") == table[-1].count("|") == table[2].count("|")
    bad = subprocess.run(["bash", str(script), "run", "x", "y", "tiny"], capture_output=True, text=True,
                         env={**env, "RANDOM_SEEDS": "0,1"})
    assert bad.returncode == 2 and bad.stderr.startswith("RANDOM_SEEDS '0,1': seeds separated by spaces")
