"""Reports of a results database: per experiment, a table of every setting (accuracy over
seeds with its 95% interval, chance, the published figure where the suite gives one,
and a paired test against the experiment's best setting on the same questions), and a
figure (accuracy against a numeric factor, or bars with interval whiskers and the
published figures as diamonds); as Markdown
with PNG figures and as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from renderers.writers import atomic_write

from . import results
from .stats import mcnemar_exact, t_interval, wilson_interval


@dataclass(frozen=True)
class Setting:
    """One setting of an experiment (a run label less its seed) over its seeds."""

    label: str
    factors: dict
    task: str
    model: str
    accuracy: float
    low: float
    high: float
    seeds: int
    questions: int
    chance: float
    published: tuple[float, str] | None
    p_vs_best: float | None


def settings(db: sqlite3.Connection, suite: str, scale: str, experiment: str) -> list[Setting]:
    """The experiment's settings in the order the suite ran them."""
    cur = db.execute("SELECT run, metric, value, factors, task, model FROM results WHERE suite=? AND scale=? AND "
                     "experiment=? ORDER BY rowid", (suite, scale, experiment))
    runs: dict[str, dict] = {}
    for run, metric, value, factors, task, model in cur.fetchall():
        r = runs.setdefault(run, {"factors": json.loads(factors), "task": task, "model": model})
        r[metric] = value
    published = {label: (value, source) for label, value, source in db.execute(
        "SELECT label, value, source FROM published WHERE suite=? AND experiment=?", (suite, experiment))}
    grouped: dict[str, list[tuple[str, dict]]] = {}
    for run, r in runs.items():
        grouped.setdefault(run.rpartition("/seed=")[0], []).append((run, r))
    best_label = max(grouped, key=lambda k: sum(r["accuracy"] for _, r in grouped[k]) / len(grouped[k]), default=None)
    out = []
    for label, members in grouped.items():
        first = members[0][1]
        accuracies = [r["accuracy"] for _, r in members]
        if len(members) > 1:
            ci = t_interval(accuracies)
            mean, low, high = ci.mean, ci.low, ci.high
        else:
            mean = accuracies[0]
            low, high = wilson_interval(int(first["correct"]), int(first["questions"]))
        p = None
        if label != best_label:  # the first seed of each, on the questions both answered
            a = results.answers(db, suite, scale, experiment, members[0][0])
            b = results.answers(db, suite, scale, experiment, grouped[best_label][0][0])
            shared = sorted(a.keys() & b.keys())
            if shared and first["task"] == grouped[best_label][0][1]["task"]:
                p = mcnemar_exact([a[q] for q in shared], [b[q] for q in shared]).p_value
        out.append(Setting(label, first["factors"], first["task"], first["model"], mean, low, high, len(members),
                           int(first["questions"]), first["chance"], published.get(label), p))
    return out


@dataclass(frozen=True)
class ClaimResult:
    """A suite's claim tested on the questions both runs answered (every seed both have)."""

    text: str
    better: str  # "experiment/label"
    worse: str
    better_accuracy: float
    worse_accuracy: float
    pairs: int
    only_better: int  # questions the better run alone answered right
    only_worse: int
    p: float
    verdict: str  # holds, reversed, not shown


