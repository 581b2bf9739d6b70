"""The probe table of benchmarks/ssl_gpu.sh: randomly initialised encoders probed once (at
one or more initialisation seeds), then the table rewritten after each pretrained method.

    python benchmarks/ssl_gpu_table.py baseline OUT DEVICE SEEDS MODEL...   # OUT/random.json
    python benchmarks/ssl_gpu_table.py table OUT METHOD...                  # OUT/results.md, results.json

SEEDS is a comma list of initialisation seeds (e.g. 0 or 0,1,2,3,4). One random encoder
is one draw: with several seeds the table adds, per backbone, the range its accuracies
span, the spread a pretrained encoder's lead should be read against.

OUT is the script's output folder: data/poses (the drawings), runs/METHOD/probe/probe.json
(each method's probe) and rows.tsv (each method's pretraining wall time in ms). The script
runs probes beside pretrainings, so `table` takes whichever probes have finished and every
file is replaced whole (a reader never sees half of one).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from renderers.writers import atomic_write  # noqa: E402
from spare3d_bench.probe import probe  # noqa: E402


def baseline(out: Path, device: str, seeds: list[int], models: list[str]) -> None:
    """Probe each backbone with random weights, once per initialisation seed, on the test
    drawings: the floor a pretrained encoder must beat. Rows are named `random MODEL`, or
    `random MODEL seed S` when there are several seeds."""
    rows = {}
    for m in dict.fromkeys(models):
        for seed in seeds:
            name = f"random {m}" + (f" seed {seed}" if len(seeds) > 1 else "")
            found = probe(None, out / "data" / "poses", "test", device, f"{m}-embed", seed=seed)
            rows[name] = [r.__dict__ for r in found]
    atomic_write(out / "random.json", (json.dumps(rows, indent=1) + "\n").encode())


def seed_accuracies(results: dict[str, list[dict]]) -> dict[str, dict[tuple[str, str], list[float]]]:
    """{"random MODEL": {(task, protocol): [accuracy at each seed]}} for each backbone probed
    at more than one seed."""
    found: dict[str, dict[tuple[str, str], list[float]]] = {}
    for name, rows in results.items():
        if name.startswith("random ") and " seed " in name:
            for r in rows:
                found.setdefault(name.rsplit(" seed ", 1)[0], {}).setdefault((r["task"], r["protocol"]), []).append(
                    r["accuracy"])
    return found


def table(out: Path, methods: list[str]) -> str:
    """The Markdown table of the methods probed so far and the random encoders (once
    probed), also as JSON: the pose (8 classes) and its elevation (above or below, the
    part of it one isometric shows) by kNN and by the linear probe."""
    rows_tsv, random_json = out / "rows.tsv", out / "random.json"
    seconds = dict(line.split("\t") for line in rows_tsv.read_text().splitlines()) if rows_tsv.exists() else {}
    probes = {m: out / "runs" / m / "probe" / "probe.json" for m in methods}
    results = {m: json.loads(p.read_text()) for m, p in probes.items() if p.exists()}
    if random_json.exists():
        results |= json.loads(random_json.read_text())
    lines = ["| encoder | pose kNN | 95% CI | pose linear | 95% CI | above/below kNN | above/below linear | drawings "
             "| pretraining s |", "|---|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        found = {(r["task"], r["protocol"]): r for r in rows}
        knn = found[("pose", "kNN")]
        cells = [f"{100 * r['accuracy']:.1f}% | {100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f}%"
                 for r in (knn, found[("pose", "linear")])]
        cells += [f"{100 * found[('elevation', p)]['accuracy']:.1f}%" if ("elevation", p) in found else "-"
                  for p in ("kNN", "linear")]  # "-": a probe made before the elevation was scored
        secs = f"{int(seconds[name]) / 1000:.0f}" if name in seconds else "-"
        lines.append(f"| {name} | {' | '.join(cells)} | {knn['n']} | {secs} |")
    for name, by in seed_accuracies(results).items():
        spans = {k: f"{100 * min(v):.1f}-{100 * max(v):.1f}%" for k, v in by.items()}
        cells = [spans.get(k, "-") + (" | -" if k[0] == "pose" else "")
                 for k in (("pose", "kNN"), ("pose", "linear"), ("elevation", "kNN"), ("elevation", "linear"))]
        lines.append(f"| {name}, range of {len(by[('pose', 'kNN')])} seeds | {' | '.join(cells)} | - | - |")
    text = "\n".join(lines) + "\n"
    atomic_write(out / "results.md", text.encode())
    atomic_write(out / "results.json", (json.dumps(results, indent=1) + "\n").encode())
    return text


if __name__ == "__main__":
    command, out, rest = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    if command == "baseline":
        baseline(out, rest[0], [int(x) for x in rest[1].split(",")], rest[2:])
    elif command == "table":
        print(table(out, rest), end="", flush=True)
    else:
        sys.exit(f"unknown command '{command}' (baseline or table)")
