"""`spare3d generate --mode shaded`: the same questions with shaded renders for views,
framed as the line drawings are, recorded in the card, repeatable across worker counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("manifold3d")
pytest.importorskip("pyrender")

from spare3d_bench.data import open_split  # noqa: E402


def _generate(out: Path, mode: str, workers: int = 1) -> Path:
    """In a fresh process: a worker forked from one that has used OpenGL (this test
    process, after the shaded-render tests) can hang in Mesa; `spare3d generate` itself
    never renders in the process that forks."""
    res = subprocess.run([sys.executable, "-m", "spare3d_bench.cli", "generate", "i2p", "--csg", "6", "--primitives", "3",
                          "--size", "128", "--engine", "mesh", "--mode", mode, "--layout", "packed", "--split",
                          "0.5,0.25,0.25", "--seed", "1", "--workers", str(workers), "--out", str(out), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    if res.returncode != 0 and "EGL" in res.stderr:
        pytest.skip(res.stderr.strip().splitlines()[-1])
    assert res.returncode == 0, res.stderr[-1500:]
    return out


def _footprint(img: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(img.min(axis=2) < 250)
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_shaded_questions_fill_the_line_drawings_footprint(tmp_path):
    lines = open_split(_generate(tmp_path / "lines", "lines") / "train")
    shaded = open_split(_generate(tmp_path / "shaded", "shaded") / "train")
    card = json.loads((tmp_path / "shaded" / "dataset.json").read_text())
    assert card["render"]["mode"] == "shaded" and shaded.ids == lines.ids and shaded.answers == lines.answers
    for k in range(len(shaded)):
        for a, b in zip(lines.images[lines.view_rows[k]], shaded.images[shaded.view_rows[k]]):
            assert np.abs(np.subtract(_footprint(a), _footprint(b))).max() <= 2  # framed alike
            ink_a, ink_b = (a.min(axis=2) < 250).sum(), (b.min(axis=2) < 250).sum()
            assert ink_b > 1.5 * ink_a  # faces filled, not strokes
            assert (b[..., 0] == b[..., 2]).all()  # grey shading, no red hidden lines
    again = _generate(tmp_path / "again", "shaded", workers=2)
    assert (again / "train" / "images.u8").read_bytes() == (tmp_path / "shaded" / "train" / "images.u8").read_bytes()
