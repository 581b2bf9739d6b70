"""The `spare3d` command: help, start-up imports, a real render and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spare3d_bench.cli import main
from tests.conftest import ROOT, ctrl_c_when, fixture_path

SAMPLE = ROOT / "datasets" / "samples" / "bracket.step"


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "spare3d_bench.cli", *args], capture_output=True, text=True, **kw)


def test_help_lists_every_render_option():
    res = _run("render", "--help")
    assert res.returncode == 0
    for opt in ("--out", "--views", "--size", "--format", "--style", "--hlr", "--workers", "--timeout",
                "--grayscale", "--framing", "--frame-factor", "--smooth", "--hlr-budget", "--tolerance", "--force",
                "--mode", "--up", "--crease-angle", "--material", "--maps"):
        assert opt in res.stdout


def test_start_up_imports_nothing_heavy():
    code = "import sys, spare3d_bench.cli as c; c.build_parser(); print(sorted(m for m in ('OCP','torch','cv2','numpy') if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_render_writes_views_formats_and_report(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["render", str(SAMPLE), "--out", str(out), "--views", "f,r,t,2", "--format", "png,svg,npy", "--quiet"])
    assert code == 0
    files = sorted(p.name for p in (out / "bracket").iterdir())
    assert files == sorted([f"{v}.{e}" for v in "frt2" for e in ("png", "svg", "npy")] + ["render.json"])
    report = json.loads((out / "render-report.json").read_text())
    assert report["rendered"] == 1 and report["failed"] == 0
    assert main(["render", str(SAMPLE), "--out", str(out), "--views", "f,r,t,2", "--format", "png,svg,npy", "--quiet"]) == 0
    assert "skipped 1" in capsys.readouterr().out


def test_render_on_the_serial_executor_gives_the_same_files(tmp_path):
    args = [str(SAMPLE), "--views", "f,2", "--format", "png,svg", "--quiet"]
    assert main(["render", *args, "--out", str(tmp_path / "local")]) == 0
    assert main(["render", *args, "--out", str(tmp_path / "serial"), "--executor", "serial"]) == 0
    for name in ("f.png", "f.svg", "2.png", "2.svg"):
        assert (tmp_path / "serial" / "bracket" / name).read_bytes() == (tmp_path / "local" / "bracket" / name).read_bytes()
    assert main(["render", *args, "--out", str(tmp_path / "x"), "--scheduler", "tcp://127.0.0.1:1"]) == 2


def test_ctrl_c_finishes_the_model_in_flight_reports_and_resumes(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for i in range(30):
        (models / f"part{i:02d}.step").write_bytes(SAMPLE.read_bytes())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spare3d_bench.cli", "render", str(models), "--out", str(out), "--workers", "1", "--quiet"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctrl_c_when(p, lambda: bool(list(out.glob("*/render.json"))))
    report = json.loads((out / "render-report.json").read_text())
    done = {m["name"] for m in report["models"] if m["ok"]}
    pending = {m["name"] for m in report["pending"]}
    assert report["status"] == "interrupted" and done and pending and len(done | pending) == 30
    assert {p.parent.name for p in out.glob("*/render.json")} == done  # the model in flight was finished
    res = _run(*cmd[3:])
    assert res.returncode == 0, res.stderr
    assert f"rendered {len(pending)}, skipped {len(done)}" in res.stdout
    assert json.loads((out / "render-report.json").read_text())["status"] == "complete"


def test_a_failed_model_sets_the_exit_status(tmp_path):
    empty = tmp_path / "empty.step"
    empty.write_bytes(b"")
    res = _run("render", str(SAMPLE), str(empty), str(tmp_path / "missing.igs"), "--out", str(tmp_path / "o"), "--views", "f", "--quiet")
    assert res.returncode == 1
    assert f"FAILED {empty.resolve()}: file is empty" in res.stderr
    assert "missing.igs: file not found" in res.stderr
    assert "Traceback" not in res.stderr
    assert (tmp_path / "o" / "bracket" / "f.png").is_file()


def test_a_view_with_no_visible_line_is_warned_about(tmp_path, capsys):
    """A STEP point moved to 1e30 drew a blank pose-2 view and passed silently as rendered."""
    text = fixture_path("cad/tet.step").read_text()
    assert "#160=CARTESIAN_POINT('',(-1.03,-1.02,1.01));" in text  # a corner of the tetrahedron
    broken = tmp_path / "broken.step"
    broken.write_text(text.replace("(-1.03,-1.02,1.01)", "(-1.03,-1.02,1.E30)"))
    assert main(["render", str(SAMPLE), str(broken), "--out", str(tmp_path / "o"), "--views", "f,2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"WARNING {broken.resolve()}: no visible line in view(s) " in err and "bracket" not in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "0"], "must be from 16 to 8192 pixels, got 0"),
        (["--size", "10"], "must be from 16 to 8192 pixels"),
        (["--views", "f,zz"], "unknown view 'zz'"),
        (["--format", "jpg"], "unknown format jpg"),
        (["--style", "neon"], "invalid choice"),
        (["--workers", "-2"], "must be at least 1"),
        (["--timeout", "nan"], "must be a positive number"),
        (["--timeout", "3e6"], "must be at most 1000000 seconds"),
        (["--hlr-budget", "1e12"], "must be at most 1000000 seconds"),
        (["--format", "png,png"], "png is given twice"),
        (["--frame-factor", "0"], "must be a positive number"),
        (["--crease-angle", "200"], "crease angle must be between 0 and 180"),
        (["--maps", "depth"], "come with --mode shaded"),
        (["--mode", "shaded", "--format", "svg"], "svg is for line drawings"),
        (["--up", "x"], "invalid choice"),
        (["--hlr", "mesh", "--smooth"], "smooth edges come from OCCT's hidden-line removal"),  # was silently ignored
        (["--mode", "shaded", "--maps", "depth", "--views", "f,f_depth=0:-1:0/1:0:0"], "share the file f_depth.png"),
    ],
)
def test_absurd_options_give_one_line(tmp_path, args, message):
    res = _run("render", str(SAMPLE), "--out", str(tmp_path / "o"), *args)
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr  # the reason, not a usage block
    assert not (tmp_path / "o" / "bracket").exists()


def _worst_sagitta(svg: str, centre: float) -> float:
    """Largest gap, in pixels, between a circle drawn as polylines around `centre` and the
    midpoints of its segments (the chordal error a viewer sees)."""
    import re

    import numpy as np

    worst = 0.0
    for points in re.findall(r'points="([^"]+)"', svg):
        p = np.array([[float(v) for v in xy.split(",")] for xy in points.split()]) - centre
        mid = (p[1:] + p[:-1]) / 2
        worst = max(worst, float(np.linalg.norm(p, axis=1).max() - np.linalg.norm(mid, axis=1).min()))
    return worst


def test_default_tolerance_follows_the_image_size(tmp_path):
    from renderers import occ
    from renderers.cad import DEFAULT_TOLERANCE, HLROptions, tolerance_for
    from renderers.render import RenderOptions
    from renderers.views import PRESETS

    assert tolerance_for(200) == tolerance_for(1000) == DEFAULT_TOLERANCE and tolerance_for(4000) == DEFAULT_TOLERANCE / 4
    # the library does the same when no tolerance is given, and keeps one that is
    assert RenderOptions((PRESETS["t"],), size=4000).hlr.tolerance == DEFAULT_TOLERANCE / 4
    assert RenderOptions((PRESETS["t"],), size=4000, hlr=HLROptions(tolerance=1e-3)).hlr.tolerance == 1e-3
    occ.write_step(occ.cylinder(10, 5), tmp_path / "disc.step")
    gaps = {}
    for size in (200, 2000):
        out = tmp_path / str(size)
        args = ["render", str(tmp_path / "disc.step"), "--out", str(out), "--views", "t", "--format", "svg", "--hlr", "poly"]
        assert main([*args, "--size", str(size), "--quiet"]) == 0
        gaps[size] = _worst_sagitta((out / "disc" / "t.svg").read_text(), size / 2)
    # the polygonal top view's circle (a tessellation 4x the tolerance): measured 0.12 px at
    # 200 px, and at 2000 px 0.29 px with the scaled default, 1.15 px with the 200 px one
    assert gaps[200] < 0.15 and gaps[2000] < 0.4


def test_output_folder_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = _run("render", str(SAMPLE), "--out", str(blocker))
    assert res.returncode == 2 and "cannot create output folder" in res.stderr


def test_default_output_folders_are_under_datasets_output(tmp_path):
    assert _run("render", str(SAMPLE), "--views", "f", "--quiet", cwd=tmp_path).returncode == 0
    assert (tmp_path / "datasets" / "output" / "drawings" / "bracket" / "f.png").is_file()
    res = _run("generate", "i2p", "--csg", "2", "--primitives", "3", "--size", "64", "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "datasets" / "output" / "i2p" / "dataset.json").read_text())["task"] == "i2p"
    (tmp_path / "mine.yaml").write_text("task: p2i\ncsg: 2\nprimitives: 3\nsize: 64\n")
    res = _run("generate", "--recipe", str(tmp_path / "mine.yaml"), "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "datasets" / "output" / "mine" / "dataset.json").read_text())["task"] == "p2i"


def test_mesh_lines_and_shaded_maps(tmp_path):
    ring = ROOT / "datasets" / "samples" / "ring.stl"
    out = tmp_path / "o"
    assert main(["render", str(ring), "--out", str(out / "lines"), "--views", "f,2", "--quiet"]) == 0
    assert json.loads((out / "lines" / "ring" / "render.json").read_text())["views"]["2"]["algorithm"] == "mesh"
    code = main(["render", str(ring), str(SAMPLE), "--out", str(out / "shaded"), "--views", "2", "--mode", "shaded",
                 "--maps", "depth,normal", "--format", "png,npy", "--quiet"])
    assert code == 0
    for model in ("ring", "bracket"):
        names = sorted(p.name for p in (out / "shaded" / model).iterdir())
        assert names == ["2.npy", "2.png", "2_depth.npy", "2_depth.png", "2_normal.npy", "2_normal.png", "render.json"]


def test_generate_writes_a_dataset_and_rejects_bad_options(tmp_path):
    res = _run("generate", "i2p", "--csg", "4", "--primitives", "3", "--size", "64", "--out", str(tmp_path / "d"), "--quiet")
    assert res.returncode == 0, res.stderr
    card = json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert card["task"] == "i2p" and sum(card["questions"].values()) == 4
    bad = _run("generate", "t2i", "--csg", "4", "--split", "0.9,0.9,0", "--out", str(tmp_path / "e"))
    assert bad.returncode == 2 and "split must be" in bad.stderr and "Traceback" not in bad.stderr


def test_recipe_then_verify(tmp_path):
    out = tmp_path / "d"
    recipe = ROOT / "datasets" / "recipes" / "tiny-t2i.yaml"
    code = main(["generate", "--recipe", str(recipe), "--csg", "3", "--size", "64", "--out", str(out), "--quiet"])
    assert code == 0
    card = json.loads((out / "dataset.json").read_text())
    assert card["format"] == "packed" and card["models"] == 3 and card["render"]["size"] == 64  # flags override
    assert card["recipe"]["primitives"] == 5  # from the recipe
    assert main(["verify", str(out)]) == 0
    manifest = out / "train" / "manifest.json"
    manifest.write_text(manifest.read_text() + " ")
    res = _run("verify", str(out))
    assert res.returncode == 1 and res.stderr.strip() == f"{manifest}: checksum differs"
    for bad, reason in ((tmp_path / "nowhere", "no such folder"), (manifest, "not a folder")):
        res = _run("verify", str(bad))  # nothing to check: a usage error, as in status
        assert res.returncode == 2 and res.stderr.strip() == f"spare3d verify: error: {bad}: {reason}"
    (out / "dataset.json").write_text("[1, 2]")
    res = _run("verify", str(out))
    assert res.returncode == 1 and res.stderr.startswith(f"{out / 'dataset.json'}: not a dataset card")


def test_bad_recipe_is_one_line(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("task: t2i\nprimitivs: 3\n")
    res = _run("generate", "--recipe", str(bad), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "unknown settings primitivs" in res.stderr and "Traceback" not in res.stderr
    res = _run("generate", "t2i", "--recipe", "--csg", "1")  # the recipe's pre-reading, too, errs in one line
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "spare3d generate: error: argument --recipe: expected one argument (see spare3d generate --help)"]


@pytest.mark.parametrize("setting, message", [
    ("size: 8", "size: must be from 16 to 8192"),
    ("hlr: bogus", "hlr: 'bogus' is not one of"),
    ("seed: 1.5", "seed: invalid literal"),
    ("split: 0.8", "split must be three"),
    ("csg: [1, 2]", "csg: expected a single value"),
])
def test_recipe_values_are_checked_like_flags(tmp_path, setting, message):
    """Recipe values go through the flags' types and choices: refused before any job
    folder is made (a bad size used to fail every question inside the workers)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"task: i2p\ncsg: 2\n{setting}\n")
    res = _run("generate", "--recipe", str(recipe), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "o" / ".spare3d").exists()


