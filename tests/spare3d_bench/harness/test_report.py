"""`spare3d report`: tables of a results database with the right intervals, tests and
published figures, figures as PNGs, and one self-contained HTML page."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("scipy")
pytest.importorskip("matplotlib")

from spare3d_bench.harness import results  # noqa: E402
from spare3d_bench.harness.report import claims, settings, write_report  # noqa: E402
from spare3d_bench.harness.stats import t_interval, wilson_interval  # noqa: E402
from spare3d_bench.harness.suite import Claim, Suite  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def _run(db, experiment: str, label: str, seed: int, right: list[int], factors: dict, model: str = "resnet18-early"):
    n = len(right)
    low, high = wilson_interval(sum(right), n)
    metrics = {"accuracy": sum(right) / n, "correct": sum(right), "questions": n, "chance": 0.25, "ci_low": low,
               "ci_high": high, "loss": 1.0}
    info = {"factors": factors, "seed": seed, "task": "i2p", "model": model, "method": "supervised", "stages": ["x"],
            "version": "0", "git_commit": None, "device": "cpu", "seconds": 1.0}
    results.record_run(db, ("s", "tiny", experiment, f"{label}/seed={seed}"), metrics, info,
                       {str(q): bool(ok) for q, ok in enumerate(right)})


@pytest.fixture
def db_path(tmp_path) -> Path:
    path = tmp_path / "results.sqlite"
    db = results.connect(path)
    # size: a numeric factor, two seeds each
    for csg, (a, b) in {100: ([1] * 5 + [0] * 5, [1] * 6 + [0] * 4), 200: ([1] * 8 + [0] * 2, [1] * 7 + [0] * 3)}.items():
        _run(db, "size", f"data.csg={csg}", 0, a, {"data.csg": csg})
        _run(db, "size", f"data.csg={csg}", 1, b, {"data.csg": csg})
    # fusion: categorical, one seed each, on the same 12 questions
    best = [1] * 11 + [0]
    worse = [0] * 8 + [1] * 3 + [0]  # best alone right on 8, worse alone right on none
    _run(db, "fusion", "train.model=vgg16-early", 0, best, {"train.model": "vgg16-early"}, "vgg16-early")
    _run(db, "fusion", "train.model=resnet18-early", 0, worse, {"train.model": "resnet18-early"})
    claims = (Claim("VGG-16 beats ResNet-18", ("fusion", "train.model=vgg16-early"), ("fusion", "train.model=resnet18-early")),
              Claim("ResNet-18 beats VGG-16", ("fusion", "train.model=resnet18-early"), ("fusion", "train.model=vgg16-early")),
              Claim("more data helps", ("size", "data.csg=200"), ("size", "data.csg=100")))
    results.record_suite(db, Suite("s", "", "tiny", (), "s.yaml", (("fusion", "train.model=vgg16-early", 87.5,
                                                                     "SPARE3D, CSG"),), claims))
    results.record_failure(db, ("s", "tiny", "fusion", "train.model=bagnet33-early/seed=0"), "train-abc",
                           "spare3d train: error: bagnet33-early cannot take 32 px drawings")
    db.close()
    return path


def test_settings_average_seeds_test_against_the_best_and_carry_the_published_figure(db_path):
    db = results.connect(db_path)
    size = {s.label: s for s in settings(db, "s", "tiny", "size")}
    s200 = size["data.csg=200"]
    expected = t_interval([0.8, 0.7])
    assert (s200.seeds, s200.accuracy, s200.low, s200.high) == (2, pytest.approx(0.75), pytest.approx(expected.low),
                                                               pytest.approx(expected.high))
    fusion = {s.label: s for s in settings(db, "s", "tiny", "fusion")}
    best, worse = fusion["train.model=vgg16-early"], fusion["train.model=resnet18-early"]
    assert best.p_vs_best is None and best.published == (87.5, "SPARE3D, CSG")
    assert worse.p_vs_best == pytest.approx(2 / 2**8)  # 8 discordant questions, all one way: 2 * 0.5^8
    assert (worse.low, worse.high) == pytest.approx(wilson_interval(3, 12))
    db.close()


def test_claims_are_tested_on_the_pairs_both_runs_answered(db_path):
    db = results.connect(db_path)
    vgg, resnet, data = claims(db, "s", "tiny")
    assert (vgg.pairs, vgg.only_better, vgg.only_worse, vgg.verdict) == (12, 8, 0, "holds")
    assert vgg.p == pytest.approx(2 / 2**8) and (vgg.better_accuracy, vgg.worse_accuracy) == (11 / 12, 3 / 12)
    assert (resnet.only_better, resnet.only_worse, resnet.verdict) == (0, 8, "reversed")
    # two seeds pooled: 200 right on the first 8 and 7, 100 on the first 5 and 6 of 10; discordant 3 : 0 and 1 : 0
    assert (data.pairs, data.only_better, data.only_worse) == (20, 4, 0)
    assert data.p == pytest.approx(2 / 2**4) and data.verdict == "not shown"  # p 0.125
    db.close()


def test_the_report_writes_tables_figures_and_a_self_contained_page(db_path, tmp_path):
    page = write_report(db_path, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## s (tiny): size" in md and "## s (tiny): fusion" in md and "## Failed runs" in md
    row = next(line for line in md.splitlines() if line.startswith("| train.model=vgg16-early"))
    assert "| 91.7 |" in row and "87.5 (SPARE3D, CSG)" in row and row.rstrip().endswith("| best |")
    assert "| 0.0078 |" in next(line for line in md.splitlines() if line.startswith("| train.model=resnet18-early"))
    figures = sorted(p.name for p in (tmp_path / "report" / "figures").iterdir())
    assert figures == ["s-tiny-fusion.png", "s-tiny-size.png"]
    assert all((tmp_path / "report" / "figures" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    text = page.read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", text)
    assert len(images) == 2 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert text.count("<table>") == 4 and "cannot take 32 px drawings" in text and "src='figures" not in text
    assert "## s (tiny): claims" in md
    assert "| VGG-16 beats ResNet-18 | fusion/train.model=vgg16-early | fusion/train.model=resnet18-early | 91.7 vs 25.0 " \
           "| 12 | 8 : 0 | 0.0078 | holds |" in md


def test_bad_databases_are_one_line(tmp_path):
    results.connect(tmp_path / "empty.sqlite").close()
    (tmp_path / "garbage.sqlite").write_bytes(b"garbage" * 200)
    for name, message in (("empty.sqlite", "no results yet"), ("garbage.sqlite", "not a results database"),
                          ("missing.sqlite", "no such results database")):
        r = subprocess.run([sys.executable, "-m", "spare3d_bench.cli", "report", str(tmp_path / name), "--out",
                            str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_a_figure_of_a_run_that_answered_nothing_right(tmp_path):
    from spare3d_bench.harness.report import Setting, figure

    low, high = wilson_interval(0, 7)
    zero = Setting("data.csg=8", {"data.csg": 8}, "i2p", "resnet18-early", 0.0, max(low, 1e-17), high, 1, 7, 0.25, None, None)
    assert figure([zero], "zero", tmp_path / "zero.png") and (tmp_path / "zero.png").stat().st_size > 0


def test_the_page_shows_its_tables_and_figures_in_a_real_browser(db_path, tmp_path, browser):
    """Headless Chromium opens the HTML report on its own (no other file beside it): every
    table has its rows and every figure decodes to an image of real size."""
    page = write_report(db_path, tmp_path / "report")
    alone = tmp_path / "alone.html"
    alone.write_bytes(page.read_bytes())  # self-contained: nothing else may be needed
    browser.get(alone.as_uri())
    shown = browser.execute_script("""
        return {
          title: document.title,
          headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
          tables: [...document.querySelectorAll('table')].map(t => t.querySelectorAll('tbody tr, tr').length),
          images: [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight,
                                                  i.getBoundingClientRect().width]),
          text: document.body.innerText,
        };""")
    assert "s (tiny): size" in shown["headings"] and "s (tiny): fusion" in shown["headings"]
    assert len(shown["tables"]) == 4 and all(rows >= 2 for rows in shown["tables"])
    assert len(shown["images"]) == 2
    assert all(done and w > 100 and h > 100 and on_page > 100 for done, w, h, on_page in shown["images"])
    assert "cannot take 32 px drawings" in shown["text"] and "87.5 (SPARE3D, CSG)" in shown["text"]
