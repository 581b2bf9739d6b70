"""`spare3d human serve` and `spare3d human export`."""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import sys
from pathlib import Path


def add_human(sub) -> None:
    p = sub.add_parser("human", help="the human baseline: a web quiz on the benchmark's questions, and its answers",
                       description="Measure people on the benchmark's questions (a web quiz) and export their answers.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = actions.add_parser(
        "serve", help="serve the quiz on the datasets' questions",
        description=("Serve a web quiz: instructions, practice questions with feedback, then each participant's "
                     "seeded sequence of questions, answered by click or keys 1-4; every answer is committed to the "
                     "database before the next question. /admin (with the token printed at start) shows live counts."),
    )
    s.add_argument("datasets", nargs="+", metavar="DATASET", help="dataset folders made by spare3d generate (T2I, I2P, P2I)")
    s.add_argument("--db", default="human.sqlite", metavar="FILE", help="the answers database (default human.sqlite; reopened to resume)")
    s.add_argument("--host", default="127.0.0.1", metavar="ADDR", help="address to listen on (default 127.0.0.1, this machine only)")
    s.add_argument("--port", type=int, default=8000, metavar="N", help="port (default 8000)")
    s.add_argument("--token", metavar="VALUE", help="admin token for /admin (default: a random one, printed)")
    s.add_argument("--tasks", default="t2i,i2p,p2i", metavar="LIST", help="tasks asked, comma-separated (default t2i,i2p,p2i)")
    s.add_argument("--questions", type=int, default=30, metavar="N", help="scored questions per participant (default 30)")
    s.add_argument("--practice", type=int, default=3, metavar="N", help="practice questions with feedback first (default 3)")
    s.add_argument("--seed", type=int, default=0, metavar="N", help="seed of every participant's questions and order (default 0)")
    s.add_argument("--split", default="test", metavar="NAME", help="split the questions come from (default test)")
    e = actions.add_parser(
        "export", help="a quiz database's answers as CSV, or into a harness results database",
        description=("Print (or write) every answer with its question, participant and response time as CSV; with "
                     "--results, record per task the pooled people and each participant, with Wilson 95%% intervals "
                     "and median response times, in a results database that spare3d report reads."),
    )
    e.add_argument("db", metavar="DB", help="the quiz database")
    e.add_argument("--csv", action="store_true", help="CSV of every answer (the default when --results is not given)")
    e.add_argument("--out", metavar="FILE", help="write the CSV to FILE (default: print)")
    e.add_argument("--results", metavar="FILE", help="record people in this results database (default: none)")
    e.add_argument("--suite", default="human", metavar="NAME", help="suite name of the recorded runs (default human)")
    e.add_argument("--scale", default="quiz", metavar="NAME", help="scale name of the recorded runs (default quiz)")
    p.set_defaults(handler=_cmd_human)


def _cmd_human(args: argparse.Namespace) -> int:
    try:
        return _serve(args) if args.action == "serve" else _export(args)
    except ValueError as e:
        print(f"spare3d human {args.action}: error: {e}", file=sys.stderr)
        return 1


def _serve(args: argparse.Namespace) -> int:
    from ..vqa.questions import TASKS, load
    from .app import Bank, QuizOptions, make_app

    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    if not tasks or set(tasks) - set(TASKS):
        raise ValueError(f"--tasks {args.tasks}: a comma-separated list of {', '.join(TASKS)}")
    if args.questions < 1 or args.practice < 0:
        raise ValueError("--questions must be 1 or more and --practice 0 or more")
    if not 0 < args.port < 65536:
        raise ValueError(f"--port {args.port}: not a port")
    if args.token is not None and len(args.token) < 16:
        raise ValueError("--token: at least 16 characters")
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    bank = Bank([load(d, args.split, i) for i, d in enumerate(args.datasets)])
    options = QuizOptions(tasks, args.questions, args.practice, args.seed)
    token = args.token or secrets.token_urlsafe(24)
    app = make_app(bank, args.db, token, options)
    import uvicorn

    print(f"quiz: http://{args.host}:{args.port}/  ({len(bank.items)} questions, answers in {Path(args.db).resolve()})")
    print(f"admin: http://{args.host}:{args.port}/admin?token={token}", flush=True)
    if not loopback:
        print(f"note: listening on {args.host}, reachable from other machines", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _export(args: argparse.Namespace) -> int:
    from . import store

    if not Path(args.db).is_file():
        raise ValueError(f"{args.db}: no quiz database")
    if args.results:
        from .results import record_people

        for row in record_people(args.db, args.results, args.suite, args.scale):
            print(f"{row['task']}: people {100 * row['accuracy']:.1f}% (95% CI {100 * row['ci_low']:.1f}-"
                  f"{100 * row['ci_high']:.1f}, {row['correct']}/{row['questions']} answers, "
                  f"{row['participants']} participants, median {row['median_seconds']:.1f} s)")
        if not args.csv:
            return 0
    db = store.connect(args.db)
    try:
        text = store.answers_csv(store.answers(db))
    finally:
        db.close()
    if args.out:
        from renderers.writers import atomic_write

        atomic_write(args.out, text.encode())
    else:
        print(text, end="")
    return 0