def claims(db: sqlite3.Connection, suite: str, scale: str) -> list[ClaimResult]:
    """Each claim of the suite at this scale whose two runs have results: both accuracies on
    their shared (seed, question) pairs and the exact McNemar test of those pairs; it holds
    when the better run is ahead with p < 0.05, is reversed when it is behind with p < 0.05."""
    out = []
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='claims'").fetchone() is None:
        return out  # a database from before claims
    for text, bexp, blabel, wexp, wlabel in db.execute(
            "SELECT claim, better_experiment, better, worse_experiment, worse FROM claims WHERE suite=? AND scale=? "
            "ORDER BY rowid", (suite, scale)).fetchall():
        runs = db.execute("SELECT DISTINCT run FROM results WHERE suite=? AND scale=? AND experiment=?",
                          (suite, scale, bexp)).fetchall()
        seeds = [seed for label, _, seed in (run.rpartition("/seed=") for (run,) in runs) if label == blabel]
        a, b = [], []
        for seed in seeds:
            x = results.answers(db, suite, scale, bexp, f"{blabel}/seed={seed}")
            y = results.answers(db, suite, scale, wexp, f"{wlabel}/seed={seed}")
            shared = sorted(x.keys() & y.keys())
            a += [x[q] for q in shared]
            b += [y[q] for q in shared]
        if not a:
            continue
        test = mcnemar_exact(a, b)
        ahead = sum(a) - sum(b)
        verdict = "holds" if test.p_value < 0.05 and ahead > 0 else "reversed" if test.p_value < 0.05 else "not shown"
        out.append(ClaimResult(text, f"{bexp}/{blabel}", f"{wexp}/{wlabel}", sum(a) / len(a), sum(b) / len(b), len(a),
                               test.only_a, test.only_b, test.p_value, verdict))
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _table(rows: list[Setting]) -> tuple[list[str], list[list[str]]]:
    head = ["setting", "task", "model", "accuracy %", "95% interval", "seeds", "questions", "chance %", "published %",
            "p vs best"]
    body = []
    for s in rows:
        pub = f"{s.published[0]:.1f} ({s.published[1]})" if s.published else ""
        body.append([s.label, s.task, s.model, _pct(s.accuracy), f"{_pct(s.low)}-{_pct(s.high)}", str(s.seeds),
                     str(s.questions), _pct(s.chance), pub, "best" if s.p_vs_best is None and len(rows) > 1 else
                     "" if s.p_vs_best is None else f"{s.p_vs_best:.2g}"])
    return head, body


def _whiskers(rows: list[Setting]) -> list[list[float]]:
    """Interval whiskers below and above each accuracy, in %: never negative (a Wilson
    bound rounds a hair past an accuracy of 0 or 1)."""
    return [[max(0.0, 100 * (s.accuracy - s.low)) for s in rows], [max(0.0, 100 * (s.high - s.accuracy)) for s in rows]]


