"""Typed option sets for plug-ins: a model's architecture switches, a method's settings.

A plug-in declares its options as a frozen dataclass whose fields carry a default and, in
their metadata, a `help` text and optionally `choices` or a `range` (low, high). The same
declaration serves the command line (`--arch share=1`, a method's own flags), the saved
run configuration (plain JSON values) and the docs. Values arrive as strings from the
command line or as JSON values from a saved configuration; `parse_options` checks and
converts both, with a one-line error naming the option.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def option(default: Any, help: str, choices: tuple | None = None, range: tuple[float, float] | None = None):
    """A dataclass field declaring one option (see the module docstring)."""
    from dataclasses import field

    return field(default=default, metadata={"help": help, "choices": choices, "range": range})


def _convert(f, value: Any, where: str) -> Any:
    """`value` (a string or a JSON value) as field `f`'s type, checked against its choices
    and range; ValueError names the option."""
    kind = type(f.default)
    try:
        if kind is bool:
            if isinstance(value, bool):
                out = value
            elif str(value).strip().lower() in _TRUE:
                out = True
            elif str(value).strip().lower() in _FALSE:
                out = False
            else:
                raise ValueError
        elif kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out = int(value)
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if not math.isfinite(out):
                raise ValueError
        else:
            out = str(value)
    except (TypeError, ValueError):
        expected = {bool: "yes or no (1/0, true/false)", int: "an integer", float: "a finite number"}.get(kind, "text")
        raise ValueError(f"{where} {f.name}: expected {expected}, got {value!r}") from None
    choices, span = f.metadata.get("choices"), f.metadata.get("range")
    if choices is not None and out not in choices:
        raise ValueError(f"{where} {f.name}: {out!r} is not one of {', '.join(map(str, choices))}")
    if span is not None and not span[0] <= out <= span[1]:
        raise ValueError(f"{where} {f.name}: must be from {span[0]:g} to {span[1]:g}, got {out!r}")
    return out


def parse_options(cls: type, given: dict[str, Any] | None, where: str) -> Any:
    """An instance of the options dataclass `cls` from `given` (name -> value, strings or
    JSON values; names may use '-' for '_'); the others keep their defaults. ValueError
    for an unknown name or a bad value, naming it and `where` (e.g. "--arch")."""
    known = {f.name: f for f in fields(cls)}
    values = {}
    for name, value in (given or {}).items():
        key = name.replace("-", "_")
        if key not in known:
            listed = ", ".join(known) if known else "none"
            raise ValueError(f"{where}: unknown option {name!r} (known: {listed})")
        values[key] = _convert(known[key], value, where)
    return cls(**values)


def split_pairs(items: list[str] | None, where: str) -> dict[str, str]:
    """['share=1', 'width=0.75'] -> {'share': '1', 'width': '0.75'}; ValueError for an item
    without '=' or a name given twice."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{where}: expected NAME=VALUE, got {item!r}")
        if name.strip() in out:
            raise ValueError(f"{where}: {name.strip()} is given twice")
        out[name.strip()] = value.strip()
    return out


def options_dict(options: Any) -> dict[str, Any]:
    """The options as plain JSON values (what a run's config.json records)."""
    return asdict(options)


def describe(cls: type) -> list[tuple[str, str, str]]:
    """(name, default, help) of every option of `cls`, for --help texts and the docs."""
    rows = []
    for f in fields(cls):
        default = f.default if f.default is not MISSING else ""
        if isinstance(default, bool):
            default = "yes" if default else "no"
        text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            text += f" ({', '.join(map(str, f.metadata['choices']))})"
        rows.append((f.name, str(default), text))
    return rows


@dataclass(frozen=True)
class NoOptions:
    """The options of a plug-in that has none."""
