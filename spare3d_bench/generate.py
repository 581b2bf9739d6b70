"""Generate a SPARE3D task dataset from CSG models: questions, splits, a dataset card.

Question i uses model i mod M (M models; by default one question per model) and its
answer is i mod 4, so labels are balanced. The first 80% of model indices (by default)
form the train split, the next 10% val, the rest test: no model is in two splits. Questions refused by a quality filter are counted per
filter and left out; the kept ones are numbered 0..n-1 in each split folder, in model
order. Workers and executors only change the speed: the files are byte-identical for
any count and any executor.

Each question is a unit of a journalled job (spare3d_bench.pipeline): built in an isolated
worker, stored in `OUT/.spare3d/journal.sqlite` as it finishes; once every question is
done or failed, `assemble` writes the layout and the card in index order. A killed job
resumes where it stopped; the stored drawings are dropped after a successful assembly.
"""

from __future__ import annotations

import faulthandler
import hashlib
import json
import math
import os
import shutil
import signal
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from renderers import DRAWING_REVISION
from renderers.errors import RenderError
from renderers.executors import make_executor
from renderers.writers import atomic_write

from . import __version__
from .csg_spec import CSGRecipe, GenerationError
from .packed import PackedWriter
from .pipeline import STATE_DIR, Interrupted, JobMismatch, Journal, RunStats, UnitFailed, run_units
from .spare3d_layout import write_answers, write_question
from .tasks import (
    ANSWERED,
    BUILDERS,
    FILTERS,
    TASK_FILTERS,
    Drawer,
    DuplicateFinder,
    Question,
    Rejected,
    TaskOptions,
    fingerprint,
    is_mesh_model,
)

SPLITS = ("train", "val", "test")
#: Tasks whose similar objects come from booleans: CAD models only, no meshes.
BOOLEAN_TASKS = ("t2i", "pairs")
LAYOUTS = ("spare3d", "packed")
#: How CSG models are built and drawn: OpenCascade solids and its hidden-line removal, or
#: manifold3d meshes and the mesh line renderer (csg_mesh; no OpenCascade needed).
ENGINES = ("occ", "mesh")
CARD = "dataset.json"
REPORT = "report.json"


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
    engine: str = "occ"

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
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r} (use {', '.join(ENGINES)})")
        if self.engine == "mesh" and self.options.hlr not in ("auto", "mesh"):
            raise ValueError(f"--hlr {self.options.hlr} is OpenCascade's; the mesh engine draws its models with the "
                             f"mesh line renderer (leave --hlr at auto)")
        if self.engine == "mesh" and self.sources:
            raise ValueError("--engine mesh builds generated CSG models; your files are drawn as they are "
                             "(meshes with the mesh line renderer, CAD files with OpenCascade)")
        if self.task in BOOLEAN_TASKS:
            from renderers.mesh_io import MESH_EXTENSIONS

            meshes = [f for f in self.sources if Path(f).suffix.lower() in MESH_EXTENSIONS]
            if meshes:
                raise ValueError(f"{meshes[0]}: {self.task} needs CAD models (STEP, IGES, BREP): its similar objects "
                                 f"are made with booleans, which meshes do not have"
                                 + (f" ({len(meshes)} of the {len(self.sources)} models are meshes)" if len(meshes) > 1 else ""))
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r} (use {', '.join(LAYOUTS)})")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be a non-negative integer below 2**63, got {self.seed}")
        if len(self.split) != 3 or not all(math.isfinite(x) and x >= 0 for x in self.split) or abs(sum(self.split) - 1) > 1e-6:
            raise ValueError(f"split must be three non-negative fractions adding to 1, got {self.split}")

    @property
    def n_questions(self) -> int:
        """Questions to make: one per model unless `questions` says otherwise."""
        return self.models if self.questions is None else self.questions

    def split_sizes(self) -> tuple[int, int, int]:
        """Models per split: the floor of each share, the models left over going to the
        largest remainders (ties: train, val, test). A split of fraction 0 gets none."""
        shares = [self.models * f / sum(self.split) for f in self.split]
        sizes = [math.floor(s + 1e-9) for s in shares]
        by_remainder = sorted(range(3), key=lambda i: (-(shares[i] - sizes[i]), i))
        for i in by_remainder[: self.models - sum(sizes)]:
            sizes[i] += 1
        return sizes[0], sizes[1], sizes[2]

    def empty_splits(self) -> list[str]:
        """Splits given a non-zero fraction that get no model (3 models at 0.8/0.1/0.1
        leave val and test empty)."""
        return [s for s, n, f in zip(SPLITS, self.split_sizes(), self.split) if f > 0 and n == 0]

    def models_needed(self) -> int:
        """The fewest models with which every split of non-zero fraction gets one."""
        n = self.models
        while replace(self, models=n).empty_splits():
            n += 1
        return n

    def source_of(self, model_index: int) -> str:
        """Where model `model_index` comes from: its file as recorded, or csg:<seed>:<index>."""
        return recorded_source(self.sources[model_index]) if self.sources else f"csg:{self.seed}:{model_index}"

    def split_of(self, index: int) -> str:
        """The split of model `index`: contiguous ranges of model indices."""
        train, val, _ = self.split_sizes()
        return "train" if index < train else "val" if index < train + val else "test"


