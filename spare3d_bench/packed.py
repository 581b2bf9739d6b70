"""The `packed` dataset layout: every drawing of a split in one memory-mappable uint8 file.

`<split>/images.u8` holds the drawings back to back as (H, W, 3) uint8; `<split>/manifest.json`
gives the shape and, per question, its id, model index, source, seed, task, answer (or
labels), pose, the quality filters it passed, and the row of each drawing (views f, r, t,
then candidates). No pickles:
the reader maps the file with numpy and parses JSON only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from renderers.writers import atomic_write

if TYPE_CHECKING:  # the reader side must import without OpenCascade (GPU training boxes)
    from .tasks import Question

IMAGES = "images.u8"
MANIFEST = "manifest.json"


class PackedWriter:
    """Appends questions of one split; `close` publishes the files (atomic renames)."""

    def __init__(self, root: str | os.PathLike, task: str, seed: int) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.task, self.seed = task, seed
        self._tmp = self.root / f".{IMAGES}.{os.getpid()}.tmp"
        self._fh = open(self._tmp, "wb")
        self.rows = 0
        self.shape: tuple[int, int, int] | None = None
        self.questions: list[dict] = []

    def _put(self, img: np.ndarray) -> int:
        img = np.ascontiguousarray(img, dtype=np.uint8)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"packed drawings are (H, W, 3) uint8, got {img.shape}")
        if self.shape is None:
            self.shape = img.shape  # type: ignore[assignment]
        elif img.shape != self.shape:
            raise ValueError(f"drawing of shape {img.shape} in a split of {self.shape}")
        self._fh.write(img.tobytes())
        self.rows += 1
        return self.rows - 1

    def add(self, qid: str, q: "Question", label, model_index: int, source: str, filters: list[str]) -> None:
        """Append one question; `filters` are the quality filters it passed."""
        views = {name: self._put(img) for name, img in q.views.items()}
        candidates = [self._put(c) for c in q.candidates]
        self.questions.append(
            {
                "id": qid,
                "model_index": model_index,
                "source": source,
                "seed": self.seed,
                "task": q.task,
                "answer": label,
                "pose": q.pose,
                "candidate_poses": q.candidate_poses,
                "views": views,
                "candidates": candidates,
                "filters_passed": filters,
            }
        )

    def abort(self) -> None:
        """Drop the unfinished split (a failed write): no partial file stays behind, even
        when closing fails too (a full disk refuses the flush of what is buffered)."""
        try:
            self._fh.close()
        except OSError:
            pass
        finally:
            self._tmp.unlink(missing_ok=True)

    def close(self) -> None:
        self._fh.close()
        h, w, c = self.shape or (0, 0, 3)
        manifest = {"task": self.task, "shape": [self.rows, h, w, c], "questions": self.questions}
        os.replace(self._tmp, self.root / IMAGES)
        atomic_write(self.root / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())


@dataclass
class PackedSplit:
    """A packed split opened for reading: `images` (N, H, W, 3) uint8 memmap, `questions`."""

    images: np.ndarray
    questions: list[dict]
    task: str

    @staticmethod
    def open(root: str | os.PathLike) -> "PackedSplit":
        root = Path(root)
        try:
            manifest = json.loads((root / MANIFEST).read_text())
            n, h, w, c = manifest["shape"]
            if not all(type(x) is int and x >= 0 for x in (n, h, w, c)):
                raise ValueError(f"shape {manifest['shape']} is not four counts")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{root / MANIFEST}: not a packed split ({e})") from None
        size = (root / IMAGES).stat().st_size if (root / IMAGES).exists() else -1
        if size != n * h * w * c:
            raise ValueError(f"{root / IMAGES}: {size} bytes, the manifest says {n * h * w * c}")
        images = np.memmap(root / IMAGES, dtype=np.uint8, mode="r", shape=(n, h, w, c)) if n else np.zeros((0, h, w, c), np.uint8)
        split = PackedSplit(images, manifest.get("questions"), manifest.get("task"))
        split._check(root / MANIFEST)
        return split

    def _check(self, where: Path) -> None:
        """Every question names its drawings by rows that exist: a bad row would otherwise
        fail (or read another question's drawing) in the middle of training."""
        if not isinstance(self.questions, list) or not isinstance(self.task, str):
            raise ValueError(f"{where}: not a packed split (no task or question list)")
        n, shape = len(self.images), None
        for i, q in enumerate(self.questions):
            try:
                views, candidates = self.rows(i)
                q["answer"], q["id"]
            except (TypeError, KeyError, AttributeError) as e:
                what = f"no {e}" if isinstance(e, KeyError) else "a field of the wrong type"
                raise ValueError(f"{where}: question {i} is malformed ({what})") from None
            if shape is None:
                shape = (len(views), len(candidates))
            elif (len(views), len(candidates)) != shape:
                raise ValueError(f"{where}: question {q['id']} has {len(views)} views and {len(candidates)} "
                                 f"candidates, question {self.questions[0]['id']} {shape[0]} and {shape[1]}")
            bad = [r for r in views + candidates if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < n]
            if bad:
                raise ValueError(f"{where}: question {q['id']} names drawing row {bad[0]!r}; the split holds {n}")

    def rows(self, i: int) -> tuple[list[int], list[int]]:
        """Image rows of question i: views (f, r, t order for tasks) and candidates."""
        q = self.questions[i]
        return list(q["views"].values()), list(q["candidates"])
