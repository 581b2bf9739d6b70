"""Write docs/cli.md, the options reference of every `spare3d` sub-command, from the
command's own argparse parser (`spare3d_bench.cli.build_parser`), so the reference and
`--help` cannot disagree.

    .venv/bin/python docs/scripts/cli_reference.py          # rewrite docs/cli.md
    .venv/bin/python docs/scripts/cli_reference.py --check  # exit 1 if docs/cli.md is stale

tests/test_docs.py runs the check.
"""

from __future__ import annotations

import argparse
import difflib
import html
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "cli.md"
WIDTH = 100  # usage lines are wrapped at this width whatever the terminal

HEADER = """\
# Command reference

Every option of the `spare3d` command, generated from its `--help` texts by
`docs/scripts/cli_reference.py` (do not edit this page by hand: change the help text in
`spare3d_bench/cli.py` or `spare3d_bench/cli_train.py` and run the script). `spare3d
COMMAND --help` prints the same on the command line. The topic pages explain what the
options do together: [rendering](rendering.md), [generating datasets](generating.md),
[generation at scale](scale.md), [training and evaluation](training.md).

Exit status of every command: 0 success; 1 something failed or is damaged (the failures
are listed on stderr: a file that could not be drawn, a dataset file that does not match
its card, a damaged job journal); 2 bad options or nothing to work on (one line saying
which option or path and why: an unknown value, a folder that holds no dataset or job);
130 interrupted with Ctrl-C (run the same command again to resume).
"""


def _cell(text: str) -> str:
    """Text for a Markdown table cell: no line breaks, nothing read as HTML or emphasis."""
    text = html.escape(" ".join(text.split()), quote=False)
    return re.sub(r"([\\`*_|\[\]])", r"\\\1", text)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        invocation = formatter._format_action_invocation(action)
        helptext = formatter._expand_help(action) if action.help else ""
        rows.append(f"| `{invocation}` | {_cell(helptext) or '&nbsp;'} |")
    if not rows:
        return []
    return ["| option | meaning |", "|---|---|", *rows]


def _section(name: str, parser: argparse.ArgumentParser, summary: str | None) -> list[str]:
    lines = [f"## `{name}`", ""]
    description = parser.description
    if description and "%(prog)" in description:  # as argparse formats it
        description = description % {"prog": parser.prog}
    if description:
        lines += [_cell(description), ""]
    elif summary:
        lines += [_cell(summary[0].upper() + summary[1:]) + ".", ""]
    usage = parser.format_usage().strip()
    lines += ["```text", usage, "```", ""]
    lines += _options_table(parser)
    return lines + [""]


def reference() -> str:
    """The text of docs/cli.md, from the parser as it is now."""
    from spare3d_bench.cli import build_parser

    parser = build_parser()
    sub = _subparsers(parser)
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)  # argparse wraps usage to the terminal's width
    try:
        return _page(parser, sub)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _page(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> str:
    summaries = {a.dest: (a.help or "").replace("%%", "%") for a in sub._choices_actions}
    lines = [HEADER]
    lines += ["| command | what it does |", "|---|---|"]
    for name in sub.choices:
        lines.append(f"| [`spare3d {name}`](#spare3d-{name}) | {_cell(summaries.get(name) or '')} |")
    lines.append("")
    lines += _section("spare3d", parser, None)
    for name, p in sub.choices.items():
        lines += _section(f"spare3d {name}", p, summaries.get(name))
    lines += _plugins()
    return "\n".join(lines).rstrip("\n") + "\n"


def _plugins() -> list[str]:
    """The options of every training method (flags of `spare3d pretrain --method NAME`) and
    the architecture switches of every model family (`--arch NAME=VALUE`), from their
    option declarations."""
    from spare3d_bench.methods import methods
    from spare3d_bench.models import fusions
    from spare3d_bench.options import NoOptions, describe

    lines = ["## Training methods", "",
             "`spare3d pretrain --list-methods` lists them; each method's options are flags of `spare3d pretrain "
             "--method NAME` (and settings of a run's `config.json` under `options`).", ""]
    for name, cls in sorted(methods().items()):
        lines += [f"### `{name}`", "", _cell(f"{cls.description[0].upper()}{cls.description[1:]}.") +
                  f" Trains on {' or '.join(cls.data)} data; default model `{cls.default_model}`.", ""]
        rows = describe(cls.Options)
        if rows:
            lines += ["| option | default | meaning |", "|---|---|---|"]
            lines += [f"| `--{n.replace('_', '-')}` | `{d}` | {_cell(t)} |" for n, d, t in rows]
        else:
            lines.append("No options of its own.")
        lines.append("")
    lines += ["## Architecture switches", "",
              "Set with `--arch NAME=VALUE` (repeatable) in `spare3d train` and `spare3d pretrain`; a run's "
              "`config.json` records every switch under `arch`. Early and late fusion have none.", ""]
    for name, cls in sorted(fusions().items()):
        if cls.Options is NoOptions:
            continue
        backbones = ", ".join(cls.backbones) if cls.backbones else "all"
        lines += [f"### `<backbone>-{name}`", "", f"Tasks: {', '.join(cls.tasks)}; backbones: {backbones}.", "",
                  "| switch | default | meaning |", "|---|---|---|"]
        lines += [f"| `{n}` | `{d}` | {_cell(t)} |" for n, d, t in describe(cls.Options)]
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write (or --check) docs/cli.md from the spare3d parser.")
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md differs from the parser")
    ap.add_argument("--out", type=Path, default=TARGET, help="file to write or check (default docs/cli.md)")
    args = ap.parse_args(argv)
    text = reference()
    if args.check:
        old = args.out.read_text() if args.out.exists() else ""
        if old == text:
            print(f"{args.out}: up to date")
            return 0
        diff = difflib.unified_diff(old.splitlines(), text.splitlines(), str(args.out), "parser", lineterm="", n=1)
        print("\n".join(list(diff)[:60]))
        print(f"{args.out} is stale: run python docs/scripts/cli_reference.py", file=sys.stderr)
        return 1
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
