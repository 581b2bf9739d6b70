"""Attention maps: a row per drawing an encoder reads, a map per stage, for every kind of
model; the maps follow the lines; the command writes one figure per question."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from spare3d_bench.attention import attention_maps  # noqa: E402
from spare3d_bench.models import TaskSpec, build_model  # noqa: E402


def _question(k: int = 4):
    views = torch.ones(1, 3, 3, 32, 32)
    candidates = torch.ones(1, k, 3, 32, 32)
    return views, candidates, torch.ones(1, dtype=torch.long)


@pytest.mark.parametrize("model, calls, rows, stages", [
    ("vgg13-early", 1, [4], 5),  # the four candidate stacks through one VGG: five poolings
    ("resnet18-late", 2, [1, 4], 4),  # the views' branch once, the candidates' four times
    ("resnet18-compare", 4, [1, 1, 1, 4], 4),  # f, r, t encoders once, the isometric encoder per candidate
])
def test_every_backbone_call_gives_a_map_per_stage(model, calls, rows, stages):
    torch.manual_seed(0)
    arch = {"hidden": 8} if model.endswith("compare") else None
    net = build_model(model, TaskSpec("t2i", 3, 8, 32), arch=arch)
    found, scores = attention_maps(net, *_question())
    assert scores.shape == (1, 4) and len(found) == calls
    assert [len(c.inputs) for c in found] == rows and all(len(c.maps) == stages for c in found)
    for c in found:
        for m in c.maps:
            assert m.shape == (len(c.inputs), 32, 32) and m.min() >= 0 and m.max() <= 1


def test_the_first_stage_responds_where_the_lines_are():
    """A black square on white: away from it the input is uniform and so is the map; the
    largest departure from the map's background lies on the square's outline."""
    torch.manual_seed(0)
    net = build_model("vgg13-early", TaskSpec("t2i", 3, 8, 64))
    views, candidates, pose = torch.ones(1, 3, 3, 64, 64), torch.ones(1, 4, 3, 64, 64), torch.ones(1, dtype=torch.long)
    candidates[:, :, :, 40:50, 10:20] = 0
    views[:, :, :, 40:50, 10:20] = 0
    found, _ = attention_maps(net, views, candidates, pose)
    first = found[0].maps[0][0]
    y, x = np.unravel_index(np.abs(first - np.median(first)).argmax(), first.shape)
    assert 36 <= y <= 53 and 6 <= x <= 23, (y, x)


def test_the_command_writes_a_figure_per_question(tmp_path):
    from spare3d_bench.cli import main
    from spare3d_bench.csg import CSGRecipe
    from spare3d_bench.generate import GenerateConfig, generate
    from spare3d_bench.tasks import TaskOptions

    data = tmp_path / "d"
    generate(GenerateConfig("i2p", 8, seed=2, recipe=CSGRecipe(3), options=TaskOptions(size=32), split=(0.5, 0.25, 0.25),
                            layout="packed"), data, progress=False)
    run = tmp_path / "run"
    assert main(["train", "--model", "resnet18-early", "--data", str(data), "--out", str(run), "--epochs", "1",
                 "--batch-size", "2", "--device", "cpu", "--quiet"]) == 0
    assert main(["attention", str(run), "--data", str(data), "--questions", "2", "--out", str(tmp_path / "maps"),
                 "--device", "cpu"]) == 0
    figures = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert figures == ["0.png", "1.png"] and (tmp_path / "maps" / "0.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as e:  # a split name is a plain name
        main(["attention", str(run), "--data", str(data), "--out", str(tmp_path / "m2"), "--split", "../x"])
    assert e.value.code == 2
