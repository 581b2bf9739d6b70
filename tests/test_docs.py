"""The documentation stays true: the site builds in MkDocs' strict mode (a broken link or
anchor fails it), every Python example in docs/*.md and README.md runs, the command
reference (docs/cli.md) is what the `spare3d` parser says, and user-facing pages carry no
development history."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
#: Put this comment on the line before a ```python fence for an example that must not run.
NO_RUN = "<!-- docs-test: skip -->"
#: Modules an example may need that a slim install lacks: their absence skips the page.
OPTIONAL = {"OCP", "torch", "torchvision", "trimesh", "pyrender", "embreex", "cv2", "dask", "distributed"}


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown page as (first line number, code), in order,
    leaving out those marked NO_RUN."""
    blocks, lines = [], page.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```python\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, start = m.group(1), i + 1
        skip = i > 0 and lines[i - 1].strip() == NO_RUN
        i = start
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        code = "\n".join(line[len(indent):] for line in lines[start:i])
        if not skip:
            blocks.append((start + 1, code))
        i += 1
    return blocks


def test_mkdocs_strict_build(tmp_path):
    pytest.importorskip("mkdocs")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (tmp_path / "site" / "index.html").exists()
    assert not (tmp_path / "site" / "scripts").exists()  # helper scripts stay out of the site


#: Runs a page's blocks in order in one namespace; exit status 3 and the module's name
#: when an optional library is missing.
RUNNER = """
import json, sys
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for where, code in blocks:
    try:
        exec(compile(code, where, "exec"), namespace)
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] in set(sys.argv[2].split(",")):
            print(f"{where} needs {e.name}")
            sys.exit(3)
        raise
"""


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_examples_run(page, tmp_path):
    """Each page's examples run as one fresh Python process would run them, in order, in
    one namespace (a later block may use an earlier one's names), in a new folder holding a
    copy of datasets/samples, as if run from the repository root. A separate process keeps
    a crashing example from taking the test session down, and the session's imports from
    hiding a missing one."""
    import json

    shutil.copytree(ROOT / "datasets" / "samples", tmp_path / "datasets" / "samples")
    blocks = [(f"{page.name}:{line}", code) for line, code in python_blocks(page)]
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "run_blocks.py").write_text(RUNNER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "run_blocks.py", "blocks.json", ",".join(sorted(OPTIONAL))],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env,
    )
    if result.returncode == 3:
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, f"exit status {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"


def test_examples_found():
    """The API page has examples, and the collector finds them (a changed fence would
    silently test nothing)."""
    assert len(python_blocks(DOCS / "api.md")) >= 5


def test_cli_reference_is_current(monkeypatch):
    """docs/cli.md is what the parser gives: a changed option or help text must come with
    the regenerated page (python docs/scripts/cli_reference.py)."""
    monkeypatch.setenv("COLUMNS", "100")
    expected = _load_script("cli_reference").reference()
    assert (DOCS / "cli.md").read_text() == expected, "docs/cli.md is stale: run python docs/scripts/cli_reference.py"


def test_cli_reference_lists_every_command():
    from spare3d_bench.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    text = (DOCS / "cli.md").read_text()
    for name, p in sub.choices.items():
        assert f"## `spare3d {name}`" in text
        for action in p._actions:
            if action.help == argparse.SUPPRESS:  # hidden: a renamed option's pointer, say
                continue
            for option in action.option_strings:
                assert f"`{option}" in text or f", {option}" in text, f"spare3d {name} {option} is not in docs/cli.md"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_development_history(page):
    """User-facing pages say what is, not how it came to be: history goes to CHANGELOG.md."""
    text = page.read_text()
    for pattern in (r"\bissue \d+", r"\(issue", r"#\d{1,3}\b", r"\btarget\b.*\bmet\b", r"\bwas fixed\b",
                    r"\bthe previous version\b", r"\bfirst version\b"):
        found = re.search(pattern, text, re.IGNORECASE)
        assert found is None, f"{page.name}: {found.group(0)!r}"


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 160


def test_readme_links_exist():
    """Relative links of the README (not part of the MkDocs build) point at files."""
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README.md links to missing {target}"

