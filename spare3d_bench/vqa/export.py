"""`spare3d export vqa`: questions for vision-language models, as an image folder that
Hugging Face `datasets` loads (`load_dataset("imagefolder", data_dir=DIR)`).

DIR/metadata.jsonl has one row per question: `file_name` (the composite picture, the
`image` column), `drawings_file_names` (the separate drawings F, R, T and the candidates,
the `drawings` column), the prompt, the choices, the answer (a letter and its index), and
what says how hard it is (task, primitive count, pose). The images live under DIR/images/
and DIR/drawings/<n>/. Every file is written atomically; the same datasets give the same
bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from renderers.writers import atomic_write, png_bytes

from .questions import Question, QuestionSet, composite, load, prompt

IMAGES = ("composite", "separate", "both")
METADATA = "metadata.jsonl"


def row(qs: QuestionSet, q: Question, n: int, images: str) -> tuple[dict, dict[str, bytes]]:
    """The metadata row of question `q` (number `n` of the export) and its image files."""
    files: dict[str, bytes] = {}
    meta = {"id": q.key, "qid": q.qid, "dataset": q.dataset, "task": q.task, "prompt": prompt(q),
            "choices": list(q.choices), "choice_words": list(q.choice_words),
            "choice_poses": list(q.choice_poses) if q.choice_poses else None, "answer": q.choices[q.answer],
            "answer_index": q.answer, "pose": q.pose, "poses": q.poses, "primitives": q.primitives, "style": q.style}
    if images in ("composite", "both"):
        name = f"images/{n:06d}.png"
        files[name] = png_bytes(composite(qs, q))
        meta = {"file_name": name, **meta}
    if images in ("separate", "both"):
        names = [f"drawings/{n:06d}/{label}.png" for label, _ in q.drawings]
        for name, (_, index) in zip(names, q.drawings):
            files[name] = png_bytes(qs.drawing(index))
        meta["drawings_file_names"] = names
        meta["drawing_labels"] = [label for label, _ in q.drawings]
    return meta, files


def export_vqa(datasets: list[str | os.PathLike], out: str | os.PathLike, split: str = "test",
               images: str = "both", progress: bool = True) -> Path:
    """Write the questions of each dataset's `split` to OUT (see the module docstring);
    returns OUT/metadata.jsonl."""
    from tqdm import tqdm

    if images not in IMAGES:
        raise ValueError(f"images '{images}': one of {', '.join(IMAGES)}")
    sets = [load(d, split, i) for i, d in enumerate(datasets)]
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines, n = [], 0
    total = sum(len(qs.questions) for qs in sets)
    with tqdm(total=total, desc="export", unit="question", disable=not progress or None) as bar:
        for qs in sets:
            for q in qs.questions:
                meta, files = row(qs, q, n, images)
                for name, data in files.items():
                    (out / name).parent.mkdir(parents=True, exist_ok=True)
                    atomic_write(out / name, data)
                lines.append(json.dumps(meta, sort_keys=True))
                n += 1
                bar.update()
    path = out / METADATA
    atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path


def read_jsonl(path: str | os.PathLike, what: str) -> list[tuple[int, dict]]:
    """(line number, object) of each non-empty line of a JSONL file of `what`; ValueError
    naming the file (and line) when it cannot be read or a line is not a JSON object."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read {what} ({e.__class__.__name__})") from None
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError as e:
            raise ValueError(f"{path}:{i}: not JSON ({e.msg})") from None
        if not isinstance(r, dict):
            raise ValueError(f"{path}:{i}: not a JSON object")
        out.append((i, r))
    return out


def read_export(folder: str | os.PathLike) -> list[dict]:
    """The rows of an export's metadata.jsonl; ValueError naming the file and line when it
    is missing or not an export."""
    path = Path(folder) / METADATA
    if not path.is_file():
        raise ValueError(f"{folder}: no {METADATA} (make one with spare3d export vqa)")
    rows = read_jsonl(path, "the export")
    bad = next((i for i, r in rows if not {"id", "task", "choices", "answer_index"} <= set(r)), None)
    if bad is not None:
        raise ValueError(f"{path}:{bad}: not a question row of spare3d export vqa")
    return [r for _, r in rows]