def recorded_source(path: str) -> str:
    """A user model's path as the dataset records it: relative to the current folder when
    inside it, so the same command run in another checkout writes the same bytes."""
    try:
        return Path(path).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path


def load_model(config: GenerateConfig, index: int):
    """Model `index`: a CSG model of the config's engine (an OCCT shape, or a list of
    manifold3d solids tessellated for the drawing size), or the index-th user file (CAD as
    an OCCT shape, a mesh as a renderers Mesh: meshes support the tasks that need no
    booleans)."""
    if not config.sources and config.engine == "mesh":
        from .csg_mesh import chordal_fraction, mesh_csg_model

        return mesh_csg_model(config.seed, index, config.recipe, tolerance=chordal_fraction(config.options.size),
                              relative=True)
    if not config.sources:
        from .csg import csg_model

        return csg_model(config.seed, index, config.recipe)
    from renderers.cad import load_mesh
    from renderers.mesh_io import MESH_EXTENSIONS

    path = config.sources[index]
    if Path(path).suffix.lower() in MESH_EXTENSIONS:  # GenerateConfig refused meshes for boolean tasks
        return load_mesh(path)
    from renderers import occ

    return occ.read_cad(path)


def encode_question(q: Question) -> bytes:
    """A question as bytes for the journal: a JSON header, then its raw uint8 images,
    zlib-compressed (line drawings shrink about 20x). No pickle."""
    images = [*q.views.values(), *q.candidates]
    header = {
        "task": q.task, "index": q.index, "answer": q.answer, "pose": q.pose, "candidate_poses": q.candidate_poses,
        "views": list(q.views), "shapes": [list(im.shape) for im in images],
    }
    head = json.dumps(header).encode()
    body = b"".join(np.ascontiguousarray(im, dtype=np.uint8).tobytes() for im in images)
    return zlib.compress(len(head).to_bytes(4, "little") + head + body, 1)


def decode_question(blob: bytes) -> Question:
    """The inverse of encode_question."""
    data = zlib.decompress(blob)
    n = int.from_bytes(data[:4], "little")
    header = json.loads(data[4 : 4 + n])
    offset, images = 4 + n, []
    for shape in header["shapes"]:
        size = int(np.prod(shape))
        images.append(np.frombuffer(data, np.uint8, size, offset).reshape(shape))
        offset += size
    k = len(header["views"])
    views = dict(zip(header["views"], images[:k]))
    return Question(header["task"], header["index"], views, images[k:], header["answer"], header["pose"], header["candidate_poses"])


FAULT_ENV = "SPARE3D_FAULT"


