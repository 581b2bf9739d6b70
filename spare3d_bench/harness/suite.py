"""Suites: a YAML file of datasets, training settings and the factors to sweep, expanded
into runs and their stages.

A suite has a `name`, optional `description`, `seeds` (training seeds, default [0]), a
`base` with the settings every run starts from, `scales` (per scale, dotted overrides of
the base, and `seeds`), and `experiments`. A run's settings have three sections:

* `data`: the evaluated dataset, as a `spare3d generate` recipe (task, csg, primitives,
  size, layout, poses, engine, ...);
* `pretrain` (optional): `spare3d pretrain` flags (method, model, epochs, ...) and its own
  `data` recipe;
* `train` (optional when there is a pretrain: the pretrained network is then evaluated
  directly): `spare3d train` flags (model, epochs, batch_size, lr, arch, ...); with a
  pretrain, it starts from the pretrained run (`--init`).

An experiment sets dotted keys over the base (`set`), then sweeps a `grid` (every
combination of the listed values) or lists explicit `runs` (each a mapping of dotted
keys, and optionally a `label` naming it in reports; else the label is its factor
values); every run is repeated per seed. A pretraining that needs a teacher (DisCo) names
another run of its experiment, `pretrain.teacher: {run: LABEL}`: that run's pretraining is
the teacher, one stage shared by both. Flags are written as in the CLI with `_` for `-`
(`batch_size`); `true` is a bare flag; a mapping is `NAME=VALUE` pairs (`arch`).
`published` maps a run label to the figure a paper reports for it (`accuracy` in %,
`source`), which reports print beside the measured one. The suite's `claims` are orderings
to test, each `{claim: TEXT, better: EXPERIMENT/LABEL, worse: EXPERIMENT/LABEL}` between
two runs on the same test questions; reports give both accuracies and the exact McNemar
test of the pair. An experiment's own `scales`
replace its `set`, `grid` or `runs` at a scale (factor values that must shrink with it,
such as data sizes).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import yaml

from renderers import DRAWING_REVISION

from .. import TRAINING_REVISION, __version__

SCALES = ("tiny", "cpu", "gpu", "paper")
SECTIONS = ("data", "pretrain", "train")
SUITE_KEYS = ("name", "description", "seeds", "base", "scales", "experiments", "claims")
EXPERIMENT_KEYS = ("description", "set", "grid", "runs", "published", "scales")
#: Settings that decide where or how fast a stage runs, not what it computes: left out of
#: the stage hashes (a CPU run and a GPU run of one setting share their stage).
NOT_HASHED = ("device", "workers", "loader_threads", "quiet", "executor", "scheduler", "timeout", "retries",
              "models")  # your own model files count by their content (models_sha256), not their paths
BUILTIN = Path(__file__).parent / "suites"


class SuiteError(ValueError):
    """A suite that cannot be run: one line naming the file and the reason."""


@dataclass(frozen=True)
class Stage:
    """One unit of stored work: `kind` (generate, pretrain, train, evaluate), its settings
    (flags without the paths of its inputs) and the keys of the stages it reads."""

    kind: str
    settings: dict
    inputs: tuple[str, ...] = ()

    @cached_property
    def key(self) -> str:
        """Content hash of the stage: kind, settings (less NOT_HASHED), inputs' keys, the
        package version, the drawings' revision (a code change that alters drawings
        re-runs every stage) and, for a training stage, the training revision (one that
        alters training re-runs the training and what depends on it, not the data). Equal
        keys mean the same work. Computed once: the runner asks for it at every turn."""
        settings = {k: v for k, v in self.settings.items() if k not in NOT_HASHED}
        content = {"kind": self.kind, "settings": settings, "inputs": list(self.inputs), "version": __version__,
                   "drawings": DRAWING_REVISION}
        if self.kind in ("train", "pretrain"):
            content["training"] = TRAINING_REVISION
        text = json.dumps(content, sort_keys=True, default=str)
        return f"{self.kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Run:
    """One run of an experiment: its label (the factor values), seed and stages in the
    order they must happen (the last evaluates)."""

    experiment: str
    label: str
    factors: dict
    seed: int
    settings: dict
    stages: tuple[Stage, ...] = field(repr=False)

    @property
    def evaluation(self) -> Stage:
        return self.stages[-1]


@dataclass(frozen=True)
class Claim:
    """An ordering to test: run `better` beats run `worse` (each (experiment, label)) on
    the same test questions."""

    text: str
    better: tuple[str, str]
    worse: tuple[str, str]


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    scale: str
    runs: tuple[Run, ...]
    source: str
    published: tuple[tuple[str, str, float, str], ...] = ()  # (experiment, label, accuracy %, source)
    claims: tuple[Claim, ...] = ()

    def only(self, experiments: list[str]) -> "Suite":
        """The suite cut to the runs (and published figures) of `experiments`; SuiteError
        names an experiment the suite does not have."""
        unknown = [e for e in experiments if e not in self.experiments]
        if unknown:
            raise SuiteError(f"{self.source}: no experiment {unknown[0]!r} (it has {', '.join(self.experiments)})")
        return dataclasses.replace(self, runs=tuple(r for r in self.runs if r.experiment in experiments),
                                   published=tuple(p for p in self.published if p[0] in experiments),
                                   claims=tuple(c for c in self.claims if {c.better[0], c.worse[0]} <= set(experiments)))

    @property
    def experiments(self) -> list[str]:
        """Its experiments, in order."""
        return list(dict.fromkeys(r.experiment for r in self.runs))

    def stages(self) -> list[Stage]:
        """Every distinct stage, each before the stages that read it."""
        seen: dict[str, Stage] = {}
        for run in self.runs:
            for stage in run.stages:
                seen.setdefault(stage.key, stage)
        return list(seen.values())


def builtin_suites() -> dict[str, Path]:
    """The suites shipped with the package, by name."""
    return {p.stem: p for p in sorted(BUILTIN.glob("*.yaml"))}


def load_suite(source: str, scale: str = "tiny") -> Suite:
    """A suite file (or the name of a built-in suite) expanded at `scale`; SuiteError says
    in one line what is wrong."""
    path = Path(source)
    if not path.exists() and source in builtin_suites():
        path = builtin_suites()[source]
    if scale not in SCALES:
        raise SuiteError(f"unknown scale {scale!r} (use {', '.join(SCALES)})")
    try:
        text = path.read_bytes().decode("utf-8")
        spec = yaml.safe_load(text)
    except FileNotFoundError:
        known = ", ".join(builtin_suites())
        raise SuiteError(f"{source}: no such suite file or built-in suite (built-in: {known})") from None
    except OSError as e:
        raise SuiteError(f"{source}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise SuiteError(f"{source}: not a YAML text file (byte {e.start} is not UTF-8)") from None
    except yaml.YAMLError as e:
        raise SuiteError(f"{source}: not valid YAML ({' '.join(str(e).split())[:200]})") from None
    return expand(spec, scale, str(path))


def expand(spec, scale: str, source: str = "<suite>") -> Suite:
    """The runs of a parsed suite at `scale`."""
    def fail(message: str) -> SuiteError:
        return SuiteError(f"{source}: {message}")

    if not isinstance(spec, dict):
        raise fail("expected a mapping with name, base and experiments")
    unknown = sorted(set(spec) - set(SUITE_KEYS))
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (known: {', '.join(SUITE_KEYS)})")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise fail("needs a name")
    base = spec.get("base") or {}
    if not isinstance(base, dict) or set(base) - set(SECTIONS):
        raise fail(f"base must map {', '.join(SECTIONS)} to settings")
    base = copy.deepcopy(base)
    seeds = spec.get("seeds", [0])
    overrides = (spec.get("scales") or {}).get(scale) or {}
    if not isinstance(overrides, dict):
        raise fail(f"scales.{scale} must be a mapping of dotted keys")
    for key, value in overrides.items():
        if key == "seeds":
            seeds = value
        else:
            _set(base, key, value, fail, f"scales.{scale}")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise fail("seeds must be a non-empty list of non-negative integers")
    experiments = spec.get("experiments")
    if not isinstance(experiments, dict) or not experiments:
        raise fail("needs experiments: a mapping of experiment names to their settings")
    runs, published, labels = [], [], {}
    here = Path(source).parent if Path(source).is_file() else Path.cwd()  # where `models` paths start
    for exp_name, exp in experiments.items():
        exp = exp or {}
        if not isinstance(exp, dict):
            raise fail(f"experiment {exp_name}: expected a mapping")
        bad = sorted(set(exp) - set(EXPERIMENT_KEYS))
        if bad:
            raise fail(f"experiment {exp_name}: unknown key {bad[0]!r} (known: {', '.join(EXPERIMENT_KEYS)})")
        unscaled = {_label(dict(f)) for f in _points({k: v for k, v in exp.items() if k in ("grid", "runs")},
                                                     exp_name, fail)}
        at_scale = (exp.get("scales") or {}).get(scale) or {}
        if not isinstance(at_scale, dict) or set(at_scale) - {"set", "grid", "runs"}:
            raise fail(f"experiment {exp_name}: scales.{scale} may replace set, grid or runs")
        exp = {**{k: v for k, v in exp.items() if k != "scales" and not (k in ("grid", "runs") and
                                                                        ({"grid", "runs"} & set(at_scale)))},
               **at_scale}
        settings = copy.deepcopy(base)
        for key, value in (exp.get("set") or {}).items():
            _set(settings, key, value, fail, f"experiment {exp_name}")
        points: dict[str, tuple[dict, dict]] = {}
        for factors in _points(exp, exp_name, fail):
            given = factors.pop("label", None)
            if given is not None and (not isinstance(given, str) or not given.strip()):
                raise fail(f"experiment {exp_name}: a run's label must be a non-empty string")
            point = copy.deepcopy(settings)
            for key, value in factors.items():
                _set(point, key, value, fail, f"experiment {exp_name}")
            _resolve_models(point, here)
            label = given or _label(factors)
            if label in points:
                raise fail(f"experiment {exp_name}: two runs labelled {label!r}")
            points[label] = factors, point
        for label, (factors, point) in points.items():
            for seed in seeds:
                teacher = _teacher(point, points, exp_name, label, seed, fail)
                runs.append(_run(exp_name, label, factors, seed, point, fail, teacher))
        published += _published(exp, exp_name, set(points), unscaled, fail)
        labels[exp_name] = unscaled
    claims = _claims(spec.get("claims"), runs, labels, fail)
    return Suite(name, str(spec.get("description", "")), scale, tuple(runs), source, tuple(published), claims)


def _claims(entries, runs: list[Run], unscaled: dict[str, set[str]], fail) -> tuple[Claim, ...]:
    """The suite's claims between runs at this scale; one whose run only another scale has
    (a data size it replaces) is left out."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise fail("claims must be a list of {claim, better, worse}")
    data = {(r.experiment, r.label): r.evaluation.inputs[1] for r in runs}
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"claim", "better", "worse"}:
            raise fail("each claim needs exactly claim, better and worse")
        sides = []
        for side in (entry["better"], entry["worse"]):
            exp, _, label = str(side).partition("/")
            if exp not in unscaled or (label not in unscaled[exp] and (exp, label) not in data):
                raise fail(f"claim {entry['claim']!r}: {side!r} is not EXPERIMENT/LABEL of a run of the suite")
            sides.append((exp, label))
        if not all(s in data for s in sides):
            continue
        if data[sides[0]] != data[sides[1]]:
            raise fail(f"claim {entry['claim']!r}: {entry['better']!r} and {entry['worse']!r} are tested on "
                       "different questions")
        out.append(Claim(str(entry["claim"]), *sides))
    return tuple(out)