def figure(rows: list[Setting], title: str, path: Path) -> bool:
    """Accuracy against the experiment's one numeric factor (a line per task and model), or
    bars with interval whiskers; False when there is nothing to draw."""
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for s in rows for k in s.factors})
    numeric = len(keys) == 1 and all(isinstance(s.factors.get(keys[0]), (int, float)) for s in rows)
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    if numeric:
        lines: dict[tuple[str, str], list[Setting]] = {}
        for s in rows:
            lines.setdefault((s.task, s.model), []).append(s)
        for (task, model), members in lines.items():
            members.sort(key=lambda s: s.factors[keys[0]])
            x = [s.factors[keys[0]] for s in members]
            y = [100 * s.accuracy for s in members]
            err = _whiskers(members)
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{task} {model}")
        ax.set_xlabel(keys[0])
        ax.legend(fontsize=7)
    else:
        x = range(len(rows))
        ax.bar(x, [100 * s.accuracy for s in rows], color="#7a9cc6", yerr=_whiskers(rows), capsize=3)
        ax.set_xticks(list(x), [s.label.replace(",", "\n") for s in rows], fontsize=6, rotation=30, ha="right")
        shown = [(i, s.published[0]) for i, s in zip(x, rows) if s.published]
        if shown:
            ax.scatter(*zip(*shown), marker="D", color="crimson", zorder=3, label="published")
            ax.legend(fontsize=7)
    for s in rows[:1]:
        ax.axhline(100 * s.chance, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set_ylabel("test accuracy %")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def _first_seeds(db: sqlite3.Connection, suite: str, scale: str, experiment: str) -> list[tuple[str, list[str]]]:
    """(setting label, stage keys) of the first seed of each setting of an experiment."""
    found: dict[str, list[str]] = {}
    for run, stages in db.execute("SELECT run, stages FROM results WHERE suite=? AND scale=? AND experiment=? AND "
                                  "metric='accuracy' ORDER BY rowid", (suite, scale, experiment)):
        found.setdefault(run.rpartition("/seed=")[0], json.loads(stages))
    return list(found.items())


def write_report(db_path: str | Path, out: str | Path, gallery: int = 2) -> Path:
    """Write OUT/report.md, OUT/report.html and OUT/figures/*.png for every suite and
    scale in the database, with a gallery of `gallery` test questions per experiment
    (drawn from the stage store beside the database, where it still is); returns the HTML
    page's path."""
    db_path, out = Path(db_path), Path(out)
    if not db_path.is_file():
        raise ValueError(f"{db_path}: no such results database")
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        groups = db.execute("SELECT suite, scale, experiment, MIN(rowid) FROM results GROUP BY suite, scale, experiment "
                            "ORDER BY suite, scale, MIN(rowid)").fetchall()
        failures = db.execute("SELECT suite, scale, experiment, run, stage, error FROM failures "
                              "ORDER BY suite, scale, experiment, run").fetchall()
        sections = [(suite, scale, exp, settings(db, suite, scale, exp)) for suite, scale, exp, _ in groups]
        seeds = {(suite, scale, exp): _first_seeds(db, suite, scale, exp) for suite, scale, exp, _ in groups}
        tested = {(suite, scale): claims(db, suite, scale) for suite, scale, _, _ in groups}
    except sqlite3.DatabaseError as e:
        raise ValueError(f"{db_path}: not a results database ({e})") from None
    finally:
        db.close()
    if not sections and not failures:
        raise ValueError(f"{db_path}: no results yet (run spare3d bench first)")
    md = ["# Results", "", f"From `{db_path.name}`: accuracy on each run's test questions, the mean over seeds with its "
          "95% t interval (one seed: the Wilson interval of its questions); p is the exact McNemar test against the "
          "experiment's best setting on the same questions.", ""]
    page = ["<!doctype html><html><head><meta charset='utf-8'><title>spare3d-bench results</title><style>"
            "body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse;font-size:90%}"
            "td,th{border:1px solid #bbb;padding:2px 6px;text-align:left}img{max-width:100%}</style></head><body>",
            "<h1>Results</h1>", f"<p>{html.escape(md[2])}</p>"]
    for suite, scale, exp, rows in sections:
        title = f"{suite} ({scale}): {exp}"
        head, body = _table(rows)
        md += [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        md += ["| " + " | ".join(cells) + " |" for cells in body]
        page += [f"<h2>{html.escape(title)}</h2>", "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
                 + "</tr>"]
        page += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in body]
        page.append("</table>")
        png = out / "figures" / f"{suite}-{scale}-{exp}.png"
        shown = [png] if figure(rows, title, png) else []
        best = next((r.label for r in rows if r.p_vs_best is None), None)
        if gallery and best is not None:
            from .gallery import experiment_gallery

            shown += experiment_gallery(db_path.parent, seeds[(suite, scale, exp)], best, gallery, out / "figures",
                                        f"{suite}-{scale}-{exp}")
        for i, image in enumerate(shown):
            if i == 1:
                md += ["", f"Test questions with each setting's answer; attention maps of the best run ({best}):"]
                page.append(f"<p>{html.escape(md[-1])}</p>")
            md += ["", f"![{title}]({image.relative_to(out).as_posix()})"]
            data = base64.b64encode(image.read_bytes()).decode()
            page.append(f"<p><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'></p>")
        md.append("")
    for (suite, scale), found in tested.items():
        if not found:
            continue
        head = ["claim", "better", "worse", "accuracy %", "pairs", "discordant", "p (exact McNemar)", "verdict"]
        body = [[c.text, c.better, c.worse, f"{_pct(c.better_accuracy)} vs {_pct(c.worse_accuracy)}", str(c.pairs),
                 f"{c.only_better} : {c.only_worse}", f"{c.p:.2g}", c.verdict] for c in found]
        title = f"{suite} ({scale}): claims"
        md += [f"## {title}", "", "Each claim on the questions both runs answered (every seed both have); it holds "
               "when the better run is ahead with p < 0.05.", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        md += ["| " + " | ".join(cells) + " |" for cells in body] + [""]
        page += [f"<h2>{html.escape(title)}</h2>", "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
                 + "</tr>"]
        page += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in body]
        page.append("</table>")
    if failures:
        md += ["## Failed runs", "", "| suite | scale | experiment | run | stage | error |", "|---|---|---|---|---|---|"]
        md += ["| " + " | ".join(str(c) for c in f) + " |" for f in failures]
        page += ["<h2>Failed runs</h2><table><tr><th>suite</th><th>scale</th><th>experiment</th><th>run</th><th>stage"
                 "</th><th>error</th></tr>"]
        page += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in f) + "</tr>" for f in failures]
        page.append("</table>")
    page.append("</body></html>")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "report.md", ("\n".join(md) + "\n").encode())
    atomic_write(out / "report.html", ("\n".join(page) + "\n").encode())
    return out / "report.html"