def test_models_on_the_command_line_replace_a_recipes_csg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the model lies outside the current folder: recorded absolute
    recipe = tmp_path / "r.yaml"
    recipe.write_text("task: i2p\ncsg: 40\nsize: 32\n")
    out = tmp_path / "o"
    assert main(["generate", "--recipe", str(recipe), "--models", str(SAMPLE), "--split", "1,0,0", "--out", str(out),
                 "--quiet"]) == 0
    assert json.loads((out / "dataset.json").read_text())["sources"] == [str(SAMPLE)]


def test_generate_from_user_models(tmp_path):
    samples = ROOT / "datasets" / "samples"
    out = tmp_path / "p"
    code = main(["generate", "poses", "--models", str(samples / "bracket.step"), str(samples / "ring.stl"),
                 "--size", "64", "--split", "1,0,0", "--out", str(out), "--quiet"])
    card = json.loads((out / "dataset.json").read_text())
    assert code == 0 and card["questions"]["train"] + card["filtered"]["pose_ambiguous"] == 2
    assert card["sources"][0].endswith("bracket.step")
    res = _run("generate", "t2i", "--models", str(samples / "ring.stl"), "--size", "64", "--out", str(tmp_path / "t"), "--quiet")
    assert res.returncode == 2 and "t2i needs CAD models" in res.stderr
    res = _run("generate", "t2i", "--models", str(samples / "ring.stl"), "--csg", "3", "--out", str(tmp_path / "u"))
    assert res.returncode == 2 and "either --csg N or --models" in res.stderr


