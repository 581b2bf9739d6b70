"""`spare3d bench` and `spare3d results`: the harness's sub-commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: Where bench keeps its stages and results database when no --root is given (git-ignored).
DEFAULT_ROOT = Path("datasets") / "output" / "bench"


def add_bench(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="run a suite of controlled experiments (generate, pretrain, train, evaluate), cached and resumable",
        description=(
            "Run every stage of a suite (a YAML file or a built-in suite's name) that is not done yet, in order, "
            "and store each finished run's results in ROOT/results.sqlite. Stages are stored by a hash of their "
            "settings and inputs under ROOT: a finished stage is never redone, a killed suite resumes, and suites "
            "share the stages they have in common. A failed stage is recorded with its error and the suite carries on."
        ),
    )
    p.add_argument("suite", nargs="?", metavar="SUITE", help="suite file or built-in suite name (see --list)")
    p.add_argument("--scale", default="tiny", choices=("tiny", "cpu", "gpu", "paper"),
                   help="the suite's size: tiny (CI), cpu (a 2-core machine), gpu (one GPU), paper (default tiny)")
    p.add_argument("--root", metavar="DIR", help=f"stage store and results database (default {DEFAULT_ROOT})")
    p.add_argument("--device", default="auto", metavar="DEV", help="device of training and evaluation (default auto)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="generation processes (default 1)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local: the stages in order in this process; dask: each stage a task on a Dask cluster, "
                        "training stages off the CPU taking one GPU worker resource (default local)")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="Dask scheduler address, e.g. tcp://HOST:8786 (default none: with --executor dask, a "
                        "LocalCluster of one worker)")
    p.add_argument("--experiment", action="append", metavar="NAME",
                   help="run only this experiment of the suite (repeat for several; default: all)")
    p.add_argument("--list", action="store_true", help="print the built-in suites and exit")
    p.add_argument("--dry-run", action="store_true", help="print the stages and which are done, and run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_bench)


def add_results(sub) -> None:
    p = sub.add_parser("results", help="export a results database made by spare3d bench",
                       description="Export the results table of a spare3d bench database as CSV or JSON.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    e = actions.add_parser("export", help="print (or write) the results table as CSV or JSON")
    e.add_argument("db", metavar="DB", help="results database (ROOT/results.sqlite)")
    form = e.add_mutually_exclusive_group()
    form.add_argument("--csv", dest="format", action="store_const", const="csv", help="CSV (the default)")
    form.add_argument("--json", dest="format", action="store_const", const="json", help="JSON")
    e.add_argument("--out", metavar="FILE", help="write to FILE (default: print)")
    p.set_defaults(handler=_cmd_results)


def add_report(sub) -> None:
    p = sub.add_parser(
        "report", help="tables, figures and one HTML page of a spare3d bench results database",
        description=("Write OUT/report.md (tables and PNG figures under OUT/figures) and OUT/report.html (the same, "
                     "self-contained) from a results database: per experiment, accuracy over seeds with its 95% "
                     "interval, chance, the published figure where the suite gives one, and an exact McNemar test "
                     "against the experiment's best setting."),
    )
    p.add_argument("db", metavar="DB", help="results database (ROOT/results.sqlite)")
    p.add_argument("--out", required=True, metavar="DIR", help="report folder (required)")
    p.add_argument("--gallery", type=int, default=2, metavar="N",
                   help="test questions drawn per experiment, with each setting's answer and the best run's attention "
                        "maps, from the stage store beside DB (default 2; 0: none)")
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    try:
        if args.gallery < 0:
            raise ValueError(f"--gallery must be 0 or more, got {args.gallery}")
        page = write_report(args.db, args.out, args.gallery)
    except ValueError as e:
        print(f"spare3d report: error: {e}", file=sys.stderr)
        return 1
    print(f"report: {Path(args.out) / 'report.md'} and {page}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .runner import DB_NAME, Bench
    from .suite import SuiteError, builtin_suites, load_suite

    if args.list:
        for name, path in builtin_suites().items():
            import yaml

            print(f"{name}: {' '.join(str(yaml.safe_load(path.read_text()).get('description', '')).split())}")
        return 0
    if not args.suite:
        print("spare3d bench: error: give a suite file or a built-in suite name (see --list)", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"spare3d bench: error: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return 2
    try:
        suite = load_suite(args.suite, args.scale)
        if args.experiment:
            suite = suite.only(args.experiment)
    except SuiteError as e:
        print(f"spare3d bench: error: {e}", file=sys.stderr)
        return 2
    if args.scheduler and args.executor != "dask":
        print("spare3d bench: error: --scheduler needs --executor dask", file=sys.stderr)
        return 2
    bench = Bench(suite, args.root or DEFAULT_ROOT, args.device, args.workers, args.executor, args.scheduler)
    if args.dry_run:
        plan = bench.plan()
        for stage, done in plan:
            print(f"{'done' if done else 'todo'}  {stage.key}")
        todo = sum(not done for _, done in plan)
        print(f"{len(suite.runs)} runs, {len(plan)} stages: {len(plan) - todo} done, {todo} to run")
        return 0
    try:
        out = bench.run(progress=not args.quiet)
    except ValueError as e:  # the dask executor without Dask
        print(f"spare3d bench: error: {e}", file=sys.stderr)
        return 2
    print(f"{suite.name} ({suite.scale}): {len(suite.runs)} runs; stages: {len(out.ran)} run, {len(out.cached)} done "
          f"before, {len(out.failed)} failed, {len(out.skipped)} skipped; {out.seconds:.1f} s; "
          f"results: {bench.root / DB_NAME}")
    for key, error in out.failed.items():
        print(f"FAILED {key}: {error} (log: {bench.root / 'logs' / key}.log)", file=sys.stderr)
    return 1 if out.failed else 0


def _cmd_results(args: argparse.Namespace) -> int:
    from renderers.writers import atomic_write

    from .results import export

    if args.action != "export":
        print("spare3d results: error: give an action: export", file=sys.stderr)
        return 2
    try:
        text = export(args.db, args.format or "csv")
    except ValueError as e:
        print(f"spare3d results: error: {e}", file=sys.stderr)
        return 1
    if args.out:
        atomic_write(Path(args.out), text.encode())
    else:
        sys.stdout.write(text)
    return 0
