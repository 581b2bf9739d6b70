"""The `spare3d` command. Heavy libraries load inside each sub-command, never at start-up."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

from renderers.errors import plural
from renderers.styles import LINE_WIDTHS, MODES, STYLES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

VIEWS_HELP = (
    "views to draw: a set (spare3d11 = f,r,t,1..8; spare3d23 = f,r,t,1..20), or a comma list of "
    "presets (f, r, t, 1..20) and custom views name=nx:ny:nz/xx:xy:xz (direction toward the "
    "viewer / image x axis), e.g. f,r,t,2,back=0:1:0/-1:0:0 (default: spare3d11)"
)


def _int_at_least(minimum: int, maximum: int | None = None, unit: str = ""):
    """argparse type: an integer >= `minimum` (and <= `maximum`, if given), with a
    one-line reason otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if maximum is not None and not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum}{unit}, got {value}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_image_size = _int_at_least(16, 8192, " pixels")


def _number(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False):
    """argparse type: a finite number in the interval from `low` to `high` (each end
    included unless `*_open`); the error says which interval, and argparse names the
    option ("argument --shift: ...")."""
    lo = "(" if low_open else "["
    hi = ")" if high_open or high == math.inf else "]"
    span = f"{lo}{low:g}, {'inf' if high == math.inf else f'{high:g}'}{hi}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        inside = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if not math.isfinite(value) or not inside:
            if low == 0 and high == math.inf:
                kind = "a positive number" if low_open else "a number >= 0"
                raise argparse.ArgumentTypeError(f"must be {kind} (finite), got {text}")
            raise argparse.ArgumentTypeError(f"must be a finite number in {span}, got {text}")
        return value

    return parse


_positive_float = _number(0, low_open=True)
_non_negative_float = _number(0)


def _device_name(text: str) -> str:
    """argparse type: auto, cpu, cuda or cuda:N (the devices the training loop drives)."""
    if text in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"unknown device {text!r} (use auto, cpu, cuda or cuda:N)")


def _file_name(text: str) -> str:
    """argparse type: a plain file name (it becomes a path inside an output folder)."""
    from renderers.files import plain_name

    try:
        return plain_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None




def _seconds(text: str) -> float:
    """argparse type: a time limit, positive and at most MAX_SECONDS (the operating
    system's waits overflow past about 25 days)."""
    from renderers.executors import MAX_SECONDS

    value = _positive_float(text)
    if value > MAX_SECONDS:
        days = MAX_SECONDS / 86400
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SECONDS:.0f} seconds ({days:.1f} days), got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (the usage block is in --help)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_executor(p) -> None:
    p.add_argument(
        "--executor",
        default="local",
        choices=("local", "serial", "dask"),
        help="local: isolated worker processes; serial: in this process (debugging); dask: a Dask cluster "
        "(--scheduler, or a LocalCluster of --workers processes) (default local)",
    )
    p.add_argument("--scheduler", metavar="ADDR",
                   help="Dask scheduler address, e.g. tcp://HOST:8786 (default none: with --executor dask, a LocalCluster)")


def _add_line_width(p) -> None:
    low, high = LINE_WIDTHS
    p.add_argument("--line-width", type=_number(low, high), default=1.0, metavar="X",
                   help=f"line widths (and dashes) times the style's, {low:g}-{high:g} (default 1)")


def _add_overlaps(p) -> None:
    p.add_argument("--overlaps", default="correct", choices=("correct", "ignore"),
                   help="CAD models of solids that pass into one another (SPARE3D-CSG compounds): correct splits "
                   "their edges where they enter another solid and hides what lies inside one; ignore leaves "
                   "OpenCascade's hidden-line removal alone, which draws those parts visible, in about half the "
                   "time (default correct)")


