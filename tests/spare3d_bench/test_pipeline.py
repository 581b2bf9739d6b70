"""Generation as a journalled job: faults, kill -9 and resume, Ctrl-C, a full disk, Dask."""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import renderers
from spare3d_bench import generate as gen
from spare3d_bench.csg import CSGRecipe
from spare3d_bench.generate import GenerateConfig, generate, verify
from spare3d_bench.pipeline import JobMismatch
from spare3d_bench.tasks import TaskOptions
from tests.conftest import ctrl_c_when

from .test_generate import _tree

ROOT = Path(__file__).resolve().parents[2]
SMALL = CSGRecipe(primitives=4)
OPTS = TaskOptions(size=64)
JOB = ["generate", "i2p", "--csg", "16", "--primitives", "4", "--size", "64", "--seed", "5", "--quiet"]


def _spare3d(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, **kw.pop("env", {})}
    return subprocess.Popen([sys.executable, "-m", "spare3d_bench.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _run(args: list[str], **kw) -> tuple[int, str, str]:
    p = _spare3d(args, **kw)
    out, err = p.communicate(timeout=300)
    return p.returncode, out, err


def _finished_by(out: Path) -> dict[int, int]:
    """{unit: the run that finished it} from the journal of a stopped job."""
    path = out / ".spare3d" / "journal.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT id, run FROM units WHERE state = 'done'"))
    except sqlite3.OperationalError:  # killed before the tables were made
        return {}
    finally:
        db.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The uninterrupted job's dataset files."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    rc, _, err = _run([*JOB, "--workers", "2", "--out", str(out)])
    assert rc == 0, err
    return _tree(out)


def test_faults_cost_their_question_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPARE3D_FAULT", "segv:1,hang:2,raise:4")
    cfg = GenerateConfig("i2p", 6, seed=3, recipe=SMALL, options=OPTS, split=(1, 0, 0))
    card = generate(cfg, tmp_path, workers=2, progress=False, timeout=2)
    assert card["failed"] == {
        "1": "worker crashed (SIGSEGV)",
        "2": "timed out after 2 s",
        "4": "RuntimeError: injected fault in question 4",
    }
    assert card["questions"]["train"] == 3 and verify(tmp_path) == []
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["done"] == 3 and report["failed"] == 3 and report["run"]["retried"] == 3
    assert report["questions"]["train"] == 3 and report["failed_by_reason"]["worker crashed (SIGSEGV)"] == 1
    db = sqlite3.connect(tmp_path / ".spare3d" / "journal.sqlite")
    assert dict(db.execute("SELECT id, attempts FROM units WHERE state = 'failed'")) == {1: 2, 2: 2, 4: 2}
    db.close()
    from spare3d_bench.cli import main

    assert main(["status", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "6 questions: 3 done (kept 3), 3 failed, 0 pending; assembled" in text
    assert "failed 1: worker crashed (SIGSEGV) (questions 1 (csg:3:1))" in text


def test_retrying_failed_questions_gives_the_dataset_of_a_run_without_failures(tmp_path, monkeypatch):
    """A plain re-run keeps the failures; --retry-failed builds them and re-assembles into
    the same bytes as a job that never failed."""
    cfg = GenerateConfig("i2p", 6, seed=3, recipe=SMALL, options=OPTS, split=(0.5, 0.5, 0))
    clean = generate(cfg, tmp_path / "clean", progress=False)
    assert not clean["failed"]
    out = tmp_path / "job"
    monkeypatch.setenv("SPARE3D_FAULT", "raise:0,raise:4")
    first = generate(cfg, out, progress=False)
    assert set(first["failed"]) == {"0", "4"} and _tree(out) != _tree(tmp_path / "clean")
    monkeypatch.delenv("SPARE3D_FAULT")
    assert set(generate(cfg, out, progress=False)["failed"]) == {"0", "4"}  # not retried unless asked
    freed = tmp_path / "freed"
    shutil.copytree(out, freed)
    again = generate(cfg, out, progress=False, retry_failed=True)
    assert again["report"]["run"]["done"] == 2 and again["report"]["run"]["skipped"] == 4
    assert not again["failed"] and _tree(out) == _tree(tmp_path / "clean") and verify(out) == []
    db = sqlite3.connect(freed / ".spare3d" / "journal.sqlite")  # as an older version left it
    with db:
        db.execute("UPDATE units SET result = NULL")
    db.close()
    with pytest.raises(ValueError, match="freed after assembly"):
        generate(cfg, freed, progress=False, retry_failed=True)


def test_kill_at_random_points_then_resume_gives_the_same_bytes(tmp_path, reference):
    out = tmp_path / "ds"
    rng = random.Random(7)
    finished: dict[int, int] = {}
    partial = []
    # Kill after a random number of questions is recorded (progress, not wall time: start-up
    # time varies with the machine's load), plus a random few ms so the kill lands inside
    # other questions' commits and writes; the last kill comes once all 16 are recorded,
    # i.e. during assembly (the dataset's writes).
    for target in sorted(rng.sample(range(2, 15), 3)) + [16]:
        p = _spare3d([*JOB, "--workers", "2", "--out", str(out)])
        deadline = time.monotonic() + 120
        while p.poll() is None and time.monotonic() < deadline and len(_finished_by(out)) < target:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.02))
        p.kill()
        p.communicate()
        now = _finished_by(out)
        assert all(now[u] == run for u, run in finished.items())  # nothing finished is done again
        finished = now
        partial.append(0 < len(now) < 16)
    assert any(partial)  # at least one kill landed with some questions done and some not
    rc, _, err = _run([*JOB, "--workers", "2", "--out", str(out)])
    assert rc == 0, err
    assert all(_finished_by(out)[u] == run for u, run in finished.items())
    assert _tree(out) == reference and verify(out) == []


