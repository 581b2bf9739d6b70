"""Draw docs/images/overview.png: a sample part in the 11 SPARE3D views and one question of
each task (T2I, I2P, P2I), all made with the `spare3d` command as a user would.

    .venv/bin/python docs/scripts/make_overview.py [--part datasets/samples/slotted_block.step]
                                                  [--out docs/images/overview.png]

Run from the repository root; it needs the cad extra (OpenCascade) and matplotlib.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ["f", "r", "t", "1", "2", "3", "4", "5", "6", "7", "8"]
I2P_POSES = (1, 2, 5, 6)
# The question shown for each task (question i of one model has answer i mod 4).
SHOWN = {"t2i": 2, "i2p": 1, "p2i": 3}


def spare3d(*args: str) -> None:
    """Run the spare3d command of this interpreter's environment."""
    exe = Path(sys.executable).with_name("spare3d")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "spare3d_bench.cli"]
    subprocess.run([*cmd, *args, "--quiet"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def show(ax, img: np.ndarray | None, title: str = "", answer: bool = False) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if img is None:
        ax.axis("off")
        return
    ax.imshow(img, interpolation="lanczos")
    for spine in ax.spines.values():
        spine.set_color("#1a9850" if answer else "#bbbbbb")
        spine.set_linewidth(3 if answer else 0.8)
    if title:
        ax.set_title(title, fontsize=9, color="#1a9850" if answer else "black", pad=3)


def make(part: Path, out: Path, work: Path) -> None:
    rel = os.path.relpath(part, ROOT)
    spare3d("render", rel, "--out", str(work / "drawings"))
    views = {v: read(work / "drawings" / part.stem / f"{v}.png") for v in VIEWS}
    questions = {}
    for task, qid in SHOWN.items():
        spare3d("generate", task, "--models", rel, "--questions", str(qid + 1), "--split", "0,0,1",
                "--out", str(work / task))
        from spare3d_bench.spare3d_layout import load

        questions[task] = next(q for q in load(work / task / "test", task) if q.qid == str(qid))

    fig, axes = plt.subplots(4, 11, figsize=(13.2, 5.6), gridspec_kw={"hspace": 0.45, "wspace": 0.08})
    fig.subplots_adjust(left=0.1, right=0.995, top=0.95, bottom=0.02)
    for ax, v in zip(axes[0], VIEWS):
        show(ax, views[v], v if v in "frt" else f"pose {v}")
    y = axes[0][0].get_position()
    fig.text(0.01, (y.y0 + y.y1) / 2, "a part in the\n11 SPARE3D views", fontsize=9, va="center")

    rows = {"t2i": 1, "i2p": 2, "p2i": 3}
    label = {
        "t2i": "T2I\nwhich isometric\nmatches f, r, t?",
        "i2p": "I2P\nfrom which pose\nis it seen?",
        "p2i": "P2I\nwhich one is\nseen from pose {pose}?",
    }
    for task, row in rows.items():
        q = questions[task]
        ax = axes[row]
        for k, v in enumerate("frt"):
            show(ax[k], read(q.views[v]), v)
        show(ax[3], None)
        if task == "i2p":
            show(ax[4], read(q.candidates[0]), "isometric")
            show(ax[5], None)
            for k, p in enumerate(I2P_POSES):
                a = ax[6 + k]
                a.axis("off")
                right = k == q.answer
                a.text(0.5, 0.5, f"pose {p}" + ("\n(answer)" if right else ""), ha="center", va="center",
                       fontsize=10, color="#1a9850" if right else "black", weight="bold" if right else "normal",
                       transform=a.transAxes)
            show(ax[10], None)
        else:
            show(ax[4], None)
            for k, c in enumerate(q.candidates):
                right = k == q.answer
                show(ax[5 + k], read(c), f"{k}" + (" (answer)" if right else ""), answer=right)
            show(ax[9], None)
            show(ax[10], None)
        y = ax[0].get_position()
        fig.text(0.01, (y.y0 + y.y1) / 2, label[task].format(pose=q.pose), fontsize=9, va="center")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", type=Path, default=ROOT / "datasets" / "samples" / "slotted_block.step")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "overview.png")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spare3d-overview-"))
    try:
        make(args.part.resolve(), args.out, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
