"""Shared test helpers: where the real CAD/mesh fixtures live, and small OCCT parts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("SPARE3D_FIXTURES", ROOT.parent / "shared" / "fixtures"))


def fixture_path(rel: str) -> Path:
    """Path of a file in ../shared/fixtures; skips the test when the folder is absent."""
    p = FIXTURES / rel
    if not p.exists():
        pytest.skip(f"fixture {rel} not found under {FIXTURES}")
    return p


@pytest.fixture(scope="session")
def box_with_hole():
    """A 40 x 20 x 30 mm box with a vertical (z) through-hole of radius 5 at x=20, y=10."""
    from renderers import occ

    return occ.cut(occ.box(40, 20, 30), occ.cylinder(5, 30, origin=(20, 10, 0)))
