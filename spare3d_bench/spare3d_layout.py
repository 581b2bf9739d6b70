"""The released SPARE3D folder layout: writing ours, reading ours and the original.

T2I and P2I: `answer.json` ({id: 0..3}), `<id>/<id>_f.png`, `_r.png`, `_t.png` and
`<id>/0.png` .. `3.png`; P2I adds an empty `<id>/pose_<k>.txt`. I2P: `<id>/<id>_f|r|t.png`,
`<id>/answer.png` and `answer.json` with labels 0..3 for poses 1, 2, 5, 6. Question ids are
0..n-1 in each split folder. The original loaders disagree on int vs string labels; the
reader accepts both.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from renderers.writers import atomic_write, png_bytes

from .tasks import Question


def write_question(root: Path, qid: str, q: Question) -> None:
    """Write one question's files under `root/<qid>/` (atomically, file by file)."""
    d = root / qid
    d.mkdir(parents=True, exist_ok=True)
    for v in "frt":
        atomic_write(d / f"{qid}_{v}.png", png_bytes(q.views[v]))
    if q.task == "i2p":
        atomic_write(d / "answer.png", png_bytes(q.candidates[0]))
    else:
        for k, c in enumerate(q.candidates):
            atomic_write(d / f"{k}.png", png_bytes(c))
    if q.task == "p2i":
        atomic_write(d / f"pose_{q.pose}.txt", b"")


def write_answers(root: Path, answers: dict[str, int]) -> None:
    """`answer.json`: {id: label} with integer labels, ids in numeric order."""
    ordered = {k: int(answers[k]) for k in sorted(answers, key=int)}
    atomic_write(root / "answer.json", (json.dumps(ordered, indent=1) + "\n").encode())


@dataclass(frozen=True)
class StoredQuestion:
    """A question on disk: image paths, the answer, and the queried pose (P2I)."""

    qid: str
    views: dict[str, Path]
    candidates: list[Path]
    answer: int
    pose: int | None = None


def load(root: str | Path, task: str) -> list[StoredQuestion]:
    """Read a split folder in the SPARE3D layout (ours or the original release).

    Labels may be ints or strings ("2"); raises ValueError naming the file for missing
    files or labels outside 0..3.
    """
    root = Path(root)
    answer_file = root / "answer.json"
    try:
        answers = json.loads(answer_file.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{answer_file}: cannot read answers ({e})") from None
    out = []
    for qid in sorted(answers, key=lambda k: (len(str(k)), str(k))):
        label = int(str(answers[qid]).strip())
        if not 0 <= label <= 3:
            raise ValueError(f"{answer_file}: label {answers[qid]!r} of question {qid} is not 0..3")
        d = root / str(qid)
        views = {v: d / f"{qid}_{v}.png" for v in "frt"}
        if task == "i2p":
            candidates = [d / "answer.png"]
        else:
            candidates = [d / f"{k}.png" for k in range(4)]
        pose = None
        if task == "p2i":
            found = [int(m.group(1)) for p in d.glob("pose_*.txt") if (m := re.fullmatch(r"pose_(\d+)\.txt", p.name))]
            if len(found) != 1:
                raise ValueError(f"{d}: expected one pose_<k>.txt, found {len(found)}")
            pose = found[0]
        for p in [*views.values(), *candidates]:
            if not p.is_file():
                raise ValueError(f"{p}: missing")
        out.append(StoredQuestion(str(qid), views, candidates, label, pose))
    return out


def read_png(path: Path) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image (grey and RGBA files are converted)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
