"""The probe table of benchmarks/ssl_gpu.sh: randomly initialised encoders probed once, then
the table rewritten after each pretrained method.

    python benchmarks/ssl_gpu_table.py baseline OUT DEVICE MODEL...   # OUT/random.json
    python benchmarks/ssl_gpu_table.py table OUT METHOD...            # OUT/results.md, results.json

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


def baseline(out: Path, device: str, models: list[str]) -> None:
    """Probe each backbone with random weights on the test drawings: the floor a pretrained
    encoder must beat."""
    rows = {f"random {m}": [r.__dict__ for r in probe(None, out / "data" / "poses", "test", device, f"{m}-embed")]
            for m in dict.fromkeys(models)}
    atomic_write(out / "random.json", (json.dumps(rows, indent=1) + "\n").encode())


def table(out: Path, methods: list[str]) -> str:
    """The Markdown table of the methods probed so far and the random encoders (once
    probed), also as JSON."""
    rows_tsv, random_json = out / "rows.tsv", out / "random.json"
    seconds = dict(line.split("\t") for line in rows_tsv.read_text().splitlines()) if rows_tsv.exists() else {}
    probes = {m: out / "runs" / m / "probe" / "probe.json" for m in methods}
    results = {m: json.loads(p.read_text()) for m, p in probes.items() if p.exists()}
    if random_json.exists():
        results |= json.loads(random_json.read_text())
    lines = ["| encoder | pose kNN | 95% CI | pose linear | 95% CI | drawings | pretraining s |",
             "|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        knn, lin = (next(r for r in rows if r["protocol"] == p) for p in ("kNN", "linear"))
        cells = [f"{100 * r['accuracy']:.1f}% | {100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f}%" for r in (knn, lin)]
        secs = f"{int(seconds[name]) / 1000:.0f}" if name in seconds else "-"
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {knn['n']} | {secs} |")
    text = "\n".join(lines) + "\n"
    atomic_write(out / "results.md", text.encode())
    atomic_write(out / "results.json", (json.dumps(results, indent=1) + "\n").encode())
    return text


if __name__ == "__main__":
    command, out, rest = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    if command == "baseline":
        baseline(out, rest[0], rest[1:])
    elif command == "table":
        print(table(out, rest), end="", flush=True)
    else:
        sys.exit(f"unknown command '{command}' (baseline or table)")
