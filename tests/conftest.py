"""Shared test helpers: where the real CAD/mesh fixtures live, small OCCT parts, Ctrl-C of
a running `spare3d` command, a headless browser, and small question sets of each task
(3-primitive SPARE3D-CSG models at 64 px) for the solvers that are not our networks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# `make test` runs pytest-xdist workers (two by default): each worker and the commands it starts
# get one compute thread, as two workers of two threads each on two cores spend their time
# waiting for each other (the suite ran 44% longer than on one worker).
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"
FIXTURES = Path(os.environ.get("SPARE3D_FIXTURES", ROOT.parent / "shared" / "fixtures"))


def fixture_path(rel: str) -> Path:
    """Path of a file in ../shared/fixtures; skips the test when the folder is absent."""
    p = FIXTURES / rel
    if not p.exists():
        pytest.skip(f"fixture {rel} not found under {FIXTURES}")
    return p


def ctrl_c_when(p: subprocess.Popen, ready: Callable[[], bool], timeout: float = 120, group: bool = False) -> str:
    """Send Ctrl-C to the `spare3d` command `p` once `ready()` holds; check that it stopped
    as promised (exit 130, told to resume, no traceback) and return its stderr. `group`:
    to its whole process group, as a terminal does (`p` must lead a session of its own)."""
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.01)
    if group:
        os.killpg(p.pid, signal.SIGINT)
    else:
        p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=timeout)
    assert p.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    return err


@pytest.fixture(scope="session")
def box_with_hole():
    """A 40 x 20 x 30 mm box with a vertical (z) through-hole of radius 5 at x=20, y=10."""
    from renderers import occ

    return occ.cut(occ.box(40, 20, 30), occ.cylinder(5, 30, origin=(20, 10, 0)))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium driven by Selenium: Debian's `chromium` and `chromedriver`
    (.ci/system-deps installs them), nothing downloaded; skips where they are missing.
    One per test module, so no browser lingers through the rest of the suite; its
    temporary folders go under pytest's, not /tmp."""
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/system-deps installs them)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(flag)
    env = {**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("chromium"))}
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver, env=env))
    yield chrome
    chrome.quit()


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