def test_user_model_datasets_do_not_depend_on_where_the_checkout_is(tmp_path):
    samples = ROOT / "datasets" / "samples"
    trees = []
    for place in ("here", "elsewhere/deeper"):
        root = tmp_path / place
        (root / "models").mkdir(parents=True)
        for name in ("bracket.step", "ring.stl"):
            (root / "models" / name).write_bytes((samples / name).read_bytes())
        res = _run("generate", "poses", "--models", "models", "--size", "64", "--split", "1,0,0", "--layout", "packed",
                   "--out", "ds", "--quiet", cwd=root)
        assert res.returncode == 0, res.stderr
        ds = root / "ds"
        trees.append({p.relative_to(ds): p.read_bytes() for p in ds.rglob("*")
                      if p.is_file() and ".spare3d" not in p.parts and p.name != "report.json"})
    assert trees[0] == trees[1]
    assert json.loads(trees[0][Path("dataset.json")])["sources"] == ["models/bracket.step", "models/ring.stl"]


def test_output_path_that_is_a_file_is_one_line(tmp_path):
    """train and demo with --out naming an existing file: exit 1 and one line, no traceback."""
    pytest.importorskip("torch")
    data = tmp_path / "d"
    assert main(["generate", "i2p", "--csg", "4", "--size", "32", "--split", "0.5,0.5,0", "--out", str(data), "--quiet"]) == 0
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    for args in (("train", "--task", "i2p", "--model", "resnet18-early", "--data", str(data), "--out", str(blocker / "run"),
                  "--epochs", "1", "--quiet"), ("demo", "--out", str(blocker))):
        res = _run(*args)
        assert res.returncode in (1, 2) and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and str(blocker) in res.stderr