def _add_render(sub) -> None:
    p = sub.add_parser(
        "render",
        help="draw CAD and mesh files as SPARE3D line drawings (or shaded renders)",
        description=(
            "Draw STEP/IGES/BREP files (OpenCascade hidden-line removal) and STL/OBJ/PLY/OFF/GLB/GLTF "
            "meshes (creases, boundaries, silhouettes, ray-cast visibility) as orthographic line "
            "drawings, or as shaded renders, writing OUT/<model-stem>/<view>.<ext> and "
            "OUT/<model-stem>/render.json. "
            "Models that fail, hang past --timeout or crash are reported and skipped; the exit "
            "status is 1 if any failed. A re-run skips models whose outputs are complete."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="CAD or mesh files, folders (searched recursively) or globs")
    p.add_argument("--out", default=str(DEFAULT_OUT / "drawings"), metavar="DIR",
                   help=f"output folder (default {DEFAULT_OUT / 'drawings'})")
    p.add_argument("--views", default="spare3d11", metavar="LIST", help=VIEWS_HELP)
    p.add_argument("--size", type=_image_size, default=200, metavar="N", help="image side in pixels (16-8192, default 200)")
    p.add_argument("--format", default="png", metavar="LIST", help="comma list of png, svg, npy (uint8 array) (default png)")
    p.add_argument(
        "--style",
        default="spare3d",
        choices=tuple(STYLES),
        help="spare3d: visible black, hidden thin red under them; dashed: hidden dashed grey; "
        "visible-only: no hidden lines (default spare3d)",
    )
    _add_line_width(p)
    p.add_argument("--grayscale", action="store_true", help="write one-channel images instead of RGB")
    p.add_argument(
        "--mode",
        default="lines",
        choices=MODES,
        help="lines: hidden-line drawings; shaded: shaded renders (pyrender, EGL) (default lines)",
    )
    p.add_argument(
        "--hlr",
        default="auto",
        choices=("auto", "exact", "poly", "mesh"),
        help="CAD hidden-line removal: exact (HLRBRep_Algo), poly (HLRBRep_PolyAlgo on a tessellation), "
        "mesh (tessellate, then the mesh renderer), or auto: exact where a cost predictor says it is "
        "affordable, else polygonal (default auto). Mesh files always use the mesh renderer",
    )
    p.add_argument(
        "--up", default="z", choices=("y", "z"), help="the input's up axis; y turns Y-up models (OBJ, glTF) Z-up (default z)"
    )
    p.add_argument(
        "--crease-angle",
        type=_positive_float,
        default=40.0,
        metavar="DEG",
        help="meshes: faces meeting at more than this angle make a sharp edge (default 40)",
    )
    p.add_argument(
        "--material", default="grey", choices=("grey", "plastic", "metal"), help="shaded mode: material (default grey)"
    )
    p.add_argument(
        "--maps",
        default="",
        metavar="LIST",
        help="shaded mode: comma list of depth, normal: also write <view>_depth.npy / _normal.npy "
        "(float32) and .png previews (default none)",
    )
    p.add_argument(
        "--hlr-budget",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="auto mode: safety limit, in seconds, on one exact view of a freeform model; past it "
        "that view and the model's remaining views are drawn polygonally (default 10, at most 1e6)",
    )
    _add_overlaps(p)
    p.add_argument("--smooth", action="store_true", help="also draw smooth (tangent-continuous) edges of CAD models (not with --hlr mesh, nor for mesh files: "
                   "those draw creases above --crease-angle)")
    p.add_argument(
        "--framing",
        default="shared",
        choices=("shared", "fit"),
        help="shared: one scale for all views of a model, window = factor x the longest bounding-box "
        "edge (SPARE3D 2020-09); fit: each view fitted to its own bounds (default shared)",
    )
    p.add_argument(
        "--frame-factor", type=_positive_float, default=None, metavar="X", help="window factor (default 1.7 shared, 1.15 fit)"
    )
    p.add_argument(
        "--tolerance",
        type=_positive_float,
        metavar="X",
        help="curve discretisation error as a fraction of the model size (default 2.5e-4 up to --size 1000, "
        "finer in proportion above)",
    )
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N", help="models rendered in parallel (default 1)")
    p.add_argument(
        "--timeout", type=_seconds, default=300.0, metavar="S", help="seconds one model may take (default 300, at most 1e6)"
    )
    _add_executor(p)
    p.add_argument("--force", action="store_true", help="re-render models whose outputs are already complete")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_render)


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="build a SPARE3D task dataset from generated CSG models or your own files",
        description=(
            "Generate SPARE3D questions from seeded SPARE3D-CSG models (--csg) or your own files "
            "(--models) and write them under OUT/<split>/, in the released SPARE3D layout (PNGs and "
            "answer.json) or packed (--layout packed: images.u8 and manifest.json), with "
            "OUT/dataset.json (recipe, seed, counts, filter statistics, checksums). Question i uses "
            "model i mod the model count; "
            "splits are by model. Progress is journalled in OUT/.spare3d: after a crash, kill or Ctrl-C, "
            "the same command resumes; spare3d status OUT shows progress and failures."
        ),
    )
    p.add_argument(
        "task",
        nargs="?",
        choices=("t2i", "i2p", "p2i", "pairs", "poses"),
        help="three-view-to-isometric, isometric-to-pose, pose-to-isometric, self-supervised pairs, pose-pretext data",
    )
    p.add_argument(
        "--recipe",
        metavar="FILE",
        help=f"YAML file of settings ({', '.join(RECIPE_KEYS)}); flags given on the command line "
        "override it. See datasets/recipes/ (default none)",
    )
    p.add_argument("--out", metavar="DIR",
                   help=f"output folder (default {DEFAULT_OUT}/<recipe file name>, or {DEFAULT_OUT}/<task>)")
    p.add_argument("--csg", type=_positive_int, metavar="N",
                   help="number of CSG models, one question each unless --questions (required: this or --models)")
    p.add_argument(
        "--questions",
        type=_positive_int,
        metavar="N",
        help="questions to make (default one per model); question i uses model i mod the model count",
    )
    p.add_argument("--save-models", action="store_true",
                   help="also write each CSG model as OUT/models/<i>.step (--engine mesh: <i>.stl)")
    p.add_argument(
        "--engine", default="occ", choices=("occ", "mesh"),
        help="how CSG models are built and drawn: occ, OpenCascade solids and hidden-line removal; mesh, "
        "manifold3d meshes and the mesh line renderer, several times faster and without OpenCascade (default occ)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        metavar="PATH",
        help="use your own CAD files (and, for i2p/p2i/poses, meshes): files, folders or globs, one question each "
        "(required: this or --csg)",
    )
    p.add_argument("--primitives", type=_positive_int, default=28, metavar="N", help="primitives per model, 2-200 (default 28)")
    p.add_argument("--variant", default="compound", choices=("compound", "fused"),
                   help="compound of solids (SPARE3D) or one fused solid (default compound)")
    p.add_argument(
        "--operation", default="cut", choices=("cut", "union", "intersection"), help="T2I similar-object change (default cut)"
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--size", type=_image_size, default=200, metavar="N", help="image side in pixels, 16-8192 (default 200)")
    p.add_argument("--split", default="0.8,0.1,0.1", metavar="FRACTIONS",
                   help="train,val,test fractions; splits are by model (default 0.8,0.1,0.1)")
    p.add_argument(
        "--hlr",
        default="auto",
        choices=("auto", "exact", "poly", "mesh"),
        help="hidden-line removal for the drawings, as in spare3d render (default auto: exact where affordable)",
    )
    _add_overlaps(p)
    p.add_argument(
        "--style", default="spare3d", choices=tuple(STYLES),
        help="hidden lines: spare3d, thin red under the visible; dashed, dashed grey; visible-only, none (default spare3d)",
    )
    _add_line_width(p)
    p.add_argument("--mode", default="lines", choices=MODES,
                   help="lines: SPARE3D line drawings; shaded: grey shaded renders of the same models, framed alike "
                        "(pyrender under EGL, as spare3d render --mode shaded) (default lines)")
    p.add_argument(
        "--poses",
        type=int,
        default=8,
        choices=(8, 20),
        help="8: SPARE3D's poses; 20: the extended variants with cube-edge poses 9-20 (P2I poses, "
        "20 pose isometrics, 20-way I2P) (default 8)",
    )
    p.add_argument(
        "--no-filter",
        action="append",
        default=[],
        metavar="NAME",
        help="switch a quality filter off (repeatable): identical_candidates, pose_ambiguous, blank, "
        "invisible_change, near_duplicate (default: all on)",
    )
    p.add_argument(
        "--layout",
        default="spare3d",
        choices=("spare3d", "packed"),
        help="spare3d: the released folder layout; packed: one memory-mappable uint8 file per split "
        "plus manifest.json, for training speed (default spare3d)",
    )
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N", help="processes (default 1)")
    _add_executor(p)
    p.add_argument(
        "--timeout", type=_seconds, default=600.0, metavar="S", help="seconds one question may take (default 600, at most 1e6)"
    )
    p.add_argument(
        "--retries", type=int, default=1, choices=range(0, 6), metavar="N",
        help="retries of a question that crashed, hung or raised (0-5, default 1)",
    )
    p.add_argument(
        "--retry-failed", action="store_true",
        help="resuming a job: run its failed questions again (say with a longer --timeout) and re-assemble",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_generate)


def _filters(off: list[str]) -> tuple[str, ...]:
    from spare3d_bench.tasks import FILTERS

    bad = [f for f in off if f not in FILTERS]
    if bad:
        raise ValueError(f"unknown filter {bad[0]!r} (known: {', '.join(FILTERS)})")
    return tuple(f for f in FILTERS if f not in off)


def _check_engine(config) -> None:
    """Refuse, before any work starts, an engine whose libraries are not installed here:
    ModuleNotFoundError, which main turns into one line saying what to install."""
    import importlib.util

    if config.engine == "mesh":
        needed = ["manifold3d", "trimesh", "embreex", "scipy"]
    else:
        from renderers.mesh_io import MESH_EXTENSIONS

        cad = not config.sources or any(Path(f).suffix.lower() not in MESH_EXTENSIONS for f in config.sources)
        needed = ["OCP"] if cad else []
    for name in needed:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(name=name)


def _cmd_generate(args: argparse.Namespace) -> int:
    from spare3d_bench.csg_spec import CSGRecipe
    from spare3d_bench.generate import GenerateConfig, generate
    from spare3d_bench.tasks import TaskOptions

    if args.task is None or (args.csg is None) == (args.models is None):
        return _usage("generate", "give a task and either --csg N or --models PATH... (or a --recipe)")
    if args.out is None:
        args.out = str(DEFAULT_OUT / (Path(args.recipe).stem if args.recipe else args.task))
    sources: tuple[str, ...] = ()
    if args.models:
        from renderers.batch import expand_inputs, failed_line

        files, missing = expand_inputs(args.models)
        for m in missing:
            print(failed_line(m), file=sys.stderr)
        if not files:
            return _usage("generate", "--models found no CAD or mesh file")
        sources = tuple(str(f) for f in files)
    try:
        split = tuple(float(x) for x in args.split.split(","))
        config = GenerateConfig(
            args.task,
            len(sources) or args.csg,
            args.seed,
            CSGRecipe(args.primitives, args.variant),
            split,  # type: ignore[arg-type]
            TaskOptions(
                size=args.size,
                operation=args.operation,
                filters=_filters(args.no_filter),
                poses=args.poses,
                hlr=args.hlr,
                style=args.style,
                line_width=args.line_width,
                mode=args.mode,
                overlaps=args.overlaps == "correct",
            ),
            args.layout,
            sources,
            args.questions,
            args.save_models,
            args.engine,
        )
        _check_engine(config)
        os.makedirs(args.out, exist_ok=True)
    except ValueError as e:
        return _usage("generate", str(e))
    except OSError as e:
        return _usage("generate", f"cannot create output folder {args.out}: {e.strerror}")
    if args.scheduler and args.executor != "dask":
        return _usage("generate", "--scheduler needs --executor dask")
    import sqlite3

    from spare3d_bench.pipeline import STATE_DIR, Interrupted, JobMismatch, JournalDamaged

    empty = config.empty_splits()
    if empty:
        print(f"WARNING: {' and '.join(empty)} get no model: {plural(config.models, 'model')} split "
              f"{args.split} leave them empty; each split needs one model or more: use "
              f"{config.models_needed()} models or more, or another --split", file=sys.stderr)
    try:
        card = generate(
            config, args.out, args.workers, not args.quiet, args.executor, args.scheduler, args.timeout, args.retries,
            args.retry_failed,
        )
    except Interrupted as e:
        print(f"interrupted: {plural(e.done, 'question')} finished, {e.pending} pending; run the same command again to resume",
              file=sys.stderr)
        return 130
    except JournalDamaged as e:
        print(f"spare3d generate: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except (JobMismatch, ValueError) as e:
        return _usage("generate", str(e))
    except sqlite3.OperationalError as e:  # a full disk, no permission
        print(f"spare3d generate: error: cannot write to {args.out}: {e}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.DatabaseError as e:  # damaged while the job read it
        print(f"spare3d generate: error: {JournalDamaged(Path(args.out) / STATE_DIR / 'journal.sqlite', args.out, e)}",
              file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:
        print(f"spare3d generate: error: cannot write to {args.out}: {e}", file=sys.stderr)
        return EXIT_FAILED
    _print_generated(card, config, args.out)
    return EXIT_FAILED if card["failed"] else EXIT_OK


def _print_generated(card: dict, config, out: str) -> None:
    """The summary of a generation job: questions per split, what was filtered and from
    which models, this run's work, failures; a warning for a split left with nothing."""
    kept = sum(card["questions"].values())
    splits = ", ".join(f"{s} {card['questions'][s]}" for s in ("train", "val", "test"))
    print(f"{plural(kept, 'question')} ({splits}) -> {os.path.abspath(out)}")
    for split, n_models, fraction in zip(("train", "val", "test"), config.split_sizes(), config.split):
        if n_models and not card["questions"][split]:
            print(f"WARNING: {split} has no question: every question of its {plural(n_models, 'model')} was filtered "
                  "or failed", file=sys.stderr)
    by_filter: dict[str, list[str]] = {}
    for f in card.get("filtered_questions", []):
        by_filter.setdefault(f["filter"], []).append(f"question {f['question']} ({f['source']})")
    if by_filter:
        shown = [f"{name} {len(items)}: {'; '.join(items[:5])}{'; ...' if len(items) > 5 else ''}"
                 for name, items in by_filter.items()]
        print("filtered " + ", ".join(shown) + " (all in dataset.json)")
    run = card["report"].get("run", {})
    print(f"this run: {run.get('done', 0)} built, {run.get('skipped', 0)} skipped (done before), "
          f"{card['report']['failed']} failed, {card['seconds']:.1f} s; report: {os.path.join(out, 'report.json')}")
    repaired = card["report"].get("repaired", [])
    if repaired:
        print(f"repaired {plural(len(repaired), 'missing or damaged file')} (e.g. {repaired[0]}), rebuilding "
              f"{plural(run.get('done', 0), 'question')}")
    for reason, n in card["report"]["failed_by_reason"].items():
        print(f"FAILED {plural(n, 'question')}: {reason}", file=sys.stderr)


def _add_status(sub) -> None:
    p = sub.add_parser(
        "status",
        help="progress of a generation job: done, failed, pending and why",
        description=(
            "Print the state of the generation job in DIR, read from DIR/.spare3d/journal.sqlite (read-only; it "
            "works while the job runs): a line with the question counts (done, by outcome; failed; pending) and "
            "whether the job is in progress, stopped, complete or assembled; then a line per failure reason and "
            "per quality filter, naming the questions and the models they came from. Exit status 0; 1 if the "
            "journal is damaged; 2 if DIR holds no job."
        ),
    )
    p.add_argument("dir", metavar="DIR", help="output folder of spare3d generate")
    p.set_defaults(handler=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    from spare3d_bench.pipeline import JournalDamaged, job_running, read_status

    try:
        st = read_status(args.dir)
    except JournalDamaged as e:
        print(f"spare3d status: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as e:
        return _usage("status", str(e))
    detail = ", ".join(f"{k.removeprefix('filtered:')} {v}" for k, v in sorted(st.outcomes.items()))
    if st.meta.get("assembled"):
        state = "assembled"
    elif job_running(args.dir):
        state = "in progress"
    elif st.counts["pending"]:
        state = "stopped (no job running): run the same command again to resume"
    else:
        state = "complete, not assembled: run the same command again to assemble"
    print(f"{args.dir}: {plural(int(st.meta.get('units', 0)), 'question')}: {st.counts['done']} done ({detail or 'none'}), "
          f"{st.counts['failed']} failed, {st.counts['pending']} pending; {state}")
    try:
        sources = json.loads(st.meta.get("sources") or "[]")
    except ValueError:
        sources = []

    def named(units: list[str]) -> str:
        shown = [f"{u} ({sources[int(u) % len(sources)]})" if sources else u for u in units[:10]]
        return ", ".join(shown) + (", ..." if len(units) > 10 else "")

    for kind, reasons in (("failed", st.failures), ("filtered", st.filtered)):
        by_reason: dict[str, list[str]] = {}
        for unit, reason in reasons.items():
            by_reason.setdefault(reason, []).append(unit)
        for reason, units in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
            print(f"  {kind} {len(units)}: {reason} (questions {named(units)})")
    return EXIT_OK


def _add_verify(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check a generated dataset's files against its dataset.json checksums",
        description=(
            "Recompute the sha256 of every file of a generated dataset and compare with DIR/dataset.json: prints a "
            "line per missing, changed or unexpected file. Exit status 0 if every file matches; 1 if some do not, "
            "or the card is unreadable; 2 if DIR holds no dataset."
        ),
    )
    p.add_argument("dir", metavar="DIR", help="dataset folder")
    p.set_defaults(handler=_cmd_verify)


def _cmd_verify(args: argparse.Namespace) -> int:
    from spare3d_bench.generate import verify

    try:
        problems = verify(args.dir)
    except ValueError as e:
        return _usage("verify", str(e))
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"{plural(len(problems), 'problem')} in {args.dir}")
        return EXIT_FAILED
    print(f"{args.dir}: every file matches dataset.json")
    return EXIT_OK


def _cmd_render(args: argparse.Namespace) -> int:
    from renderers.batch import (
        Interrupted,
        expand_inputs,
        failed_line,
        name_tasks,
        run_batch,
        warning_line,
        write_report,
    )
    from renderers.cad import HLROptions
    from renderers.mesh_lines import MeshLineOptions
    from renderers.render import RenderOptions
    from renderers.views import parse_views

    try:
        options = RenderOptions(
            views=tuple(parse_views(args.views)),
            formats=tuple(f.strip().lower() for f in args.format.split(",") if f.strip()),
            size=args.size,
            style=args.style,
            line_width=args.line_width,
            grayscale=args.grayscale,
            framing=args.framing,
            frame_factor=args.frame_factor,
            hlr=HLROptions(
                args.hlr,
                args.smooth,
                args.hlr_budget,
                args.tolerance,
                MeshLineOptions(crease_angle=args.crease_angle),
                overlaps=args.overlaps == "correct",
            ),
            up=args.up,
            mode=args.mode,
            material=args.material,
            maps=tuple(m.strip() for m in args.maps.split(",") if m.strip()),
        )
    except ValueError as e:
        return _usage("render", str(e))
    files, missing = expand_inputs(args.inputs)
    tasks = name_tasks(files)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        return _usage("render", f"cannot create output folder {args.out}: {e.strerror}")
    if args.scheduler and args.executor != "dask":
        return _usage("render", "--scheduler needs --executor dask")
    try:
        reports = run_batch(
            tasks, args.out, options, args.workers, args.timeout, args.force, not args.quiet, args.executor, args.scheduler
        )
    except ValueError as e:  # no Dask installed, scheduler unreachable
        return _usage("render", str(e))
    except Interrupted as e:
        report_path = write_report(args.out, missing + e.reports, e.pending)
        print(f"interrupted: {plural(len(e.reports), 'model')} done, {len(e.pending)} pending ({report_path}); "
              "run the same command again to resume", file=sys.stderr)
        return 130
    for r in missing:
        print(failed_line(r), file=sys.stderr)
    for line in filter(None, map(warning_line, reports)):
        print(line, file=sys.stderr)
    reports = missing + reports
    report_path = write_report(args.out, reports)
    failed = [r for r in reports if not r.ok]
    done = sum(r.ok and not r.skipped for r in reports)
    skipped = sum(r.skipped for r in reports)
    poly = sorted(f"{r.name} ({', '.join(v for v, a in r.algorithms.items() if a == 'poly')})"
                  for r in reports if r.ok and "poly" in r.algorithms.values())
    print(
        f"rendered {done}, skipped {skipped} (already complete), failed {len(failed)} -> {os.path.abspath(args.out)}"
    )
    if poly and args.hlr == "auto":
        print(f"drawn polygonally (exact HLR too costly), model (views): {', '.join(poly)}")
    print(f"report: {report_path}")
    return EXIT_FAILED if failed else EXIT_OK


def _usage(command: str, message: str) -> int:
    print(f"spare3d {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `spare3d` and its sub-commands."""
    parser = _Parser(
        prog="spare3d",
        description="spare3d-bench: CAD and mesh line drawings and the SPARE3D spatial-reasoning benchmark.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"spare3d-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_render(sub)
    _add_generate(sub)
    _add_verify(sub)
    _add_status(sub)
    from .cli_train import add_attention, add_demo, add_evaluate, add_pretrain, add_probe, add_train

    add_train(sub)
    add_pretrain(sub)
    add_evaluate(sub)
    add_probe(sub)
    add_attention(sub)
    add_demo(sub)
    from .harness.cli import add_bench, add_report, add_results

    add_bench(sub)
    add_results(sub)
    add_report(sub)
    from .vqa.cli import add_export, add_score

    add_export(sub)
    add_score(sub)
    from .human.cli import add_human

    add_human(sub)
    return parser


#: Where render and generate write when no --out is given (git-ignored).
DEFAULT_OUT = Path("datasets") / "output"

RECIPE_KEYS = (
    "task", "csg", "models", "primitives", "variant", "operation", "seed", "size", "split", "layout", "poses", "questions",
    "hlr", "overlaps", "style", "line_width", "mode", "engine", "executor", "scheduler", "timeout", "retries",
)


def _apply_recipe(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """Pre-read `generate --recipe FILE`: its settings become defaults that flags override.
    Returns an error message, or None."""
    if len(argv) < 1 or argv[0] != "generate" or "--recipe" not in argv[:-1] and not any(a.startswith("--recipe=") for a in argv):
        return None
    pre = _Parser(prog="spare3d generate", add_help=False)
    pre.add_argument("--recipe")
    known, _ = pre.parse_known_args(argv[1:])
    import yaml

    try:
        with open(known.recipe, "rb") as fh:
            text = fh.read().decode("utf-8")
        recipe = yaml.safe_load(text) or {}
    except UnicodeDecodeError as e:
        return f"recipe {known.recipe}: not a YAML text file (byte {e.start} is not UTF-8)"
    except OSError as e:
        return f"recipe {known.recipe}: {e.strerror or e}"
    except yaml.YAMLError as e:
        return f"recipe {known.recipe}: not valid YAML ({' '.join(str(e).split())[:200]})"
    if not isinstance(recipe, dict):
        return f"recipe {known.recipe}: expected a mapping of settings"
    unknown = sorted(set(recipe) - set(RECIPE_KEYS))
    if unknown:
        return f"recipe {known.recipe}: unknown settings {', '.join(unknown)} (known: {', '.join(RECIPE_KEYS)})"
    if isinstance(recipe.get("split"), list):
        recipe["split"] = ",".join(str(x) for x in recipe["split"])
    if "csg" in recipe and "models" in recipe:
        return f"recipe {known.recipe}: give csg or models, not both"
    if "--models" in argv:  # the command line's model source replaces the recipe's
        recipe.pop("csg", None)
        recipe.pop("models", None)
    if "--csg" in argv:
        recipe.pop("models", None)
    if "models" in recipe:
        try:
            recipe["models"] = model_paths(recipe.pop("models"), Path(known.recipe).parent)
        except ValueError as e:
            return f"recipe {known.recipe}: {e}"
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    generate = sub.choices["generate"]
    actions = {a.dest: a for a in generate._actions}
    for key, value in recipe.items():
        if key == "models":
            continue  # checked above
        try:
            recipe[key] = _recipe_value(actions[key], value)
        except ValueError as e:
            return f"recipe {known.recipe}: {key}: {e}"
    generate.set_defaults(**recipe)
    return None


def model_paths(value, base: Path) -> list[str]:
    """A recipe's `models` (a path or a list of paths: files, folders or globs) as a list,
    relative paths taken from `base` (the recipe's or the suite's folder); ValueError when it
    is neither."""
    models = [value] if isinstance(value, str) else value
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m.strip() for m in models):
        raise ValueError("models: expected a path or a list of paths (files, folders or globs)")
    return [m if Path(m).is_absolute() else str(base / m) for m in models]


def _add_method_options(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Pre-read `pretrain --method NAME`: NAME's own options become flags of pretrain."""
    if not argv or argv[0] != "pretrain":
        return
    pre = _Parser(prog="spare3d pretrain", add_help=False)
    pre.add_argument("--method")
    known, _ = pre.parse_known_args(argv[1:])
    if known.method:
        from .cli_train import add_method_options

        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        add_method_options(sub.choices["pretrain"], known.method)


def _recipe_value(action: argparse.Action, value):
    """A recipe value checked and converted as the command-line flag would be (set_defaults
    alone would skip type and choices); ValueError says why it is refused."""
    if value is None or isinstance(value, (dict, list)):
        raise ValueError(f"expected a single value, got {value!r}")
    try:
        converted = action.type(str(value)) if action.type is not None else str(value)
    except (argparse.ArgumentTypeError, ValueError) as e:
        raise ValueError(str(e) or f"invalid value {value!r}") from None
    if action.choices is not None and converted not in action.choices:
        raise ValueError(f"{converted!r} is not one of {', '.join(map(str, action.choices))}")
    return converted


#: Optional heavy imports -> what to pip install for them (setup.cfg keeps them loose).
PIP_NAMES = {
    "torch": "'torch>=2.4' 'torchvision>=0.19'",
    "torchvision": "'torchvision>=0.19'",
    "OCP": "cadquery-ocp-novtk",
    "trimesh": "trimesh embreex",
    "embreex": "embreex",
    "manifold3d": "manifold3d",
    "scipy": "scipy",
    "pyrender": "pyrender",
    "cv2": "opencv-python-headless",
    "dask": "'spare3d-bench[dist]'",
    "distributed": "'spare3d-bench[dist]'",
}


def _resume_hint(args: argparse.Namespace) -> str:
    """How to go on after Ctrl-C: a training run with a finished epoch continues with
    --resume; one without, or any other command, by running the same command again."""
    if args.command in ("train", "pretrain") and not getattr(args, "resume", False):
        if args.out and (Path(args.out) / "last.pt").exists():
            return "add --resume to continue from the last finished epoch"
        return "no epoch finished: run the same command again to start afresh"
    return "run the same command again to resume"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `spare3d` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    error = _apply_recipe(parser, argv)
    if error:
        return _usage("generate", error)
    _add_method_options(parser, argv)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"interrupted: {_resume_hint(args)}", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:  # a GPU box without OCCT, a render box without torch
        root = (e.name or "").partition(".")[0]
        hint = PIP_NAMES.get(root)
        if hint is None:
            raise
        other = "; or build CSG models with --engine mesh" if args.command == "generate" and root == "OCP" else ""
        print(f"spare3d {args.command}: error: needs {root}, which is not installed here (pip install {hint}){other}",
              file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:  # a path that is a file, a full disk, no permission: one line, not a traceback
        reason = "exists and is not a folder" if isinstance(e, FileExistsError) else e.strerror or str(e)
        where = f"{e.filename}: " if e.filename is not None else ""
        print(f"spare3d {args.command}: error: {where}{reason}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
