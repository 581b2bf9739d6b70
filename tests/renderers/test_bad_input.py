"""Bad files and options give one clear line naming the file; batches survive them."""

from __future__ import annotations

import faulthandler
import json
import multiprocessing as mp
import os
import resource
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from renderers import batch, executors, occ
from renderers.cad import HLROptions, draw_file
from renderers.errors import RenderError
from renderers.render import MANIFEST, RenderOptions, image
from renderers.views import parse_views
from tests.conftest import fixture_path

EMPTY_STEP = """ISO-10303-21;
HEADER;
FILE_DESCRIPTION((''),'2;1');
FILE_NAME('empty','2020-01-01T00:00:00',(''),(''),'','','');
FILE_SCHEMA(('AUTOMOTIVE_DESIGN'));
ENDSEC;
DATA;
ENDSEC;
END-ISO-10303-21;
"""


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def bad_files(tmp_path):
    good = fixture_path("cad/screw.step").read_bytes()
    return {
        "missing": (tmp_path / "nope.step", "file not found"),
        "unknown": (_write(tmp_path / "model.xyz", "solid"), "unknown CAD extension"),
        "empty": (_write(tmp_path / "empty.step", b""), "file is empty"),
        "truncated": (_write(tmp_path / "truncated.step", good[: len(good) // 2]), "truncated STEP"),
        "garbage": (_write(tmp_path / "garbage.step", os.urandom(4096)), "not a STEP file"),
        "bad_body": (
            _write(tmp_path / "bad_body.stp", "ISO-10303-21;\nDATA;\n#1=FOO((;;\nENDSEC;\nEND-ISO-10303-21;\n"),
            "STEP file",
        ),
        "no_geometry": (_write(tmp_path / "no_geometry.step", EMPTY_STEP), "no transferable shape"),
        "bad_iges": (_write(tmp_path / "bad.igs", os.urandom(2048)), "IGES file"),
        "bad_brep": (_write(tmp_path / "bad.brep", "DBRep_DrawableShape\nnonsense\n"), "BREP file could not be parsed"),
        "folder": ((tmp_path / "dir.step"), "not a regular file"),
    }


def test_each_bad_file_gives_one_clear_line(bad_files):
    (bad_files["folder"][0]).mkdir()
    for key, (path, reason) in bad_files.items():
        with pytest.raises(RenderError) as info:
            occ.read_cad(path)
        msg = str(info.value)
        assert msg.startswith(str(path)), key
        assert reason in msg, f"{key}: {msg}"
        assert "\n" not in msg


def test_truncated_brep_and_iges_are_refused_before_occt_reads_them(tmp_path):
    brep = fixture_path("cad/mal_vis.brep").read_bytes()
    t0 = time.monotonic()
    for percent in (5, 10, 50, 95, 99):  # OCCT's reader looped forever on 10% and 95%
        cut = _write(tmp_path / f"cut{percent}.brep", brep[: len(brep) * percent // 100])
        with pytest.raises(RenderError, match="truncated BREP file"):
            occ.read_cad(cut)
    assert time.monotonic() - t0 < 10
    iges = fixture_path("cad/hammer.iges").read_bytes()
    with pytest.raises(RenderError, match="truncated IGES file"):  # drawn without the hammer's head before
        occ.read_cad(_write(tmp_path / "half.iges", iges[: len(iges) // 2]))
    lines = iges.splitlines(keepends=True)
    with pytest.raises(RenderError, match=r"truncated IGES file \(its Terminate line counts 11517 P lines, the file holds 2540\)"):
        occ.read_cad(_write(tmp_path / "cut.iges", b"".join(lines[: len(lines) * 3 // 10] + lines[-1:])))  # drew a fragment


def test_a_cut_and_re_terminated_step_file_is_refused(tmp_path):
    lines = fixture_path("cad/screw.step").read_bytes().splitlines(keepends=True)
    cut = b"".join(lines[: len(lines) // 5]) + b"ENDSEC;\nEND-ISO-10303-21;\n"  # drew one stray face before
    with pytest.raises(RenderError, match=r"damaged STEP file: \d+ references to entities that are not in it"):
        occ.read_cad(_write(tmp_path / "cut.step", cut))
    # cut at 20% of tet.step, OCCT's reader segfaulted: the references are checked before it runs
    tet = fixture_path("cad/tet.step").read_bytes()
    tet_cut = _write(tmp_path / "tet_cut.step", tet[: len(tet) // 5].rsplit(b"\n", 1)[0] + b"\nENDSEC;\nEND-ISO-10303-21;\n")
    code = f"from renderers import occ\ntry:\n occ.read_cad({str(tet_cut)!r})\nexcept Exception as e:\n print(e)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "damaged STEP file: 17 references" in run.stdout
    # '#' inside strings and comments is no reference
    named = tet.replace(b"'tetrahedron'", b"'tetrahedron #888888' /* see #999999 */", 1)
    assert named != tet and occ.count(occ.read_cad(_write(tmp_path / "named.step", named)), occ.TopAbs_FACE) == 4


def test_unsafe_file_names_are_read_and_stay_inside_the_output(tmp_path):
    tet = fixture_path("cad/tet.step").read_bytes()
    src = tmp_path / "src"
    src.mkdir()
    names = ["...step", "..step", "render-report.json.step", "caf\udce9.step"]  # the last is not UTF-8
    files = [_write(src / n, tet) for n in names]
    out = tmp_path / "deep" / "out"
    reports = batch.run_batch(batch.name_tasks(files), out, _options(), progress=False)
    assert all(r.ok for r in reports), [r.error for r in reports]
    batch.write_report(out, reports)
    assert sorted(p.name for p in out.iterdir()) == sorted([".._step", "._step", "caf\udce9", "render-report.json",
                                                            "render-report.json_step"])
    assert not list((tmp_path / "deep").glob("*.png"))


def test_meshes_with_latin1_text_or_names_are_read(tmp_path):
    from renderers.mesh_io import read_mesh

    tetra = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"
    assert len(read_mesh(_write(tmp_path / "latin1.obj", b"# Gr\xf6\xdfe\n" + tetra)).faces) == 4
    assert len(read_mesh(_write(tmp_path / "m\udce9sh.obj", tetra)).faces) == 4


def test_unreadable_files_fail_alone(tmp_path):
    import shutil
    import subprocess
    import sys

    # root reads anything: drop its capabilities for the run (setpriv), or skip
    prefix = [] if os.geteuid() != 0 else ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be denied")
    tet = fixture_path("cad/tet.step").read_bytes()
    (tmp_path / "in" / "sub").mkdir(parents=True)
    _write(tmp_path / "in" / "a.step", tet)
    _write(tmp_path / "in" / "sub" / "b.step", tet)
    _write(tmp_path / "in" / "c.step", tet).chmod(0)
    (tmp_path / "in" / "sub").chmod(0o600)  # listed, not searchable
    try:
        res = subprocess.run([*prefix, sys.executable, "-m", "spare3d_bench.cli", "render", str(tmp_path / "in"),
                              "--out", str(tmp_path / "out"), "--views", "f", "--quiet"], capture_output=True, text=True)
    finally:
        (tmp_path / "in" / "sub").chmod(0o755)
    assert res.returncode == 1 and (tmp_path / "out" / "a" / "f.png").is_file(), res.stderr
    assert res.stderr.count("cannot be read: Permission denied") == 2 and "Traceback" not in res.stderr


def test_a_file_name_cannot_split_or_fake_a_failed_line():
    line = batch.failed_line(batch.ModelReport("x", "/m/a.step: ok\nFAILED /m/b.step", ok=False, error="file is empty"))
    assert "\n" not in line and line.endswith(": file is empty")


def test_a_binary_stl_holding_inf_is_refused_without_numpy_warnings(tmp_path):
    import struct
    import warnings

    from renderers.mesh_io import read_mesh

    tris = np.array([[0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0, np.inf, 0, 0, 0, 1, 0]], dtype="<f4")
    stl = _write(tmp_path / "inf.stl", b"\0" * 80 + struct.pack("<I", 2) + b"".join(t.tobytes() + b"\0\0" for t in tris))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RenderError, match="NaN or infinite"):
            read_mesh(stl)


def test_an_empty_input_is_not_the_current_folder():
    files, missing = batch.expand_inputs([""])
    assert files == [] and [m.error for m in missing] == ["empty path"]


def test_geometry_below_occt_tolerance_and_absurd_numbers_are_refused():
    with pytest.raises(RenderError, match="too small for OpenCascade"):
        occ.tight_box(occ.box(2e-6, 2e-6, 4e-6), "tiny.brep")
    with pytest.raises(ValueError, match="tolerance must be"):
        HLROptions(tolerance=1e-300)
    with pytest.raises(ValueError, match="frame factor must be"):
        RenderOptions(tuple(parse_views("f")), frame_factor=1e-300)


def test_an_explicit_file_of_unknown_type_names_every_known_extension(tmp_path):
    from renderers.cad import draw_file

    with pytest.raises(RenderError, match=r"notes.txt: unknown extension '.txt' \(CAD or mesh files: .step .* .stl .*\)"):
        draw_file(_write(tmp_path / "notes.txt", "hello"), parse_views("f"))


def test_zero_size_geometry_is_rejected():
    from OCP.BRepBuilderAPI import BRepBuilderAPI_MakeVertex
    from OCP.gp import gp_Pnt

    vertex = BRepBuilderAPI_MakeVertex(gp_Pnt(1, 2, 3)).Shape()
    with pytest.raises(RenderError, match="zero-size"):
        occ.tight_box(vertex, "point.brep")


def _options():
    return RenderOptions(tuple(parse_views("f,t,2")), formats=("png", "svg"))


def test_batch_keeps_going_and_keeps_good_outputs(bad_files, tmp_path):
    good = fixture_path("cad/tet.step")
    files = [good] + [p for k, (p, _) in bad_files.items() if k not in ("missing", "folder")]
    out = tmp_path / "out"
    reports = batch.run_batch(batch.name_tasks(files), out, _options(), workers=2, progress=False)
    by_name = {r.name: r for r in reports}
    assert by_name["tet"].ok and (out / "tet" / "2.png").is_file() and (out / "tet" / MANIFEST).is_file()
    failed = [r for r in reports if not r.ok]
    assert len(failed) == len(files) - 1
    assert all(r.error and "\n" not in r.error for r in failed)
    # a second run leaves the finished model alone and reports the bad ones again
    before = (out / "tet" / "2.png").stat().st_mtime_ns
    again = batch.run_batch(batch.name_tasks(files), out, _options(), workers=2, progress=False)
    assert {r.name: r.skipped for r in again}["tet"]
    assert (out / "tet" / "2.png").stat().st_mtime_ns == before
    assert sum(not r.ok for r in again) == len(failed)


def test_crash_and_hang_are_isolated(monkeypatch, tmp_path):
    real = batch.render_model

    def flaky(source, out_dir, options, name=None):
        if name in ("crash", "once"):
            # a crash on purpose: no "Fatal Python error" dump (pytest's faulthandler writes to the terminal)
            faulthandler.disable()
        if name == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if name == "hang":
            time.sleep(60)
        if name == "once" and not (tmp_path / "crashed-once").exists():
            (tmp_path / "crashed-once").touch()
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(source, out_dir, options, name)

    monkeypatch.setattr(batch, "render_model", flaky)  # forked children inherit the patch...
    # ...and workers are forked even after a test loaded OpenGL, which makes spawn the default.
    monkeypatch.setattr(executors, "_context", lambda start_method: mp.get_context("fork"))
    tet = fixture_path("cad/tet.step")
    tasks = [batch.Task("crash", tet), batch.Task("hang", tet), batch.Task("fine", tet), batch.Task("once", tet)]
    t0 = time.monotonic()
    reports = batch.run_batch(tasks, tmp_path, _options(), workers=3, timeout=3, progress=False)
    assert time.monotonic() - t0 < 30
    crash, hang, fine, once = reports
    assert not crash.ok and "crashed (SIGSEGV)" in crash.error  # after its retry
    assert not hang.ok and "timed out after 3 s" in hang.error
    assert fine.ok and (tmp_path / "fine" / "t.svg").is_file() and not fine.notes
    assert once.ok and once.notes == ["retried after: worker crashed (SIGSEGV)"]
    assert not (tmp_path / "hang" / MANIFEST).exists()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_the_exact_hlr_helper_dies_with_a_killed_job():
    """`auto` draws exactly in a forked helper; after a `kill -9` of the job it lived on,
    blocked writing to a pipe no one read, holding the job folder's lock."""
    import subprocess
    import sys

    code = (
        "import time\n"
        "from renderers import cad, occ\n"
        "from renderers.views import parse_views\n"
        "occ.hlr_exact = lambda *a, **k: time.sleep(300)\n"
        "cad._budgeted(occ.box(1, 1, 1), parse_views('f'), cad.HLROptions(budget=300), 0.01)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2])
    children: list[str] = []
    deadline = time.monotonic() + 60
    while not children and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
        children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
    assert len(children) == 1, "no helper started"
    helper = int(children[0])
    p.kill()
    p.wait()
    deadline = time.monotonic() + 10
    try:
        while Path(f"/proc/{helper}").exists() and Path(f"/proc/{helper}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the helper outlived its job"
            time.sleep(0.05)
    except FileNotFoundError:  # gone between the two reads
        pass
    finally:
        if Path(f"/proc/{helper}").exists():
            os.kill(helper, signal.SIGKILL)


def test_interrupted_model_is_redone(tmp_path):
    tet = fixture_path("cad/tet.step")
    opts = _options()
    tasks = batch.name_tasks([tet])
    batch.run_batch(tasks, tmp_path, opts, progress=False)
    (tmp_path / "tet" / "t.png").unlink()  # as if killed before finishing
    (reports,) = [batch.run_batch(tasks, tmp_path, opts, progress=False)]
    assert not reports[0].skipped and (tmp_path / "tet" / "t.png").is_file()
    other = RenderOptions(opts.views, formats=("png",), size=100)
    assert not batch.run_batch(tasks, tmp_path, other, progress=False)[0].skipped
    # another file with the same stem is not the finished model
    twin = tmp_path / "elsewhere" / "tet.step"
    twin.parent.mkdir()
    twin.write_bytes(fixture_path("cad/screw.step").read_bytes())
    (again,) = batch.run_batch(batch.name_tasks([twin]), tmp_path, other, progress=False)
    assert not again.skipped and json.loads((tmp_path / "tet" / MANIFEST).read_text())["source"] == str(twin)
    assert batch.run_batch(batch.name_tasks([twin]), tmp_path, other, progress=False)[0].skipped
    # the same file edited since (here: another part copied over it) is rendered again
    screw_top = (tmp_path / "tet" / "t.png").read_bytes()
    twin.write_bytes(tet.read_bytes())
    (edited,) = batch.run_batch(batch.name_tasks([twin]), tmp_path, other, progress=False)
    assert not edited.skipped and (tmp_path / "tet" / "t.png").read_bytes() != screw_top


def test_a_re_render_removes_what_the_last_one_wrote_and_redoes_damaged_files(tmp_path):
    """Drawings of earlier options stayed beside new ones, and a file that now fails kept its
    old drawings, for a loader's glob to pick up; an emptied drawing passed as complete."""
    part = tmp_path / "in" / "part.step"
    part.parent.mkdir()
    part.write_bytes(fixture_path("cad/tet.step").read_bytes())
    tasks = batch.name_tasks([part])
    out = tmp_path / "out"
    batch.run_batch(tasks, out, RenderOptions(tuple(parse_views("f,r,t,2")), formats=("png", "svg")), progress=False)
    dashed = RenderOptions(tuple(parse_views("f,t")), style="dashed")
    batch.run_batch(tasks, out, dashed, progress=False)
    assert sorted(p.name for p in (out / "part").iterdir()) == ["f.png", MANIFEST, "t.png"]
    whole = (out / "part" / "t.png").read_bytes()
    (out / "part" / "t.png").write_bytes(b"")
    (redone,) = batch.run_batch(tasks, out, dashed, progress=False)
    assert not redone.skipped and (out / "part" / "t.png").read_bytes() == whole
    assert batch.run_batch(tasks, out, dashed, progress=False)[0].skipped
    part.write_text("garbage")
    (failed,) = batch.run_batch(tasks, out, dashed, progress=False)
    assert not failed.ok and list((out / "part").iterdir()) == []


def test_binary_brep_is_read_and_a_cut_one_refused(tmp_path):
    """OCCT's binary BREP was called a 'truncated BREP file' by the text-format check."""
    from OCP.BinTools import BinTools
    from OCP.BRepTools import BRepTools

    part = occ.cut(occ.box(10, 20, 30), occ.cylinder(4, 40, (5, 10, -5)))
    BinTools.Write_s(part, str(tmp_path / "bin.brep"))
    BRepTools.Write_s(part, str(tmp_path / "text.brep"))
    views = parse_views("f,t,2")
    assert occ.count(occ.read_cad(tmp_path / "bin.brep"), occ.TopAbs_FACE) == occ.count(part, occ.TopAbs_FACE)
    opts = RenderOptions(tuple(views))
    for a, b in zip(draw_file(tmp_path / "bin.brep", views), draw_file(tmp_path / "text.brep", views)):
        assert np.array_equal(image(a, opts), image(b, opts))
    data = (tmp_path / "bin.brep").read_bytes()
    _write(tmp_path / "cut.brep", data[: len(data) // 2])
    with pytest.raises(RenderError, match=r"cut.brep: damaged or truncated binary BREP file"):
        occ.read_cad(tmp_path / "cut.brep")


def _peaks_of_a_second_model(out: Path, source: Path) -> tuple[bool, float, float] | None:
    """Render `source` twice in this process, with a 400 MB array made and freed between the
    two: the second model's reported peak and the peak just before it (MB); None where the
    peak cannot be reset."""
    task = batch.Task("tet", source)
    batch._render_one(out / "first", _options(), task)  # the worker's first model loads OpenCascade
    if not batch._reset_peak_rss():
        return None
    big = np.ones(400 * 2**20 // 8)  # a 400 MB peak, given back before the next model
    del big
    peak_so_far = batch._peak_rss_kb() / 1024
    report = batch._render_one(out / "second", _options(), task)
    return report.ok, report.peak_rss_mb, peak_so_far


def test_peak_memory_is_each_models_own(tmp_path):
    """A reused worker reported its lifetime peak for every model after a large one. Run in
    a fresh process: in a pytest-xdist worker that had run other tests, the 400 MB array
    left the peak where it was (3,095.16 MB, to the kB that of the model after it)."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        peaks = pool.submit(_peaks_of_a_second_model, tmp_path, fixture_path("cad/tet.step")).result(timeout=120)
    if peaks is None:
        pytest.skip("no /proc/self/clear_refs here")
    ok, model_peak, peak_so_far = peaks
    assert ok and 0 < model_peak < peak_so_far - 300


def test_folders_follow_linked_folders_and_report_dangling_links(tmp_path):
    """A folder input skipped linked subfolders (a `**` glob did not) and dangling links,
    silently; a link loop must still end."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "tet.step").write_bytes(fixture_path("cad/tet.step").read_bytes())
    top = tmp_path / "top"
    top.mkdir()
    (top / "linked").symlink_to(real)
    (top / "loop").symlink_to(top)
    (top / "gone.step").symlink_to(tmp_path / "missing.step")
    files, missing = batch.expand_inputs([str(top)])
    assert files == [top / "gone.step", real / "tet.step"] and missing == []
    reports = batch.run_batch(batch.name_tasks(files), tmp_path / "out", _options(), progress=False)
    assert [r.ok for r in reports] == [False, True]
    assert reports[0].error == f"file not found (a link to {tmp_path / 'missing.step'}, which is missing)"


def test_every_option_that_changes_the_files_changes_the_fingerprint():
    """force_poly was left out: API runs differing only in it were skipped as complete."""
    base = RenderOptions(tuple(parse_views("f,2")))
    other = RenderOptions(base.views, hlr=HLROptions(force_poly=("2",)))
    assert base.fingerprint() != other.fingerprint()
    assert base.fingerprint() == RenderOptions(base.views, hlr=HLROptions(budget=3.0)).fingerprint()  # not the budget


def test_inputs_expand_and_names_do_not_collide(tmp_path):
    brep = fixture_path("cad/hammer.brep")
    iges = fixture_path("cad/hammer.iges")
    (tmp_path / "notes.txt").write_text("not a model")
    files, missing = batch.expand_inputs([str(brep.parent / "hammer.*"), str(tmp_path / "absent.step"), str(tmp_path),
                                          str(tmp_path / "*")])
    assert files == [brep.resolve(), iges.resolve()]  # a glob, like a folder, takes CAD and mesh files only
    assert [m.error for m in missing] == ["file not found", "folder holds no CAD or mesh files",
                                          "pattern matches no CAD or mesh file"]
    assert [t.name for t in batch.name_tasks(files)] == ["hammer_brep", "hammer_iges"]
    assert [t.name for t in batch.name_tasks([Path("a/x.step"), Path("b/x.step")])] == ["x_step", "x_step_2"]


def test_link_loops_and_dangling_links_say_what_they_are(tmp_path):
    (tmp_path / "loop1.step").symlink_to(tmp_path / "loop2.step")
    (tmp_path / "loop2.step").symlink_to(tmp_path / "loop1.step")
    (tmp_path / "dangling.step").symlink_to(tmp_path / "gone.step")
    files, missing = batch.expand_inputs([str(tmp_path / "loop1.step"), str(tmp_path / "dangling.step")])
    assert [m.error for m in missing] == ["file not found"]
    (report,) = batch.run_batch(batch.name_tasks(files), tmp_path / "out", _options(), progress=False)
    assert not report.ok and report.error == "Too many levels of symbolic links"


def test_report_file_lists_failures(tmp_path):
    reports = [batch.ModelReport("a", "a.step"), batch.ModelReport("b", "b.step", ok=False, error="file is empty")]
    path = batch.write_report(tmp_path, reports)
    data = json.loads(path.read_text())
    assert data["failed"] == 1 and data["models"][1]["error"] == "file is empty"


def _small_file_limit() -> None:
    """A full disk as far as the process can tell: writes past 50 kB fail (EFBIG)."""

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))


def test_a_full_disk_fails_the_model_with_one_line_and_no_partial_file(tmp_path):
    import subprocess
    import sys

    tet = fixture_path("cad/tet.step")
    cmd = [sys.executable, "-m", "spare3d_bench.cli", "render", str(tet), "--out", str(tmp_path), "--format", "npy",
           "--views", "f", "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_small_file_limit)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert f"FAILED {tet.resolve()}: cannot write {tmp_path / 'tet' / 'f.npy'}: File too large" in res.stderr
    assert [p for p in tmp_path.rglob(".*")] == [] and not (tmp_path / "tet" / MANIFEST).exists()
    assert subprocess.run(cmd, capture_output=True).returncode == 0  # room again: the re-run completes
    assert (tmp_path / "tet" / MANIFEST).is_file()


@pytest.mark.parametrize("cut", [300_000, 120_000, 367_000])
def test_an_obj_cut_short_is_refused_as_truncated(tmp_path, cut):
    """fandisk.obj cut at 300 kB (mid-face) drew a speckled fragment with exit 0; cut in
    its vertex block, its faces point past the vertices."""
    from renderers.mesh_io import read_mesh

    whole = fixture_path("mesh/fandisk.obj").read_bytes()
    assert len(read_mesh(fixture_path("mesh/fandisk.obj")).faces) == 5750  # whole
    part = _write(tmp_path / "cut.obj", whole[:cut])
    with pytest.raises(RenderError, match=r"truncated: its last line \('.*'\) ends without a line end"):
        read_mesh(part)
    at_a_line_end = _write(tmp_path / "lines.obj", whole[: whole.rindex(b"\n", 0, 120_000) + 1])  # in the vertex block
    with pytest.raises(RenderError, match="mesh is empty|refers to vertex"):
        read_mesh(at_a_line_end)


def test_obj_faces_pointing_past_the_vertices_are_named(tmp_path):
    from renderers.mesh_io import read_mesh

    tetra = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n"
    for faces, reason in ((b"f 1 2 3\nf 1 2 9\n", "line 6's face refers to vertex 9, and the file holds 4 vertices"),
                          (b"f 1 2 3\nf 1 2 -9\n", "line 6's face refers to vertex -9"),
                          (b"f 1 2 x\n", "line 5 holds a malformed face")):
        with pytest.raises(RenderError, match=reason):
            read_mesh(_write(tmp_path / "bad.obj", tetra + faces))
    assert len(read_mesh(_write(tmp_path / "ok.obj", tetra + b"f 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")).faces) == 4