def _inject_fault(index: int) -> None:
    """Test hook: SPARE3D_FAULT=segv:3,hang:5,raise:7 makes question 3 segfault, 5 hang and
    7 raise, to check that the pipeline survives them. Unset in normal use."""
    for item in filter(None, os.environ.get(FAULT_ENV, "").split(",")):
        kind, _, at = item.partition(":")
        if at.strip() == str(index):
            if kind == "segv":
                faulthandler.disable()  # a crash on purpose: no "Fatal Python error" dump in a test log
                os.kill(os.getpid(), signal.SIGSEGV)
            elif kind == "hang":
                time.sleep(1e6)
            elif kind == "raise":
                raise RuntimeError(f"injected fault in question {index}")


def answer_slot(config: GenerateConfig, index: int) -> int:
    """The answer counter of question `index`: the question index itself while each model
    is asked once (answer i mod n); with repeats (--questions > models) model m's k-th
    question takes m + k * step, step = models (or models + 1 when n divides it, so that
    a model's repeats still move through the answers). Either way every block of `models`
    questions continues the cycle, so the answers stay balanced: m + k would not (2 models,
    4 questions gave answers 0, 1, 1, 2)."""
    n = 20 if config.task == "i2p" and config.options.poses == 20 else 4
    step = config.models + (config.models % n == 0)
    return index % config.models + index // config.models * step


def save_model(model, folder: Path, index: int) -> None:
    """Write CSG model `index` into `folder`: `<index>.step` from OpenCascade, `<index>.stl`
    (binary, the solids together) from the mesh engine; atomically."""
    folder.mkdir(exist_ok=True)
    if is_mesh_model(model):
        from .csg_mesh import stl_bytes

        atomic_write(folder / f"{index}.stl", stl_bytes(model))
    else:
        from renderers import occ

        occ.write_step(model, folder / f"{index}.step")


def build_unit(config: GenerateConfig, out: str, threads: int | None, index: int) -> tuple[str, bytes | None]:
    """Worker side: build question `index` -> ("kept", encoded question) or
    ("filtered:<filter>", None); a model that cannot be made or read raises UnitFailed.
    `threads`: the mesh engine's thread pools in this worker (None: the library defaults)."""
    _inject_fault(index)
    if threads and config.engine == "mesh" and not config.sources:
        from .csg_mesh import start_thread_pools

        start_thread_pools(threads)
    try:
        model_index = index % config.models
        model = load_model(config, model_index)
        if config.save_models and index < config.models:
            save_model(model, Path(out) / "models", model_index)
        slot = {"slot": answer_slot(config, index)} if config.task in ANSWERED else {}
        q = BUILDERS[config.task](model, index, config.seed, Drawer(config.options), **slot)
    except Rejected as e:
        return f"filtered:{e.reason}", None
    except (GenerationError, RenderError) as e:
        raise UnitFailed(f"failed: {e}") from None
    return "kept", encode_question(q)


def worker_threads(executor: str, workers: int, scheduler: str | None = None) -> int | None:
    """Threads for each worker's library thread pools: this machine's CPUs shared among
    the local workers (Dask's local cluster included); one on a remote cluster, whose
    workers run a thread per core; None (the libraries' defaults) in this process."""
    if executor == "serial":
        return None
    if scheduler:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cpus // max(1, workers))


