"""benchmarks/gpu_wheels.sh: the wheels carried to a GPU box are the versions the lock pins
(fetching needs the package registry, so the suite checks what would be fetched)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "benchmarks/gpu_wheels.sh", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_the_wheels_for_a_gpu_box_are_the_locks_versions(tmp_path):
    lock = {line.split("==")[0].lower(): line for line in (ROOT / "requirements.lock").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    ssl, every = _run("list", "ssl"), _run("list", "all")
    assert ssl.returncode == every.returncode == 0, ssl.stderr + every.stderr
    assert ssl.stdout.split() == [lock["kornia"], lock["kornia_rs"], lock["timm"]]
    assert every.stdout.split() == ssl.stdout.split() + [lock["trimesh"], lock["manifold3d"], lock["embreex"]]
    bad = _run("list", "everything")
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.strip() == "unknown set 'everything': ssl or all"
    empty = _run("install", str(tmp_path))
    assert empty.returncode == 2 and empty.stderr.strip() == f"{tmp_path}: no wheels (benchmarks/gpu_wheels.sh fetch, then carry it)"
