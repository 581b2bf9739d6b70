"""Generate a SPARE3D task dataset from CSG models: questions, splits, a dataset card.

Question i uses model i mod M (M models; by default one question per model) and its
answer is i mod 4, so labels are balanced. The first 80% of model indices (by default)
form the train split, the next 10% val, the rest test: no model is in two splits. Questions refused by a quality filter are counted per
filter and left out; the kept ones are numbered 0..n-1 in each split folder, in model
order. Workers only change the speed: the files are byte-identical for any count.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from renderers.errors import RenderError
from renderers.writers import atomic_write

from . import __version__
from .csg import CSGRecipe, GenerationError, csg_model
from .packed import PackedWriter
from .spare3d_layout import write_answers, write_question
from .tasks import BUILDERS, FILTERS, Drawer, DuplicateFinder, Question, Rejected, TaskOptions, fingerprint

SPLITS = ("train", "val", "test")
LAYOUTS = ("spare3d", "packed")
CARD = "dataset.json"


@dataclass(frozen=True)
class GenerateConfig:
    """Everything that decides a generated dataset."""

    task: str
    models: int
    seed: int = 0
    recipe: CSGRecipe = field(default_factory=CSGRecipe)
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    options: TaskOptions = field(default_factory=TaskOptions)
    layout: str = "spare3d"
    sources: tuple[str, ...] = ()
    questions: int | None = None
    save_models: bool = False

    def __post_init__(self) -> None:
        if self.task not in BUILDERS:
            raise ValueError(f"unknown task {self.task!r} (use {', '.join(BUILDERS)})")
        if self.models < 1:
            raise ValueError(f"models must be at least 1, got {self.models}")
        if self.sources and len(self.sources) != self.models:
            raise ValueError("models must equal the number of source files")
        if self.questions is not None and self.questions < 1:
            raise ValueError(f"questions must be at least 1, got {self.questions}")
        if self.save_models and self.sources:
            raise ValueError("--save-models is for generated CSG models")
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r} (use {', '.join(LAYOUTS)})")
        if len(self.split) != 3 or min(self.split) < 0 or abs(sum(self.split) - 1) > 1e-6:
            raise ValueError(f"split must be three non-negative fractions adding to 1, got {self.split}")

    @property
    def n_questions(self) -> int:
        """Questions to make: one per model unless `questions` says otherwise."""
        return self.models if self.questions is None else self.questions

    def split_of(self, index: int) -> str:
        """The split of model `index`: contiguous ranges of model indices."""
        train_end = round(self.models * self.split[0])
        val_end = train_end + round(self.models * self.split[1])
        return "train" if index < train_end else "val" if index < val_end else "test"


def load_model(config: GenerateConfig, index: int):
    """Model `index`: a CSG model, or the index-th user file (CAD as an OCCT shape, a mesh
    as a renderers Mesh: meshes support the tasks that need no booleans)."""
    if not config.sources:
        return csg_model(config.seed, index, config.recipe)
    from renderers.cad import load_mesh
    from renderers.mesh_io import MESH_EXTENSIONS

    path = config.sources[index]
    if Path(path).suffix.lower() in MESH_EXTENSIONS:
        if config.task in ("t2i", "pairs"):
            raise RenderError(path, f"{config.task} needs CAD models: similar objects are made with booleans")
        return load_mesh(path)
    from renderers import occ

    return occ.read_cad(path)


def _build(args: tuple[GenerateConfig, int, str]) -> tuple[int, Question | None, str]:
    config, index, out = args
    try:
        model_index = index % config.models
        model = load_model(config, model_index)
        if config.save_models and index < config.models:
            from renderers import occ

            (Path(out) / "models").mkdir(exist_ok=True)
            occ.write_step(model, Path(out) / "models" / f"{model_index}.step")
        q = BUILDERS[config.task](model, index, config.seed, Drawer(config.options))
        q.shapes = []  # OCCT shapes do not cross processes
        return index, q, ""
    except Rejected as e:
        return index, None, e.reason
    except (GenerationError, RenderError) as e:
        return index, None, f"failed: {e}"


def generate(config: GenerateConfig, out: str | os.PathLike, workers: int = 1, progress: bool = True) -> dict:
    """Build every question, write the SPARE3D layout under `out/<split>/`, and the card."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    answers: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    index_map: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    rejected = {f: 0 for f in FILTERS if f in config.options.filters}
    failures: dict[str, str] = {}
    jobs = [(config, i, str(out)) for i in range(config.n_questions)]
    packers: dict[str, PackedWriter] = {}
    tqdm.monitor_interval = 0
    with tqdm(total=len(jobs), unit="question", disable=not progress or None) as bar:
        if workers > 1:
            with mp.get_context("fork").Pool(workers) as pool:
                results = pool.imap(_build, jobs)  # ordered: files come out the same
                _collect(results, config, out, answers, index_map, rejected, failures, bar, packers)
        else:
            _collect(map(_build, jobs), config, out, answers, index_map, rejected, failures, bar, packers)
    for s in SPLITS:
        if s in packers:
            packers[s].close()
        elif answers[s]:
            write_answers(out / s, answers[s])
    card = {
        "task": config.task,
        "format": config.layout,
        "package_version": __version__,
        "seed": config.seed,
        "models": config.models,
        "questions_asked": config.n_questions,
        "recipe": asdict(config.recipe),
        "render": asdict(config.options),
        "split_fractions": list(config.split),
        "questions": {s: len(answers[s]) for s in SPLITS},
        "filtered": rejected,
        "failed": failures,
        "model_index": index_map,
        "sources": list(config.sources),
        "checksums": _checksums(out),
    }
    atomic_write(out / CARD, (json.dumps(card, indent=1, sort_keys=True) + "\n").encode())
    card["seconds"] = time.perf_counter() - t0
    return card