def test_ctrl_c_stops_after_the_units_in_flight_then_resumes(tmp_path, reference):
    out = tmp_path / "ds"
    p = _spare3d([*JOB, "--workers", "1", "--out", str(out)])
    ctrl_c_when(p, lambda: bool(_finished_by(out)))
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "interrupted" and report["pending"] > 0
    rc, text, _ = _run(["status", str(out)])  # nothing holds the folder's lock any more
    assert rc == 0 and "stopped (no job running): run the same command again to resume" in text, text
    rc, _, err = _run([*JOB, "--workers", "2", "--out", str(out)])
    assert rc == 0, err
    assert _tree(out) == reference


def test_a_second_ctrl_c_stops_at_once_and_still_writes_the_report(tmp_path):
    out = tmp_path / "ds"
    p = _spare3d([*JOB, "--workers", "1", "--out", str(out)], env={"SPARE3D_FAULT": "hang:3"})
    deadline = time.monotonic() + 120
    while len(_finished_by(out)) < 3 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)  # question 3 hangs in flight: the first Ctrl-C waits for it
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "Traceback" not in err, err
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "interrupted" and report["done"] == 3 and report["pending"] == 13


def _limit_file_size() -> None:
    """A full disk, as far as this process can tell: writes past 1 MB fail (EFBIG): the
    journal (about 250 kB) is written, the packed drawings (6 MB) are not."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path):
    job = [*JOB, "--layout", "packed", "--size", "200", "--workers", "2"]
    rc, _, err = _run([*job, "--out", str(tmp_path / "full")], preexec_fn=_limit_file_size)
    assert rc == 1 and err.count("\n") == 1 and "cannot write to" in err and "File too large" in err, err
    hidden = [p for p in (tmp_path / "full").rglob(".*") if ".spare3d" not in p.parts]
    assert hidden == [] and not (tmp_path / "full" / "train" / "images.u8").exists()
    assert _run([*job, "--out", str(tmp_path / "full")])[0] == 0
    assert _run([*job, "--out", str(tmp_path / "ref")])[0] == 0
    assert _tree(tmp_path / "full") == _tree(tmp_path / "ref")


def test_other_settings_or_a_running_job_in_the_folder_are_refused(tmp_path, monkeypatch):
    cfg = GenerateConfig("i2p", 2, seed=3, recipe=SMALL, options=OPTS, split=(1, 0, 0))
    generate(cfg, tmp_path, progress=False)
    with pytest.raises(JobMismatch, match="other settings"):
        generate(GenerateConfig("i2p", 2, seed=4, recipe=SMALL, options=OPTS, split=(1, 0, 0)), tmp_path, progress=False)
    assert json.loads((tmp_path / "dataset.json").read_text())["drawing_revision"] == renderers.DRAWING_REVISION
    with monkeypatch.context() as m:  # code that draws differently: not resumed into this job
        m.setattr(gen, "DRAWING_REVISION", renderers.DRAWING_REVISION + 1)
        with pytest.raises(JobMismatch, match="other settings"):
            generate(cfg, tmp_path, progress=False)
    from spare3d_bench.generate import config_fingerprint
    from spare3d_bench.pipeline import Journal

    busy = Journal(tmp_path, config_fingerprint(cfg), cfg.n_questions)  # a job still running here
    with pytest.raises(JobMismatch, match="another job is writing"):
        generate(cfg, tmp_path, progress=False)
    busy.close()
    rc, _, err = _run(["status", str(tmp_path / "nothing")])
    assert rc == 2 and err.count("\n") == 1 and "no job journal" in err


def test_serial_and_dask_executors_give_the_same_bytes(tmp_path):
    pytest.importorskip("distributed")
    cfg = GenerateConfig("i2p", 6, seed=3, recipe=SMALL, options=OPTS)
    generate(cfg, tmp_path / "local", workers=2, progress=False)
    generate(cfg, tmp_path / "serial", progress=False, executor="serial")
    t0 = time.monotonic()
    generate(cfg, tmp_path / "dask", workers=2, progress=False, executor="dask")
    assert time.monotonic() - t0 < 60
    local = _tree(tmp_path / "local")
    assert _tree(tmp_path / "serial") == local and _tree(tmp_path / "dask") == local


def test_ctrl_c_at_a_terminal_stops_a_dask_job_too(tmp_path, reference):
    """A terminal's Ctrl-C reaches the whole process group: the LocalCluster's workers
    died of it, and the job waited for their results for ever."""
    pytest.importorskip("distributed")
    out = tmp_path / "ds"
    p = _spare3d([*JOB, "--executor", "dask", "--workers", "2", "--out", str(out)], start_new_session=True)
    try:
        ctrl_c_when(p, lambda: bool(_finished_by(out)), timeout=60, group=True)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    rc, _, err = _run([*JOB, "--workers", "2", "--out", str(out)])
    assert rc == 0, err
    assert _tree(out) == reference


def _running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_hung_workers_die_with_a_killed_job(tmp_path):
    p = _spare3d([*JOB, "--workers", "2", "--out", str(tmp_path)], env={"SPARE3D_FAULT": "hang:0,hang:1"})
    children: list[int] = []
    deadline = time.monotonic() + 60
    while len(children) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        children = [int(c) for c in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()]
    assert len(children) == 2
    p.kill()
    p.wait()  # not communicate(): an orphaned worker would hold the pipes open
    p.stdout.close()
    p.stderr.close()
    deadline = time.monotonic() + 30  # killed at once; slow to vanish only on a machine busy with I/O
    try:
        while any(_running(c) for c in children):
            assert time.monotonic() < deadline, "a worker outlived its job"
            time.sleep(0.1)
    finally:
        for c in filter(_running, children):
            os.kill(c, signal.SIGKILL)


def test_a_corrupt_stored_result_is_refused(tmp_path):
    from spare3d_bench.pipeline import Journal

    journal = Journal(tmp_path, "job", 2)
    with journal.transaction():
        journal.record_done(0, "kept", b"drawings", run=1, seconds=0.0)
    journal.db.execute("UPDATE units SET result = ? WHERE id = 0", (b"drawingz",))
    with pytest.raises(ValueError, match="stored result of unit 0 is corrupt"):
        list(journal.results())
    journal.close()


def test_status_knows_whether_a_job_holds_the_folder(tmp_path):
    from spare3d_bench.pipeline import Journal, job_running

    assert not job_running(tmp_path)
    journal = Journal(tmp_path, "settings", 3)
    assert job_running(tmp_path)  # a separate open of the lock file sees the job's lock
    journal.close()
    assert not job_running(tmp_path)


class _Elsewhere:
    """The serial executor run from another working folder, as a remote Dask worker is."""

    def __init__(self, cwd: Path) -> None:
        from renderers.executors import SerialExecutor

        self.inner, self.cwd = SerialExecutor(), cwd

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def map(self, fn, units):
        here = os.getcwd()
        os.chdir(self.cwd)
        try:
            yield from self.inner.map(fn, units)
        finally:
            os.chdir(here)


def test_a_relative_out_means_the_same_folder_to_workers_elsewhere(tmp_path, monkeypatch):
    """Relative --out (the default is datasets/output/...) used to reach workers as is: a
    remote Dask worker wrote saved models and drawings under its own working folder."""
    from renderers import batch
    from renderers.render import RenderOptions
    from renderers.views import parse_views

    worker_cwd = tmp_path / "worker"
    worker_cwd.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(gen, "make_executor", lambda *a, **k: _Elsewhere(worker_cwd))
    monkeypatch.setattr(batch, "make_executor", lambda *a, **k: _Elsewhere(worker_cwd))
    cfg = GenerateConfig("i2p", 2, seed=3, recipe=SMALL, options=OPTS, split=(1, 0, 0), save_models=True)
    card = generate(cfg, "ds", progress=False)
    assert not card["failed"]
    assert len(list((tmp_path / "ds" / "models").iterdir())) == 2
    sample = ROOT / "datasets" / "samples" / "bracket.step"
    (report,) = batch.run_batch(batch.name_tasks([sample]), "drawings", RenderOptions(tuple(parse_views("f")), formats=("png",)), progress=False)
    assert report.ok and (tmp_path / "drawings" / sample.stem / "f.png").is_file()
    assert list(worker_cwd.iterdir()) == []


def test_generating_into_a_folder_of_other_files_is_refused(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "notes.txt").write_text("mine")
    (tmp_path / ".cache.tmp").write_text("mine too")
    with pytest.raises(JobMismatch, match="holds other files and no generation job"):
        generate(GenerateConfig("i2p", 2, seed=3, recipe=SMALL, options=OPTS, split=(1, 0, 0)), tmp_path, progress=False)
    assert (tmp_path / "train" / "notes.txt").read_text() == "mine" and (tmp_path / ".cache.tmp").exists()
    assert not (tmp_path / ".spare3d").exists()


def test_a_failed_packed_write_leaves_no_temporary_even_if_closing_fails(tmp_path):
    """A full disk refuses the flush in close(): abort() must still remove the file."""
    import errno

    from spare3d_bench.packed import PackedWriter

    writer = PackedWriter(tmp_path, "i2p", 0)
    writer._fh.write(b"x" * 1000)
    real = writer._fh

    class Full:
        def close(self):
            real.close()
            raise OSError(errno.ENOSPC, "No space left on device")

    writer._fh = Full()
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_rerun_repairs_or_reports_a_damaged_finished_dataset(tmp_path, monkeypatch):
    """A re-run of a finished job used to say all was well over a deleted question folder,
    and 'cannot write' over a deleted card."""
    cfg = GenerateConfig("i2p", 6, seed=3, recipe=SMALL, options=OPTS, split=(1, 0, 0))
    kept = tmp_path / "kept"  # a failed question keeps the others stored in the journal...
    monkeypatch.setenv("SPARE3D_FAULT", "raise:4")
    generate(cfg, kept, progress=False)
    monkeypatch.delenv("SPARE3D_FAULT")
    before = _tree(kept)
    shutil.rmtree(kept / "train" / "0")
    generate(cfg, kept, progress=False)  # ...so the re-run assembles the dataset again
    assert _tree(kept) == before


@pytest.mark.parametrize("layout", ["spare3d", "packed"])
def test_a_rerun_rebuilds_only_the_damaged_questions_of_a_freed_dataset(tmp_path, layout):
    """A clean job frees its stored questions. A re-run said '6 skipped' over a truncated
    images.u8, and a deleted file meant rebuilding everything elsewhere: it now checks
    sizes, as render does, and rebuilds just the questions behind the damaged files."""
    cfg = GenerateConfig("i2p", 8, seed=3, recipe=SMALL, options=OPTS, split=(0.5, 0.5, 0), layout=layout)
    out = tmp_path / "ds"
    generate(cfg, out, progress=False)
    before = _tree(out)
    if layout == "spare3d":
        shutil.rmtree(out / "train" / "1")  # one question's drawings
        damaged = out / "val" / "0" / "0_f.png"
        damaged.write_bytes(damaged.read_bytes()[:100])  # one cut drawing of another
        rebuilt = 2
    else:
        images = out / "val" / "images.u8"
        images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])  # a split's packed file, cut
        rebuilt = json.loads((out / "dataset.json").read_text())["questions"]["val"]
    (out / "train" / ("answer.json" if layout == "spare3d" else "manifest.json")).unlink()
    if layout == "spare3d":
        (out / "dataset.json").unlink()
    card = generate(cfg, out, progress=False)
    extra = card["questions"]["train"] if layout == "packed" else 0  # a lost manifest rebuilds its split
    assert card["report"]["run"]["done"] == rebuilt + extra and card["report"]["repaired"]
    assert _tree(out) == before and verify(out) == []
    again = generate(cfg, out, progress=False)
    assert again["report"]["run"]["done"] == 0 and not again["report"]["repaired"]
    (out / "dataset.json").write_text("{}")  # the card alone: restored from the journal, nothing built
    assert generate(cfg, out, progress=False)["report"]["run"]["done"] == 0 and _tree(out) == before


def test_a_damaged_file_of_an_older_journal_is_reported(tmp_path):
    """A job assembled before the journal recorded where its questions went cannot be
    repaired: the damage is reported with what to do."""
    cfg = GenerateConfig("i2p", 4, seed=3, recipe=SMALL, options=OPTS, split=(1, 0, 0))
    out = tmp_path / "ds"
    generate(cfg, out, progress=False)
    db = sqlite3.connect(out / ".spare3d" / "journal.sqlite")
    db.execute("DELETE FROM meta WHERE key IN ('card', 'sizes', 'placed')")
    db.commit()
    db.close()
    generate(cfg, out, progress=False)  # nothing missing: skipped as before
    shutil.rmtree(out / "train" / "1")
    with pytest.raises(ValueError, match=r"finished, but train/1/.* is missing or damaged.*rebuild in a new folder"):
        generate(cfg, out, progress=False)


def test_an_assembly_that_fails_midway_leaves_no_card(tmp_path, monkeypatch):
    """Re-assembling a finished job deletes its split folders first: a disk that filled up
    midway left the old card beside half the questions, describing files that were gone."""
    cfg = GenerateConfig("i2p", 6, seed=3, recipe=SMALL, options=OPTS, split=(1, 0, 0))
    out = tmp_path / "ds"
    monkeypatch.setenv("SPARE3D_FAULT", "raise:4")  # a failed question keeps the others stored
    generate(cfg, out, progress=False)
    monkeypatch.delenv("SPARE3D_FAULT")
    before = _tree(out)
    shutil.rmtree(out / "train" / "0")  # the re-run assembles again
    real, calls = gen.write_question, []

    def full_disk(root, qid, q):
        calls.append(qid)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(root / qid))
        real(root, qid, q)

    monkeypatch.setattr(gen, "write_question", full_disk)
    with pytest.raises(OSError, match="No space left"):
        generate(cfg, out, progress=False)
    assert not (out / "dataset.json").exists() and (out / "train" / "1").is_dir()
    monkeypatch.setattr(gen, "write_question", real)
    generate(cfg, out, progress=False)  # the next run finishes the assembly
    assert _tree(out) == before


def test_a_model_file_edited_between_runs_is_not_mixed_into_the_job(tmp_path):
    samples = ROOT / "datasets" / "samples"
    models = tmp_path / "models"
    models.mkdir()
    for name in ("bracket.step", "slotted_block.step"):
        shutil.copy(samples / name, models / name)
    cfg = GenerateConfig("i2p", 2, seed=3, options=OPTS, split=(1, 0, 0), sources=tuple(str(p) for p in sorted(models.iterdir())))
    generate(cfg, tmp_path / "ds", progress=False)
    generate(cfg, tmp_path / "ds", progress=False)  # unchanged: the same job
    shutil.copy(samples / "csg_part.step", models / "bracket.step")
    with pytest.raises(JobMismatch, match="other contents of its model files"):
        generate(cfg, tmp_path / "ds", progress=False)
