"""The released SPARE3D folder layout: writing ours, reading ours and the original.

T2I and P2I: `answer.json` ({id: 0..3}), `<id>/<id>_f.png`, `_r.png`, `_t.png` and
`<id>/0.png` .. `3.png`; P2I adds an empty `<id>/pose_<k>.txt`. I2P: `<id>/<id>_f|r|t.png`,
`<id>/answer.png` and `answer.json` with labels 0..3 for poses 1, 2, 5, 6. Question ids are
0..n-1 in each split folder. The original loaders disagree on int vs string labels; the
reader accepts both.

The self-supervised kinds follow the same pattern (they have no released layout): pairs
write `<id>/<k>_f|r|t.png` and `<id>/<k>_2.png` for objects k = 0, 1 with answer.json
{id: [1, 0, 0, 1]}; pose data write `<id>/<id>_f|r|t.png` and `<id>/pose_<k>.png`
with answer.json {id: [1, ..., 8]} (the poses present).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from renderers.writers import atomic_write, png_bytes

if TYPE_CHECKING:  # reading must work without OpenCascade (GPU training boxes)
    from .tasks import Question


def write_question(root: Path, qid: str, q: "Question") -> None:
    """Write one question's files under `root/<qid>/` (atomically, file by file)."""
    d = root / qid
    d.mkdir(parents=True, exist_ok=True)
    if q.task == "pairs":
        for name, img in q.views.items():
            atomic_write(d / f"{name}.png", png_bytes(img))
        for k, c in enumerate(q.candidates):
            atomic_write(d / f"{k}_2.png", png_bytes(c))
        return
    for v in "frt":
        atomic_write(d / f"{qid}_{v}.png", png_bytes(q.views[v]))
    if q.task == "i2p":
        atomic_write(d / "answer.png", png_bytes(q.candidates[0]))
    elif q.task == "poses":
        for p, c in zip(q.candidate_poses, q.candidates):
            atomic_write(d / f"pose_{p}.png", png_bytes(c))
    else:
        for k, c in enumerate(q.candidates):
            atomic_write(d / f"{k}.png", png_bytes(c))
    if q.task == "p2i":
        atomic_write(d / f"pose_{q.pose}.txt", b"")


def write_answers(root: Path, answers: dict[str, int | list[int]]) -> None:
    """`answer.json`: {id: label} with integer labels (lists for pairs and poses), ids in
    numeric order."""
    ordered = {k: answers[k] for k in sorted(answers, key=int)}
    atomic_write(root / "answer.json", (json.dumps(ordered, indent=1) + "\n").encode())


@dataclass(frozen=True)
class StoredQuestion:
    """A question on disk: image paths, the answer, and the queried pose (P2I)."""

    qid: str
    views: dict[str, Path]
    candidates: list[Path]
    answer: int | list[int]
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
    if not isinstance(answers, dict):
        kind = "an array" if isinstance(answers, list) else "a string" if isinstance(answers, str) else "a number or null"
        raise ValueError(f"{answer_file}: expected an object of question id -> label, got {kind}")
    out = []
    for qid in sorted(answers, key=lambda k: (len(str(k)), str(k))):
        d = root / str(qid)
        if task in ("pairs", "poses"):
            label = _labels(answers[qid], answer_file, qid)
            if task == "pairs":
                views = {f"{k}_{v}": d / f"{k}_{v}.png" for k in (0, 1) for v in "frt"}
                candidates = [d / "0_2.png", d / "1_2.png"]
            else:
                views = {v: d / f"{qid}_{v}.png" for v in "frt"}
                candidates = [d / f"pose_{p}.png" for p in label]
            out.append(_checked(StoredQuestion(str(qid), views, candidates, label)))
            continue
        label = _label(answers[qid], answer_file, qid)
        top = 19 if task == "i2p" else 3  # extended I2P labels poses 1..20 as 0..19
        if not 0 <= label <= top:
            raise ValueError(f"{answer_file}: label {answers[qid]!r} of question {qid} is not 0..{top}")
        views = {v: d / f"{qid}_{v}.png" for v in "frt"}
        candidates = [d / "answer.png"] if task == "i2p" else [d / f"{k}.png" for k in range(4)]
        pose = None
        if task == "p2i":
            found = [int(m.group(1)) for p in d.glob("pose_*.txt") if (m := re.fullmatch(r"pose_(\d+)\.txt", p.name))]
            if len(found) != 1:
                raise ValueError(f"{d}: expected one pose_<k>.txt, found {len(found)}")
            pose = found[0]
        out.append(_checked(StoredQuestion(str(qid), views, candidates, label, pose)))
    return out


def _label(value, answer_file: Path, qid) -> int:
    """A label as an int ("2" and 2 alike: the original release mixes them)."""
    try:
        if isinstance(value, (bool, float, list, dict)):
            raise TypeError
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{answer_file}: label {value!r} of question {qid} is not an integer") from None


def _labels(value, answer_file: Path, qid) -> list[int]:
    if not isinstance(value, list):
        raise ValueError(f"{answer_file}: labels {value!r} of question {qid} are not a list")
    return [_label(v, answer_file, qid) for v in value]


def _checked(q: StoredQuestion) -> StoredQuestion:
    for p in [*q.views.values(), *q.candidates]:
        if not p.is_file():
            raise ValueError(f"{p}: missing")
    return q


def read_png(path: Path) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image (grey and RGBA files are converted).

    An empty, truncated or non-image file is a ValueError naming it (PIL's own errors
    do not always say which file).
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: cannot read the image ({e})") from None