def _label(factors: dict) -> str:
    """A run's label: its `label`, else its factor values (`train.lr=0.001`), else base."""
    if "label" in factors:
        return str(factors["label"])
    return ",".join(f"{k}={_text(v)}" for k, v in factors.items()) or "base"


def _published(exp: dict, name: str, labels: set[str], unscaled: set[str], fail) -> list[tuple[str, str, float, str]]:
    """An experiment's published figures for its runs at this scale (`labels`); a figure
    must name a run at this scale or of the experiment's own grid or runs (`unscaled`:
    a data size that a small scale replaces)."""
    figures = exp.get("published") or {}
    if not isinstance(figures, dict):
        raise fail(f"experiment {name}: published must map run labels to {{accuracy, source}}")
    out = []
    for label, entry in figures.items():
        if label not in labels | unscaled:
            raise fail(f"experiment {name}: published figure for {label!r}, which is not one of its runs "
                       f"({', '.join(sorted(labels | unscaled))})")
        if not isinstance(entry, dict) or not isinstance(entry.get("accuracy"), (int, float)) or "source" not in entry:
            raise fail(f"experiment {name}: published {label}: give accuracy (%) and source")
        if label in labels:
            out.append((name, label, float(entry["accuracy"]), str(entry["source"])))
    return out


