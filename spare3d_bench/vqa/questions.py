"""The benchmark's questions as a solver that is not our network sees them: the words that
say what the drawings are and how poses are numbered, the choices, and the drawings one by
one or side by side in one labelled picture. Shared by the VLM export and the human quiz,
so that people and models are asked the same thing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data import QuestionDataset, open_split, split_task
from ..tasks import I2P_POSES

#: Tasks with one right answer among choices (pairs and pose data are training data).
TASKS = ("t2i", "i2p", "p2i")

#: Where the viewer stands for each pose (x to the right of the front view, y away from
#: its viewer, z up; spare3d.md's table of view directions).
POSE_WORDS = {
    1: "from the front-left, above", 2: "from the front-right, above", 3: "from the back-right, above",
    4: "from the back-left, above", 5: "from the front-left, below", 6: "from the front-right, below",
    7: "from the back-right, below", 8: "from the back-left, below", 9: "from the front, above",
    10: "from the front, below", 11: "from the right, above", 12: "from the right, below", 13: "from the back, above",
    14: "from the back, below", 15: "from the left, above", 16: "from the left, below",
    17: "from the front-left, level", 18: "from the front-right, level", 19: "from the back-right, level",
    20: "from the back-left, level",
}

LETTERS = "ABCDEFGHIJKLMNOPQRST"

_HIDDEN = {
    "spare3d": "Visible edges are thick black lines; edges hidden behind the object are thin red lines.",
    "dashed": "Visible edges are solid black lines; edges hidden behind the object are dashed.",
    "none": "Only visible edges are drawn (black lines); hidden edges are left out.",
}


@dataclass(frozen=True)
class Question:
    """One multiple-choice question. `key` is unique across the question sets of one
    solver session ("<set index>:<question id>"); `qid` is the dataset's own id, which the
    harness uses to pair a solver's answers with a model's. `views` are the rows of f, r
    and t in the set's drawings; `candidates` the rows of the drawings to choose among
    (T2I, P2I) or of the one isometric shown (I2P); `answer` indexes `choices`, which for
    I2P stand for the poses `choice_poses`."""

    key: str
    qid: str
    dataset: str
    task: str
    views: tuple[int, ...]
    candidates: tuple[int, ...]
    choices: tuple[str, ...]
    choice_words: tuple[str, ...]
    choice_poses: tuple[int, ...] | None
    answer: int
    pose: int | None
    poses: int
    primitives: int | None
    style: str

    @property
    def candidate_labels(self) -> tuple[str, ...]:
        """The label under each candidate drawing: its letter, or X for I2P's isometric."""
        return ("X",) if self.task == "i2p" else self.choices

    @property
    def drawings(self) -> tuple[tuple[str, int], ...]:
        """(label, row) of every drawing shown: F, R and T, then the candidates (or X)."""
        return (*zip(("F", "R", "T"), self.views), *zip(self.candidate_labels, self.candidates))


@dataclass
class QuestionSet:
    """The questions of one split of one dataset folder, with its drawings."""

    folder: Path
    drawings: QuestionDataset
    questions: list[Question]

    def drawing(self, row: int) -> np.ndarray:
        """The (H, W, 3) uint8 RGB drawing at `row`."""
        return np.asarray(self.drawings.images[row])


def load(folder: str | os.PathLike, split: str = "test", index: int = 0) -> QuestionSet:
    """The questions of DATASET/<split> (either layout); ValueError naming the folder when
    it holds no T2I, I2P or P2I questions."""
    folder = Path(folder)
    where = folder / split
    if not where.is_dir():
        raise ValueError(f"{folder}: no '{split}' split (a dataset folder made by spare3d generate)")
    task = split_task(where)
    if task not in TASKS:
        raise ValueError(f"{where}: {task} data; solvers answer t2i, i2p or p2i questions")
    ds = open_split(where, task)
    if len(ds) == 0:
        raise ValueError(f"{where}: no questions")
    try:
        card = json.loads((folder / "dataset.json").read_text())
    except (OSError, ValueError):
        card = {}
    render = card.get("render", {}) if isinstance(card, dict) else {}
    poses = int(render.get("poses", 8))
    style = str(render.get("style", "spare3d"))
    primitives = (card.get("recipe") or {}).get("primitives") if isinstance(card, dict) else None
    questions = []
    for i in range(len(ds)):
        views, cands = tuple(int(r) for r in ds.view_rows[i]), tuple(int(r) for r in ds.candidate_rows[i])
        pose = int(ds.poses[i]) if task == "p2i" else None
        if task == "i2p":
            options = I2P_POSES if poses == 8 else tuple(range(1, poses + 1))
            choices = LETTERS[: len(options)]
            words = tuple(f"pose {p}: {POSE_WORDS[p]}" for p in options)
        else:
            options = None
            choices = LETTERS[: len(cands)]
            words = tuple(f"isometric drawing {c}" for c in choices)
        questions.append(Question(f"{index}:{ds.ids[i]}", ds.ids[i], folder.name, task, views, cands, tuple(choices),
                                  words, options, int(ds.answers[i]), pose, poses,
                                  int(primitives) if isinstance(primitives, int) else None, style))
    return QuestionSet(folder, ds, questions)


def prompt(q: Question) -> str:
    """What the solver is told: what the drawings are, the question, the choices and the
    answer format."""
    head = ("The first three drawings are orthographic views of one object: F from the front, R from the right, "
            "T from the top. " + _HIDDEN.get(q.style, _HIDDEN["spare3d"]))
    if q.task == "t2i":
        ask = (f"The {len(q.choices)} drawings labelled {', '.join(q.choices)} are isometric drawings seen "
               f"{POSE_WORDS[2]}. Exactly one of them shows the same object as F, R and T. Which one?")
    elif q.task == "p2i":
        ask = (f"The {len(q.choices)} drawings labelled {', '.join(q.choices)} are isometric drawings of this object "
               f"seen from different directions. Which one shows it {POSE_WORDS[q.pose or 2]} (pose {q.pose})?")
    else:
        ask = ("The drawing labelled X is an isometric drawing of this object. From which direction is it seen? "
               + "; ".join(f"{c}: {w}" for c, w in zip(q.choices, q.choice_words)) + ".")
    return f"{head}\n{ask}\nAnswer with one letter: {', '.join(q.choices[:-1])} or {q.choices[-1]}."


def composite(qs: QuestionSet, q: Question, cell: int = 200) -> np.ndarray:
    """One picture of a question as a person sees it: F, R and T on the first row and the
    candidates (or I2P's isometric X) on the second, each drawing scaled to `cell` pixels
    with its label above it; (H, W, 3) uint8 RGB."""
    band, gap = 28, 12
    rows = [q.drawings[:3], q.drawings[3:]]
    width = max(len(r) for r in rows) * (cell + gap) + gap
    out = np.full((2 * (cell + band + gap) + gap, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        y = gap + r * (cell + band + gap)
        for c, (label, index) in enumerate(row):
            x = gap + c * (cell + gap)
            img = qs.drawing(index)
            interp = cv2.INTER_AREA if img.shape[0] > cell else cv2.INTER_NEAREST
            out[y + band : y + band + cell, x : x + cell] = cv2.resize(img, (cell, cell), interpolation=interp)
            cv2.rectangle(out, (x - 1, y + band - 1), (x + cell, y + band + cell), (160, 160, 160), 1)
            cv2.putText(out, label, (x + cell // 2 - 8, y + band - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2,
                        cv2.LINE_AA)
    return out