def test_a_missing_heavy_package_is_one_line_naming_it(tmp_path):
    """train on a box without torch, render on one without OCCT: what to install, no traceback."""
    for blocked, args, needs in (
        ("torch", ["train", "--list-models"], "needs torch"),
        ("OCP", ["render", str(ROOT / "datasets" / "samples" / "bracket.step"), "--out", str(tmp_path), "--workers", "1"],
         "needs OCP, which is not installed here (pip install cadquery-ocp-novtk)"),
    ):
        code = f"import sys; sys.modules[{blocked!r}] = None; from spare3d_bench.cli import main; sys.exit(main({args!r}))"
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
        assert needs in res.stderr


# ------------------------------------------------------------------ one CLI, one voice


def _subparsers():
    import argparse

    from spare3d_bench.cli import build_parser

    def commands(parser, prefix: str) -> dict:
        """Every (sub-)command's parser by its words, sub-commands of sub-commands too."""
        out = {}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    words = f"{prefix} {name}".strip()
                    out[words] = child
                    out.update(commands(child, words))
        return out

    return commands(build_parser(), "")


#: The one metavar style: upper-case words saying what the value is.
METAVARS = {"N", "X", "S", "DEG", "DIR", "FILE", "PATH", "RUN", "NAME", "LIST", "ADDR", "DEV", "FRACTIONS", "NAME=VALUE", "VALUE"}


