"""Small real question sets of each task that solvers answer (T2I, I2P, P2I), made once per
test session: 3-primitive SPARE3D-CSG models at 64 px."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def solver_data(tmp_path_factory) -> dict[str, Path]:
    """Dataset folders by task, each with a test split of 8 questions."""
    pytest.importorskip("OCP")
    from spare3d_bench.csg import CSGRecipe
    from spare3d_bench.generate import GenerateConfig, generate
    from spare3d_bench.tasks import TaskOptions

    root = tmp_path_factory.mktemp("solver_data")
    out = {}
    for task in ("t2i", "i2p", "p2i"):
        config = GenerateConfig(task, 16, seed=11, recipe=CSGRecipe(primitives=3), options=TaskOptions(size=64),
                                split=(0.5, 0.0, 0.5), layout="packed")
        generate(config, root / task, progress=False)
        out[task] = root / task
    return out
