"""The method and model registries and typed options: found without importing the
others, from a source checkout too, and options checked in one line."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from spare3d_bench.options import NoOptions, describe, option, options_dict, parse_options, split_pairs


@dataclass(frozen=True)
class _Opts:
    share: bool = option(False, "share")
    fc: int = option(3, "layers", choices=(1, 3))
    width: float = option(1.0, "width", range=(0.25, 4.0))
    head: str = option("joint", "head", choices=("joint", "cosine"))


def test_options_are_typed_from_strings_and_json_values():
    o = parse_options(_Opts, {"share": "yes", "fc": "1", "width": "0.75"}, "--arch")
    assert o == _Opts(True, 1, 0.75, "joint")
    assert parse_options(_Opts, options_dict(o), "--arch") == o  # a saved config reads back the same
    assert parse_options(_Opts, {"share": 0, "fc": 3.0}, "--arch") == _Opts(False, 3)
    assert describe(_Opts)[0] == ("share", "no", "share")
    assert parse_options(NoOptions, {}, "x") == NoOptions()


@pytest.mark.parametrize("given, message", [
    ({"shares": "1"}, "--arch: unknown option 'shares' (known: share, fc, width, head)"),
    ({"share": "maybe"}, "--arch share: expected yes or no"),
    ({"fc": "2"}, "--arch fc: 2 is not one of 1, 3"),
    ({"fc": "1.5"}, "--arch fc: expected an integer"),
    ({"width": "nan"}, "--arch width: expected a finite number"),
    ({"width": "8"}, "--arch width: must be from 0.25 to 4"),
    ({"head": "dot"}, "--arch head: 'dot' is not one of joint, cosine"),
])
def test_bad_options_are_one_line_naming_them(given, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_options(_Opts, given, "--arch")


def test_name_value_pairs():
    assert split_pairs(["a=1", "b = x=y"], "--arch") == {"a": "1", "b": "x=y"}
    for bad, message in ((["a"], "expected NAME=VALUE"), (["a=1", "a=2"], "a is given twice")):
        with pytest.raises(ValueError, match=message):
            split_pairs(bad, "--arch")


def test_a_source_checkout_finds_its_own_plug_ins_in_setup_cfg(monkeypatch):
    """On a GPU box without a package index the project runs from PYTHONPATH=. and has no
    installed metadata: its own models and methods still register."""
    import spare3d_bench.models as models

    installed = {ep.name: ep.value for ep in models.plugin_entry_points("spare3d.methods")}
    monkeypatch.setattr(models, "entry_points", lambda group: [])
    from_checkout = {ep.name: ep.value for ep in models.plugin_entry_points("spare3d.methods")}
    assert from_checkout == installed and "view-comparison" in from_checkout
    assert {ep.name for ep in models.plugin_entry_points("spare3d.models")} >= {"early", "late", "compare", "pose"}


def test_a_broken_plug_in_is_one_line_and_does_not_break_the_others(monkeypatch):
    pytest.importorskip("torch")
    from importlib.metadata import EntryPoint

    import spare3d_bench.models as models

    real = models.plugin_entry_points

    def with_broken(group):
        return [*real(group), EntryPoint("broken", "no_such_package.mod:Cls", group)]

    monkeypatch.setattr(models, "plugin_entry_points", with_broken)
    assert models.model_class("vgg13-early").__name__ == "EarlyFusion"  # only the asked-for plug-in is loaded
    with pytest.raises(RuntimeError, match="the model plug-in 'broken' .* cannot be loaded: No module named 'no_such_package'"):
        models.model_class("vgg13-broken")