def test_every_option_has_a_metavar_of_the_one_style_and_states_its_default():
    """`--variant` had no default in its help, and metavars mixed BATCH_SIZE, K, F, T."""
    import argparse

    for command, parser in _subparsers().items():
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0 or action.help == argparse.SUPPRESS:
                continue
            where = f"{command} {action.option_strings[0]}"
            assert action.choices is not None or action.metavar in METAVARS, f"{where}: metavar {action.metavar!r}"
            assert "default" in action.help or "required" in action.help, f"{where}: no default in its help"


def test_version():
    from spare3d_bench import __version__

    res = _run("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"spare3d-bench {__version__}"


def test_status_help_says_what_it_prints():
    res = _run("status", "--help")
    assert res.returncode == 0 and "Print the state of the generation job" in res.stdout and "Exit status" in res.stdout


def test_missing_or_damaged_folders_give_the_same_exit_codes_in_verify_and_status(tmp_path):
    """verify said 1 and status 2 for the same missing folder. Now: nothing there to check
    is 2 in both, something there but damaged is 1 in both."""
    for command in ("verify", "status"):
        for target in (tmp_path / "nowhere", tmp_path):  # no folder; a folder holding no dataset or job
            res = _run(command, str(target))
            assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, (command, res.stderr)
    damaged = tmp_path / "d"
    (damaged / ".spare3d").mkdir(parents=True)
    (damaged / ".spare3d" / "journal.sqlite").write_bytes(b"garbage, not SQLite" * 100)
    (damaged / "dataset.json").write_bytes(b"\xff\xfe not a card")
    for command in ("verify", "status"):
        res = _run(command, str(damaged))
        assert res.returncode == 1 and "Traceback" not in res.stderr, (command, res.stderr)
    assert "not a dataset card (not UTF-8 text)" in _run("verify", str(damaged)).stderr


def test_a_damaged_journal_is_named_with_what_to_do(tmp_path):
    out = tmp_path / "d"
    (out / ".spare3d").mkdir(parents=True)
    journal = out / ".spare3d" / "journal.sqlite"
    journal.write_bytes(b"\x00" * 4096)
    res = _run("generate", "i2p", "--csg", "2", "--primitives", "3", "--size", "32", "--split", "1,0,0", "--out", str(out),
               "--quiet")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert f"{journal}: the job journal is damaged" in res.stderr and "run the command again into an empty folder" in res.stderr
    res = _run("status", str(out))
    assert res.returncode == 1 and f"{journal}: the job journal is damaged" in res.stderr


@pytest.mark.parametrize("content", [b"\xff\xfe t\x00a\x00s\x00k\x00", b"ISO-10303-21;\n\x80\x81 binary"])
def test_a_recipe_that_is_not_text_is_one_line(tmp_path, content):
    """A binary or non-UTF-8 recipe printed a 27-line UnicodeDecodeError traceback."""
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes(content)
    res = _run("generate", "--recipe", str(recipe), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == f"spare3d generate: error: recipe {recipe}: not a YAML text file (byte " + \
        res.stderr.strip().split("(byte ", 1)[1]
    step = _run("generate", "--recipe", str(SAMPLE), "--out", str(tmp_path / "o"))  # a STEP file is text: not a mapping
    assert step.returncode == 2 and len(step.stderr.strip().splitlines()) == 1 and str(SAMPLE) in step.stderr


def test_mesh_models_for_boolean_tasks_are_refused_before_any_work(tmp_path):
    """T2I and pairs make similar objects with booleans: meshes used to reach the workers,
    which wrote a 0-question dataset that verify passed and that blocked the folder."""
    ring = ROOT / "datasets" / "samples" / "ring.stl"
    for task in ("t2i", "pairs"):
        out = tmp_path / task
        res = _run("generate", task, "--models", str(ring), str(SAMPLE), "--out", str(out))
        assert res.returncode == 2 and f"{task} needs CAD models" in res.stderr and str(ring) in res.stderr
        assert not out.exists() or not any(out.iterdir())


def test_a_split_left_without_models_is_warned_about_with_the_count_needed(tmp_path):
    """3 models at 0.8/0.1/0.1 gave train 4, val 0, test 0 without a word; evaluate then
    failed with 'no test split'."""
    from spare3d_bench.generate import GenerateConfig

    config = GenerateConfig("i2p", 3)
    assert config.empty_splits() == ["val", "test"] and config.models_needed() == 7  # 5, 1, 1
    assert GenerateConfig("i2p", 10).empty_splits() == [] and GenerateConfig("i2p", 3, split=(1, 0, 0)).empty_splits() == []
    res = _run("generate", "i2p", "--csg", "3", "--questions", "4", "--primitives", "3", "--size", "32",
               "--out", str(tmp_path / "d"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert "WARNING: val and test get no model: 3 models split 0.8,0.1,0.1 leave them empty" in res.stderr
    assert "use 7 models or more" in res.stderr
    assert "4 questions (train 4, val 0, test 0)" in res.stdout


def test_filtered_questions_name_their_model_in_the_summary_card_and_status(tmp_path):
    """A filtered question did not say which model or file it came from."""
    samples = ROOT / "datasets" / "samples"
    out = tmp_path / "p"
    res = _run("generate", "i2p", "--models", str(samples / "bracket.step"), str(samples / "ring.stl"), "--size", "64",
               "--split", "1,0,0", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    card = json.loads((out / "dataset.json").read_text())
    ring = next(s for s in card["sources"] if s.endswith("ring.stl"))
    assert card["filtered_questions"] == [{"question": 1, "filter": "pose_ambiguous", "source": ring}]
    assert f"filtered pose_ambiguous 1: question 1 ({ring})" in res.stdout
    status = _run("status", str(out))
    assert status.returncode == 0 and f"filtered 1: pose_ambiguous (questions 1 ({ring}))" in status.stdout


def test_the_render_summary_names_the_views_drawn_polygonally(tmp_path, monkeypatch, capsys):
    """It said 'drawn polygonally: xr1-tc-nut' when only view t was."""
    import renderers.batch as batch
    from renderers.render import ModelReport

    def fake_batch(tasks, *args, **kw):
        return [ModelReport(t.name, str(t.source), algorithms={"f": "exact", "t": "poly", "2": "poly"}) for t in tasks]

    monkeypatch.setattr(batch, "run_batch", fake_batch)
    assert main(["render", str(SAMPLE), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "drawn polygonally (exact HLR too costly), model (views): bracket (t, 2)" in capsys.readouterr().out


def test_render_json_records_the_options_beside_their_hash(tmp_path):
    from renderers.render import RenderOptions
    from renderers.views import parse_views

    assert main(["render", str(SAMPLE), "--out", str(tmp_path), "--views", "f,2", "--size", "64", "--quiet"]) == 0
    manifest = json.loads((tmp_path / "bracket" / "render.json").read_text())
    options = RenderOptions(tuple(parse_views("f,2")), size=64)
    assert manifest["options"] == options.fingerprint() and manifest["settings"] == options.settings()
    assert manifest["settings"]["size"] == 64 and [v[0] for v in manifest["settings"]["views"]] == ["f", "2"]


@pytest.mark.parametrize("name", ["../../escape", "a/b", "..", ".hidden", ""])
def test_evaluate_names_cannot_leave_the_run_folder(tmp_path, name):
    """`--name ../../escape` wrote escape.json outside RUN/eval; --split, joined into the
    default name, did the same."""
    for option in ("--name", "--split"):
        res = _run("evaluate", str(tmp_path / "run"), "--data", str(tmp_path), option, name)
        assert res.returncode == 2 and f"argument {option}:" in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    pytest.importorskip("torch")
    from spare3d_bench.evaluate import evaluate_run

    with pytest.raises(ValueError, match="plain file name"):
        evaluate_run(tmp_path / "run", tmp_path, name=name or "x/y")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
