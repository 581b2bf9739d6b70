"""`spare3d export vqa` and `spare3d score`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_export(sub) -> None:
    p = sub.add_parser("export", help="export questions for other solvers (vision-language models)",
                       description="Export benchmark questions for solvers other than this package's networks.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    v = kinds.add_parser(
        "vqa", help="questions as prompts and images for vision-language models (Hugging Face image folder)",
        description=("Write each question of the datasets' split as a prompt (what the views are, how poses are "
                     "numbered, the answer format), its images (one composite labelled F, R, T and A-D, and the "
                     "separate drawings), choices, answer and difficulty to OUT/metadata.jsonl, which "
                     "datasets.load_dataset('imagefolder', data_dir=OUT) loads."),
    )
    v.add_argument("datasets", nargs="+", metavar="DATASET", help="dataset folders made by spare3d generate (T2I, I2P, P2I)")
    v.add_argument("--out", required=True, metavar="DIR", help="export folder (required)")
    v.add_argument("--split", default="test", metavar="NAME", help="split to export (default test)")
    v.add_argument("--images", default="both", choices=("composite", "separate", "both"),
                   help="one labelled picture per question, the separate drawings, or both (default both)")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export_vqa

    try:
        path = export_vqa(args.datasets, args.out, args.split, args.images, progress=not args.quiet)
    except ValueError as e:
        print(f"spare3d export vqa: error: {e}", file=sys.stderr)
        return 1
    n = sum(1 for line in path.read_text().splitlines() if line.strip())
    print(f"{n} questions -> {path}")
    return 0


def add_score(sub) -> None:
    p = sub.add_parser(
        "score", help="score a solver's free-text answers to an exported question set",
        description=("Read free-text answers ('B', '(b) ...', 'Answer: 2', refusals) to the questions of a "
                     "spare3d export vqa folder, score them per task and per primitive count with Wilson 95%% "
                     "intervals, and (with --db) record them in a harness results database as a solver, beside "
                     "the models in spare3d report."),
    )
    p.add_argument("predictions", metavar="PREDICTIONS", help="JSONL: one {id, prediction} object per question")
    p.add_argument("--data", required=True, metavar="DIR", help="the export folder (required)")
    p.add_argument("--solver", metavar="NAME", help="the solver's name (default: the predictions file's name)")
    p.add_argument("--db", metavar="FILE", help="results database to record the solver in, e.g. spare3d bench's "
                                               "ROOT/results.sqlite (default: none, only printed)")
    p.add_argument("--suite", default="solvers", metavar="NAME", help="suite name of the recorded runs (default solvers)")
    p.add_argument("--scale", default="export", metavar="NAME", help="scale name of the recorded runs (default export)")
    p.add_argument("--experiment", metavar="NAME", help="experiment of the recorded runs (default: the task), e.g. one of a bench's, "
                                        "to set the solver in its table")
    p.set_defaults(handler=_cmd_score)


def _cmd_score(args: argparse.Namespace) -> int:
    from .score import record, score, table

    solver = args.solver or Path(args.predictions).stem
    try:
        scores, answers = score(args.predictions, args.data)
        if args.db:
            record(args.db, scores, answers, solver, args.suite, args.scale, args.experiment)
    except ValueError as e:
        print(f"spare3d score: error: {e}", file=sys.stderr)
        return 1
    print(table(scores, solver), end="")
    if args.db:
        print(f"recorded in {args.db} as {args.suite}/{args.scale}, run {solver}/seed=0")
    return 0