def config_fingerprint(config: GenerateConfig) -> str:
    """sha256 of everything that decides the dataset: a resumed job must have the same.
    That includes the contents of the source files: a model edited between two runs of a
    job would otherwise mix its old and new questions in one dataset."""
    text = json.dumps({"version": __version__, "drawings": DRAWING_REVISION, "config": asdict(config),
                       "contents": [_file_digest(f) for f in config.sources]}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _file_digest(path: str) -> str:
    """sha256 of a file's bytes ('unreadable' if it cannot be read: its questions fail
    with the reason)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return "unreadable"
    return h.hexdigest()


def generate(
    config: GenerateConfig,
    out: str | os.PathLike,
    workers: int = 1,
    progress: bool = True,
    executor: str = "local",
    scheduler: str | None = None,
    timeout: float = 600.0,
    retries: int = 1,
    retry_failed: bool = False,
) -> dict:
    """Build every question on `executor`, journalled in `out/.spare3d/`, then assemble the
    layout under `out/<split>/` and the card; returns the card with the run's report under
    "report" (also written to `out/report.json`).

    Resumable: a re-run of the same config skips finished questions, and failed ones
    unless `retry_failed` (a question that timed out on a loaded machine, say): those run
    again and the dataset is assembled anew, as if they had never failed. A job that
    ends with failures keeps its results in the journal for that. Raises
    pipeline.Interrupted on Ctrl-C (after the questions in flight), JobMismatch if `out`
    holds a job with other settings, ValueError if the results needed to re-assemble
    were freed (a job assembled without failures has nothing to retry)."""
    t0 = time.perf_counter()
    out = Path(out).absolute()  # Dask workers elsewhere resolve a relative one in their own folder
    if out.is_dir() and not (out / STATE_DIR).exists() and any(out.iterdir()):
        # Assembly replaces OUT/train|val|test and clears temporaries: never in a folder
        # holding someone's files.
        raise JobMismatch(f"{out}: holds other files and no generation job; generate into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    journal = Journal(out, config_fingerprint(config), config.n_questions)
    used = 1 if executor == "serial" else None if scheduler else workers  # a remote cluster has its own
    repaired: list[str] = []
    try:
        if journal.meta("sources") is None:  # for `spare3d status` to name filtered questions' models
            with journal.transaction():
                journal.set_meta("sources", json.dumps([config.source_of(m) for m in range(config.models)]))
        if retry_failed and journal.counts()["failed"]:
            if journal.meta("assembled") and journal.results_dropped():
                raise ValueError(f"{out}: the stored questions were freed after assembly; rebuild in a new folder")
            with journal.transaction():
                journal.retry_failed()
                journal.set_meta("assembled", "")
        damage = _damaged_files(out, journal) if journal.meta("assembled") else []
        if damage and not journal.results_dropped():
            with journal.transaction():  # the questions are still stored: assemble again
                journal.set_meta("assembled", "")
        if journal.meta("assembled") and damage:
            ex = make_executor(executor, workers, timeout, scheduler, start_method="fork")
            try:
                stats = _repair(config, out, journal, damage, ex, retries, progress,
                                worker_threads(executor, workers, scheduler))
            except (Interrupted, KeyboardInterrupt):
                _write_report(out, journal, "interrupted", None, executor, used)
                raise
            finally:
                ex.close()
            repaired = damage
            card = json.loads((out / CARD).read_text())
        elif journal.meta("assembled"):
            stats = RunStats(config.n_questions, skipped=config.n_questions)
            card = json.loads((out / CARD).read_text())
        else:
            # Always fork: question builders never touch OpenGL, so a parent holding an
            # EGL context (a notebook, a test run) may fork them, cheaply.
            ex = make_executor(executor, workers, timeout, scheduler, start_method="fork")
            try:
                unit = partial(build_unit, config, str(out), worker_threads(executor, workers, scheduler))
                stats = run_units(journal, ex, unit, retries, progress, "question")
            except (Interrupted, KeyboardInterrupt):  # a second Ctrl-C too: the journal is consistent
                _write_report(out, journal, "interrupted", None, executor, used)
                raise
            finally:
                ex.close()
            card = assemble(config, out, journal)
            with journal.transaction():
                journal.set_meta("assembled", "1")
            if not card["failed"]:  # kept otherwise, for a retry of the failed to re-assemble
                journal.drop_results()
        kept = {"questions": card["questions"], "filtered": card["filtered"], "repaired": repaired}
        card["report"] = _write_report(out, journal, "complete", stats, executor, used, kept)
    finally:
        journal.close()
    card["seconds"] = time.perf_counter() - t0
    return card


def _write_report(
    out: Path, journal: Journal, status: str, stats: RunStats | None, executor: str, workers: int | None, kept: dict | None = None
) -> dict:
    """report.json: the job's state, kept and filtered questions once assembled, and this
    run's figures (not part of the checksums)."""
    counts = journal.counts()
    failures = journal.failures()
    by_reason: dict[str, int] = {}
    for reason in failures.values():
        by_reason[reason] = by_reason.get(reason, 0) + 1
    report = {
        "status": status,
        "units": journal.units,
        **counts,
        "failed_by_reason": by_reason,
        "failures": failures,
        "executor": executor,
        "workers": workers,
        **(kept or {}),
    }
    if stats is not None:
        report["run"] = {
            "done": stats.done, "skipped": stats.skipped, "retried": stats.retried, "failed": stats.failed,
            "seconds": round(stats.seconds, 3),
            "units_per_second": round(stats.done / stats.seconds, 3) if stats.seconds > 0 else None,
        }
    atomic_write(out / REPORT, (json.dumps(report, indent=1, sort_keys=True) + "\n").encode())
    return report


def _remove_temporaries(out: Path) -> None:
    """Delete temporary files a killed job left (".<name>.<pid>.tmp" and the like)."""
    for p in out.rglob(".*"):
        if ".tmp" in p.name and p.is_file() and STATE_DIR not in p.relative_to(out).parts:
            p.unlink()


def assemble(config: GenerateConfig, out: Path, journal: Journal) -> dict:
    """Write the layout and the card from the journalled questions, in index order:
    numbering and the near-duplicate filter are sequential. Idempotent (atomic writes, same
    bytes), so a job killed while assembling just assembles again. The split folders are
    made anew: after a retry, fewer questions may survive the near-duplicate filter. The
    card goes first and comes back last, so a folder being assembled (or left half-written
    by a full disk) never carries a card describing other files."""
    (out / CARD).unlink(missing_ok=True)
    _remove_temporaries(out)
    for s in SPLITS:
        shutil.rmtree(out / s, ignore_errors=True)
    answers: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    index_map: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    placed: dict[str, dict[str, int]] = {s: {} for s in SPLITS}  # split -> question id -> unit
    rejected = {f: 0 for f in FILTERS if f in config.options.filters}
    filtered: list[dict] = []
    failures: dict[str, str] = {}
    packers: dict[str, PackedWriter] = {}
    duplicates = DuplicateFinder()
    try:
        for index, state, text, blob in journal.results():
            if state != "done":
                failures[str(index)] = text or state
                continue
            q = decode_question(blob) if blob is not None else None
            reason = text.removeprefix("filtered:")
            model_index = index % config.models
            if q is not None and "near_duplicate" in config.options.filters and duplicates.seen(fingerprint(q), model_index):
                q, reason = None, "near_duplicate"
            if q is None:
                if reason in rejected:
                    rejected[reason] += 1
                    filtered.append({"question": index, "filter": reason, "source": config.source_of(model_index)})
                else:
                    failures[str(index)] = reason
                continue
            split = config.split_of(model_index)
            qid = str(len(answers[split]))
            if config.layout == "packed":
                if split not in packers:
                    packers[split] = PackedWriter(out / split, config.task, config.seed)
                _pack(packers[split], config, qid, q, model_index)
            else:
                write_question(out / split, qid, q)
            answers[split][qid] = label(q)
            index_map[split][qid] = model_index
            placed[split][qid] = index
        for s in SPLITS:
            if s in packers:
                packers[s].close()
            elif answers[s]:
                write_answers(out / s, answers[s])
    except BaseException:
        for packer in packers.values():
            packer.abort()
        raise
    card = {
        "task": config.task,
        "format": config.layout,
        "package_version": __version__,
        "drawing_revision": DRAWING_REVISION,
        "seed": config.seed,
        "models": config.models,
        "questions_asked": config.n_questions,
        "recipe": asdict(config.recipe),
        "engine": config.engine,
        "render": asdict(config.options),
        "split_fractions": list(config.split),
        "questions": {s: len(answers[s]) for s in SPLITS},
        "filtered": rejected,
        "filtered_questions": filtered,
        "failed": failures,
        "model_index": index_map,
        "sources": [recorded_source(f) for f in config.sources],
        "checksums": _checksums(out),
    }
    text = json.dumps(card, indent=1, sort_keys=True) + "\n"
    atomic_write(out / CARD, text.encode())
    # What a re-run needs to find and rebuild damaged files once the stored questions are
    # freed: the card itself, each file's size and which question (unit) sits where.
    sizes = {name: (out / name).stat().st_size for name in card["checksums"]}
    labels = {s: {qid: answers[s][qid] for qid in placed[s]} for s in SPLITS}
    with journal.transaction():
        journal.set_meta("card", text)
        journal.set_meta("sizes", json.dumps(sizes))
        journal.set_meta("placed", json.dumps({"units": placed, "labels": labels}))
    return card


def _pack(writer: PackedWriter, config: GenerateConfig, qid: str, q: Question, model_index: int) -> None:
    """Append question `qid` to a packed split with its provenance and the filters it passed."""
    passed = [f for f in config.options.filters if f in TASK_FILTERS[config.task]]
    writer.add(qid, q, label(q), model_index, config.source_of(model_index), passed)


def label(q: Question) -> int | list[int]:
    """What answer.json stores: the answer, the pairing labels, or the poses present."""
    if q.task == "pairs":
        return [1, 0, 0, 1]
    if q.task == "poses":
        return list(q.candidate_poses)
    return int(q.answer)


def _damaged_files(root: Path, journal: Journal) -> list[str]:
    """The files of a finished dataset missing or changed in size since assembly (the
    card: changed at all), as paths relative to `root`: what a re-run checks before it
    skips the job, as `render` does (`verify` compares checksums)."""
    sizes, card = journal.meta("sizes"), journal.meta("card")
    if sizes is None or card is None:  # assembled by a version that kept no sizes: existence only
        try:
            names = json.loads((root / CARD).read_text())["checksums"]
        except (OSError, ValueError, KeyError, TypeError):
            return [CARD]
        return [name for name in names if not (root / name).is_file()]
    damaged = []
    for name, size in json.loads(sizes).items():
        try:
            ok = (root / name).stat().st_size == size
        except OSError:
            ok = False
        if not ok:
            damaged.append(name)
    try:
        if (root / CARD).read_bytes() != card.encode():
            damaged.append(CARD)
    except OSError:
        damaged.append(CARD)
    return damaged


def _repair(config: GenerateConfig, out: Path, journal: Journal, damage: list[str], executor, retries: int,
            progress: bool, threads: int | None) -> RunStats:
    """Rebuild what the damaged files of a finished dataset hold, and only that, then write
    those files again: a question's drawings (SPARE3D layout), a whole packed split, a
    saved model; answer files and the card come back from the journal without building
    anything. Generation is deterministic, so the files come back byte for byte: checked
    against the card's checksums."""
    if journal.meta("placed") is None:
        raise ValueError(f"{out}: finished, but {damage[0]} is missing or damaged, and this job was assembled by an "
                         f"older version that did not record where its questions went: rebuild in a new folder "
                         f"(spare3d verify {out} lists the damage)")
    index = json.loads(journal.meta("placed"))
    units, labels = index["units"], index["labels"]
    card_text = journal.meta("card")
    rebuild: set[int] = set()
    questions: dict[str, list[str]] = {}
    answer_files, packed = set(), set()
    for name in damage:
        parts = name.split("/")
        if name == CARD:
            continue
        if parts[0] == "models" and len(parts) == 2 and Path(parts[1]).stem.isdigit():
            rebuild.add(int(Path(parts[1]).stem))
        elif parts[0] in units and parts[1:] == ["answer.json"]:
            answer_files.add(parts[0])
        elif parts[0] in units and parts[1:] in (["images.u8"], ["manifest.json"]):
            packed.add(parts[0])
            rebuild.update(units[parts[0]].values())
        elif parts[0] in units and len(parts) == 3 and parts[1] in units[parts[0]]:
            questions.setdefault(parts[0], []).append(parts[1])
            rebuild.add(units[parts[0]][parts[1]])
        else:
            raise ValueError(f"{out / name}: damaged, and not a file this job can rebuild; rebuild in a new folder")
    with journal.transaction():
        journal.reopen(sorted(rebuild))
    stats = run_units(journal, executor, partial(build_unit, config, str(out), threads), retries, progress, "question")
    built = {u: decode_question(blob) for u, state, _, blob in journal.results() if u in rebuild and blob is not None}
    for split in sorted(questions):
        for qid in sorted(set(questions[split]), key=int):
            if units[split][qid] not in built:
                raise ValueError(f"{out}: question {units[split][qid]} no longer builds ({journal.failures().get(str(units[split][qid]), 'filtered')}); rebuild in a new folder")
            write_question(out / split, qid, built[units[split][qid]])
    for split in sorted(answer_files):
        write_answers(out / split, labels[split])
    for split in sorted(packed):
        writer = PackedWriter(out / split, config.task, config.seed)
        try:
            for qid in sorted(units[split], key=int):
                unit = units[split][qid]
                if unit not in built:
                    raise ValueError(f"{out}: question {unit} no longer builds; rebuild in a new folder")
                _pack(writer, config, qid, built[unit], unit % config.models)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    if CARD in damage:
        atomic_write(out / CARD, card_text.encode())
    expected = json.loads(card_text)["checksums"]
    for name in damage:
        if name != CARD and hashlib.sha256((out / name).read_bytes()).hexdigest() != expected[name]:
            raise ValueError(f"{out / name}: rebuilt with other bytes than the card records; rebuild in a new folder")
    journal.drop_results()
    return stats


def _checksums(root: Path) -> dict[str, str]:
    """sha256 of every file of the dataset, by relative path: the card, report.json and the
    job's journal folder (.spare3d/) are not part of the dataset."""
    sums = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and rel.as_posix() not in (CARD, REPORT) and rel.parts[0] != STATE_DIR:
            sums[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return sums


def verify(root: str | os.PathLike) -> list[str]:
    """Problems found in a generated dataset against its card's checksums (empty: intact):
    missing, changed and unexpected files, and an unreadable card, one line each, naming
    the path. ValueError when there is no dataset to check (no folder, no card)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: {'not a folder' if root.exists() else 'no such folder'}")
    if not (root / CARD).exists():
        raise ValueError(f"{root}: no {CARD}, not a generated dataset (a re-run of its generate command restores a lost one)")
    try:
        card = json.loads((root / CARD).read_text())
        expected = card["checksums"]
        if not isinstance(expected, dict):
            raise TypeError
    except OSError as e:
        return [f"{root / CARD}: cannot read the dataset card ({e.strerror})"]
    except UnicodeDecodeError:
        return [f"{root / CARD}: not a dataset card (not UTF-8 text)"]
    except ValueError as e:
        return [f"{root / CARD}: not a dataset card (invalid JSON: {e})"]
    except (KeyError, TypeError):
        return [f"{root / CARD}: not a dataset card (no table of checksums)"]
    actual = _checksums(root)
    problems = [f"{root / name}: missing" for name in sorted(expected.keys() - actual.keys())]
    problems += [f"{root / name}: checksum differs" for name in sorted(expected.keys() & actual.keys()) if expected[name] != actual[name]]
    problems += [f"{root / name}: not in the card" for name in sorted(actual.keys() - expected.keys())]
    return problems