def _points(exp: dict, name: str, fail) -> list[dict]:
    """The factor values of each run of an experiment."""
    if "grid" in exp and "runs" in exp:
        raise fail(f"experiment {name}: give a grid or runs, not both")
    if "grid" in exp:
        grid = exp["grid"]
        if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) for v in grid.values()):
            raise fail(f"experiment {name}: grid must map dotted keys to lists of values")
        if any(not v for v in grid.values()):
            empty = next(k for k, v in grid.items() if not v)
            raise fail(f"experiment {name}: a grid of zero runs ({empty} has no values)")
        keys = list(grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    if "runs" in exp:
        if not isinstance(exp["runs"], list) or not exp["runs"] or not all(isinstance(r, dict) for r in exp["runs"]):
            raise fail(f"experiment {name}: runs must be a non-empty list of mappings of dotted keys")
        return [dict(r) for r in exp["runs"]]
    return [{}]


def _set(settings: dict, key: str, value, fail, where: str) -> None:
    """Set a dotted key (`train.lr`, `pretrain.data.csg`); None removes it (`train: null`:
    evaluate the pretrained network directly)."""
    parts = str(key).split(".")
    if parts[0] not in SECTIONS:
        raise fail(f"{where}: unknown factor {key!r} (keys start with {', '.join(SECTIONS)})")
    node = settings
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise fail(f"{where}: {key!r}: {part} is a value, not a section")
        node = child
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = copy.deepcopy(value)


def _text(value) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def _teacher(point: dict, points: dict, experiment: str, label: str, seed: int, fail) -> tuple[Stage, ...]:
    """The stages of the run whose pretraining is this run's teacher (`pretrain.teacher:
    {run: LABEL}`), ending with that pretraining; none without a teacher run."""
    teacher = (point.get("pretrain") or {}).get("teacher")
    if not isinstance(teacher, dict):
        return ()
    name = teacher.get("run")
    where = f"experiment {experiment} ({label})"
    if set(teacher) != {"run"} or name not in points or name == label:
        raise fail(f"{where}: pretrain.teacher: {{run: LABEL}} names another run of the experiment "
                   f"({', '.join(sorted(set(points) - {label}))})")
    source = points[name][1]
    if not isinstance(source.get("pretrain"), dict) or isinstance(source["pretrain"].get("teacher"), dict):
        raise fail(f"{where}: the teacher run {name!r} has no pretraining of its own to teach with")
    stages = _run(experiment, name, points[name][0], seed, source, fail).stages
    return tuple(s for s in stages if s.kind in ("generate", "pretrain"))[-2:]


def _run(experiment: str, label: str, factors: dict, seed: int, settings: dict, fail,
         teacher: tuple[Stage, ...] = ()) -> Run:
    """A run's stages: generate its data (and its pretraining data; its teacher's stages),
    pretrain, train, evaluate on the data's test split."""
    from ..methods import method_names

    where = f"experiment {experiment} ({label})"
    data = settings.get("data")
    if not isinstance(data, dict) or "task" not in data:
        raise fail(f"{where}: data needs a task (a spare3d generate recipe)")
    stages = [generated := Stage("generate", _recipe(data, fail, where))]
    evaluated = None
    pretrain = settings.get("pretrain")
    if pretrain is not None:
        if not isinstance(pretrain, dict) or not isinstance(pretrain.get("data"), dict) or "method" not in pretrain:
            raise fail(f"{where}: pretrain needs a method and its own data recipe")
        if pretrain["method"] not in method_names():
            raise fail(f"{where}: unknown method {pretrain['method']!r} (known: {', '.join(method_names())})")
        source = Stage("generate", _recipe(pretrain["data"], fail, where))
        flags = {k: v for k, v in pretrain.items() if k != "data" and not (k == "teacher" and teacher)}
        inputs = (source.key,) + ((teacher[-1].key,) if teacher else ())
        evaluated = Stage("pretrain", {**_flags(flags, fail, where), "seed": seed}, inputs)
        stages += [*teacher, source, evaluated]
    train = settings.get("train")
    if train is not None:
        if not isinstance(train, dict) or ("model" not in train and pretrain is None):
            raise fail(f"{where}: train needs a model (or a pretrain, whose network it fine-tunes)")
        if "method" in train:
            raise fail(f"{where}: train runs the supervised method; put pretraining methods under pretrain")
        inputs = (generated.key,) + ((evaluated.key,) if evaluated else ())
        evaluated = Stage("train", {**_flags(train, fail, where), "seed": seed}, inputs)
        stages.append(evaluated)
    if evaluated is None:
        raise fail(f"{where}: nothing to evaluate: give train, pretrain or both")
    stages.append(Stage("evaluate", {"split": "test"}, (evaluated.key, generated.key)))
    return Run(experiment, label, factors, seed, settings, tuple(stages))


def _resolve_models(settings: dict, base: Path) -> None:
    """Make the `models` paths of a run's data recipes (its own, its pretraining's) absolute,
    relative to the suite file's folder, as a recipe file's are to its own; a value that is
    no path is left for `_recipe` to refuse."""
    from ..cli import model_paths

    for recipe in (settings.get("data"), (settings.get("pretrain") or {}).get("data")):
        if isinstance(recipe, dict) and "models" in recipe:
            with contextlib.suppress(ValueError):
                recipe["models"] = model_paths(recipe["models"], base)


def _recipe(data: dict, fail, where: str) -> dict:
    """A generate recipe checked against the recipe keys. Your own model files (`models`:
    files, folders or globs) enter the stage hash by their content (`models_sha256`), not by
    where they lie."""
    from ..cli import RECIPE_KEYS

    bad = sorted(set(data) - set(RECIPE_KEYS))
    if bad:
        raise fail(f"{where}: unknown data setting {bad[0]!r} (known: {', '.join(RECIPE_KEYS)})")
    if ("csg" in data) == ("models" in data):
        raise fail(f"{where}: data needs csg (the number of CSG models) or models (your own files), one of them")
    recipe = {k: data[k] for k in sorted(data)}
    if "models" in data:
        from renderers.batch import expand_inputs

        if not isinstance(data["models"], list) or not data["models"]:
            raise fail(f"{where}: models must be a path or a list of paths (files, folders or globs)")
        files, missing = expand_inputs([str(m) for m in data["models"]])
        if missing:
            raise fail(f"{where}: models: {missing[0].source}: {missing[0].error}")
        digest = hashlib.sha256()
        for f in files:
            stat = f.stat()
            digest.update(f"{f.name}\0{_file_sha256(str(f), stat.st_size, stat.st_mtime_ns)}\n".encode())
        recipe["models_sha256"] = digest.hexdigest()
    return recipe


@lru_cache(maxsize=65536)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """A file's content hash, read once per (path, size, modification time): every run and
    seed of a suite names the same model files."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _flags(settings: dict, fail, where: str) -> dict:
    for key in ("data", "out", "init", "resume"):
        if key in settings:
            raise fail(f"{where}: {key} is set by the harness")
    return {k: settings[k] for k in sorted(settings)}


def argv(settings: dict) -> list[str]:
    """Flags of a stage's settings: `batch_size: 4` -> --batch-size 4; true -> a bare flag;
    a mapping -> NAME=VALUE pairs; a list -> the flag repeated."""
    out: list[str] = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, dict):
            for k, v in value.items():
                out += [flag, f"{k}={v}"]
        elif isinstance(value, list) and key != "split":
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return out