def _collect(results, config, out, answers, index_map, rejected, failures, bar, packers) -> None:
    duplicates = DuplicateFinder()
    for index, q, reason in results:
        bar.update(1)
        if q is not None and "near_duplicate" in config.options.filters and duplicates.seen(fingerprint(q)):
            q, reason = None, "near_duplicate"
        if q is None:
            if reason in rejected:
                rejected[reason] += 1
            else:
                failures[str(index)] = reason
            continue
        model_index = index % config.models
        split = config.split_of(model_index)
        qid = str(len(answers[split]))
        if config.layout == "packed":
            if split not in packers:
                packers[split] = PackedWriter(out / split, config.task, config.seed)
            source = config.sources[model_index] if config.sources else f"csg:{config.seed}:{model_index}"
            packers[split].add(qid, q, label(q), model_index, source, list(config.options.filters))
        else:
            write_question(out / split, qid, q)
        answers[split][qid] = label(q)
        index_map[split][qid] = model_index


def label(q: Question) -> int | list[int]:
    """What answer.json stores: the answer, the pairing labels, or the poses present."""
    if q.task == "pairs":
        return [1, 0, 0, 1]
    if q.task == "poses":
        return list(q.candidate_poses)
    return int(q.answer)


def _checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under the dataset, by relative path (the card excluded)."""
    sums = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != CARD:
            sums[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return sums


def verify(root: str | os.PathLike) -> list[str]:
    """Problems found in a generated dataset against its card's checksums (empty: intact):
    missing, changed and unexpected files, one line each."""
    root = Path(root)
    try:
        card = json.loads((root / CARD).read_text())
        expected = card["checksums"]
    except (OSError, ValueError, KeyError) as e:
        return [f"{root / CARD}: cannot read the dataset card ({e})"]
    actual = _checksums(root)
    problems = [f"{name}: missing" for name in sorted(expected.keys() - actual.keys())]
    problems += [f"{name}: checksum differs" for name in sorted(expected.keys() & actual.keys()) if expected[name] != actual[name]]
    problems += [f"{name}: not in the card" for name in sorted(actual.keys() - expected.keys())]
    return problems
