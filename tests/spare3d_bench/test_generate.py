"""Building SPARE3D questions: determinism, answers that are right, filters, the layout."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from renderers import occ
from renderers.writers import png_bytes
from spare3d_bench import spare3d_layout
from spare3d_bench.csg import CSGRecipe, apply_tool, csg_model
from spare3d_bench.generate import GenerateConfig, generate
from spare3d_bench.tasks import Drawer, Rejected, TaskOptions, i2p, p2i, t2i

SMALL = CSGRecipe(primitives=4)
OPTS = TaskOptions(size=64)


def _tree(root):
    """The dataset's files and bytes: the job's journal and report.json are not part of it."""
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and ".spare3d" not in p.parts and p.name != "report.json")
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def test_same_command_same_bytes_for_any_worker_count(tmp_path):
    cfg = GenerateConfig("i2p", 6, seed=3, recipe=SMALL, options=OPTS)
    generate(cfg, tmp_path / "a", workers=1, progress=False)
    generate(cfg, tmp_path / "b", workers=2, progress=False)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    other = GenerateConfig("i2p", 6, seed=4, recipe=SMALL, options=OPTS)
    generate(other, tmp_path / "c", progress=False)
    assert _tree(tmp_path / "c")["train/0/0_f.png"] != a["train/0/0_f.png"]


def test_csg_models_are_deterministic_and_varied():
    a = occ.tight_box(csg_model(0, 5, SMALL))
    assert np.array_equal(a, occ.tight_box(csg_model(0, 5, SMALL)))
    assert not np.array_equal(a, occ.tight_box(csg_model(0, 6, SMALL)))
    fused = csg_model(0, 5, CSGRecipe(4, "fused"))
    assert fused.ShapeType() != occ.TopAbs_ShapeEnum.TopAbs_COMPOUND or len(occ.children(fused)) == 1


def test_a_view_drawn_polygonally_for_one_shape_is_polygonal_for_the_whole_question():
    from tests.renderers.test_cad_drawing import spheres_cut_by_a_z_cylinder

    drawer = Drawer(OPTS)
    base = drawer.images(occ.sphere(10), ["r", "t"])
    exact_r = base["r"].copy()
    explosive = drawer.images(spheres_cut_by_a_z_cylinder(3), ["r", "t"])
    assert drawer.poly_views == {"t"}
    forced = Drawer(OPTS)
    forced.poly_views = {"t"}
    assert np.array_equal(base["t"], forced.images(occ.sphere(10), ["t"])["t"])  # redrawn in place
    assert not np.array_equal(base["t"], Drawer(OPTS).images(occ.sphere(10), ["t"])["t"])  # exact differs
    assert np.array_equal(base["r"], exact_r)
    assert np.array_equal(explosive["t"], forced.images(spheres_cut_by_a_z_cylinder(3), ["t"])["t"])
    later = drawer.images(occ.sphere(10), ["t", "r"])  # later shapes follow the question's choice
    assert list(later) == ["t", "r"] and np.array_equal(later["t"], base["t"])


def test_t2i_exactly_one_candidate_matches_the_views():
    drawer = Drawer(OPTS)
    for index in range(3):
        q = t2i(csg_model(1, index, SMALL), index, 1, drawer)
        assert q.answer == index % 4
        matches = []
        for k, shape in enumerate(q.shapes):
            imgs = drawer.images(shape, ["f", "r", "t", "2"])  # re-render the candidate's model
            assert np.array_equal(imgs["2"], q.candidates[k])
            matches.append(all(np.array_equal(imgs[v], q.views[v]) for v in "frt"))
        assert matches == [k == q.answer for k in range(4)]
        for k in range(4):
            if k != q.answer:
                assert not np.array_equal(q.candidates[k], q.candidates[q.answer])


def test_i2p_labels_are_balanced(tmp_path):
    card = generate(GenerateConfig("i2p", 8, seed=2, recipe=SMALL, options=OPTS, split=(1, 0, 0)), tmp_path, progress=False)
    labels = Counter(json.loads((tmp_path / "train" / "answer.json").read_text()).values())
    assert sum(card["filtered"].values()) == 0 and labels == {0: 2, 1: 2, 2: 2, 3: 2}


def test_p2i_wrong_poses_differ_from_the_queried_one():
    drawer = Drawer(OPTS)
    for index in range(4):
        q = p2i(csg_model(5, index, SMALL), index, 5, drawer)
        assert len(set(q.candidate_poses)) == 4 and q.candidate_poses[q.answer] == q.pose
        assert set(q.candidate_poses) <= set(range(1, 9))
        for k in range(4):
            if k != q.answer:
                assert not np.array_equal(q.candidates[k], q.candidates[q.answer])


def test_a_sphere_is_pose_ambiguous():
    with pytest.raises(Rejected) as info:
        i2p(occ.sphere(10), 0, 0, Drawer(OPTS))
    assert info.value.reason == "pose_ambiguous"


@pytest.mark.parametrize("size", [64, 200])
def test_a_cylinder_is_pose_ambiguous_despite_anti_aliasing(size):
    """Poses 1 and 2 of a z-cylinder draw the same lines, yet hundreds of pixels differ by
    anti-aliasing (where the circle's discretisation starts moves): exact image equality
    kept these questions. A box with an off-centre hole stays unambiguous."""
    drawer = Drawer(TaskOptions(size=size))
    cylinder = occ.cylinder(10, 20)
    imgs = drawer.images(cylinder, ["1", "2"])
    assert not np.array_equal(imgs["1"], imgs["2"])
    for index in range(4):
        with pytest.raises(Rejected, match="pose_ambiguous"):
            i2p(cylinder, index, 0, drawer)
    with pytest.raises(Rejected, match="pose_ambiguous"):
        p2i(cylinder, 4, 0, drawer)
    part = occ.cut(occ.box(20, 14, 8), occ.cylinder(3, 8, (5, 4, 0)))
    assert [i2p(part, index, 0, drawer).pose for index in range(4)] == [1, 2, 5, 6]


def test_identical_candidates_are_refused(monkeypatch):
    import spare3d_bench.tasks as tasks

    block = occ.box(10, 10, 10)
    cut = apply_tool(block, occ.box(4, 4, 4, origin=(8, -1, 8)))
    drawer = Drawer(OPTS)
    same = drawer.images(cut, ["f", "r", "t", "2"])
    monkeypatch.setattr(tasks, "_visible_variant", lambda *a: (cut, same))  # every variant alike
    with pytest.raises(Rejected) as info:
        t2i(block, 0, 0, drawer)
    assert info.value.reason == "identical_candidates"


def test_written_layout_reads_back(tmp_path):
    card = generate(GenerateConfig("p2i", 5, seed=1, recipe=SMALL, options=OPTS), tmp_path, progress=False)
    stored = spare3d_layout.load(tmp_path / "train", "p2i")
    assert len(stored) == card["questions"]["train"]
    q = stored[0]
    assert q.pose in range(1, 9) and q.answer in range(4)
    assert spare3d_layout.read_png(q.candidates[0]).shape == (64, 64, 3)
    assert card["checksums"]["train/0/0_f.png"]
    png = q.candidates[0].read_bytes()
    for broken in (b"", png[: len(png) // 2], b"<svg/>"):
        q.candidates[0].write_bytes(broken)
        with pytest.raises(ValueError, match=f"^{re.escape(str(q.candidates[0]))}: cannot read the image"):
            spare3d_layout.read_png(q.candidates[0])


def test_original_release_layout_with_string_labels_loads(tmp_path):
    """A hand-made folder as the 2020 release has it: string labels, I2P answer.png."""
    img = png_bytes(np.full((200, 200, 3), 255, np.uint8))
    for qid in ("0", "1"):
        d = tmp_path / qid
        d.mkdir()
        for v in "frt":
            (d / f"{qid}_{v}.png").write_bytes(img)
        (d / "answer.png").write_bytes(img)
    (tmp_path / "answer.json").write_text('{"0": "2", "1": 3}')
    stored = spare3d_layout.load(tmp_path, "i2p")
    assert [q.answer for q in stored] == [2, 3]
    (tmp_path / "answer.json").write_text('{"0": "27"}')
    with pytest.raises(ValueError, match="not 0..19"):
        spare3d_layout.load(tmp_path, "i2p")


def test_pairs_and_pose_data(tmp_path):
    drawer = Drawer(OPTS)
    from spare3d_bench.tasks import pairs, poses

    q = pairs(csg_model(2, 0, SMALL), 0, 2, drawer)
    for k in (0, 1):  # each object's views and isometric come from the same model
        imgs = drawer.images(q.shapes[k], ["f", "r", "t", "2"])
        assert all(np.array_equal(imgs[v], q.views[f"{k}_{v}"]) for v in "frt")
        assert np.array_equal(imgs["2"], q.candidates[k])
    assert not np.array_equal(q.candidates[0], q.candidates[1])
    p = poses(csg_model(2, 1, SMALL), 1, 2, drawer)
    assert p.candidate_poses == list(range(1, 9)) and len(p.candidates) == 8
    generate(GenerateConfig("pairs", 2, seed=2, recipe=SMALL, options=OPTS, split=(1, 0, 0)), tmp_path / "p", progress=False)
    stored = spare3d_layout.load(tmp_path / "p" / "train", "pairs")
    assert [s.answer for s in stored] == [[1, 0, 0, 1]] * len(stored)
    generate(GenerateConfig("poses", 2, seed=2, recipe=SMALL, options=OPTS, split=(1, 0, 0)), tmp_path / "q", progress=False)
    stored = spare3d_layout.load(tmp_path / "q" / "train", "poses")
    assert stored[0].answer == list(range(1, 9)) and stored[0].candidates[7].name == "pose_8.png"


def test_packed_layout_holds_the_same_drawings(tmp_path):
    torch = pytest.importorskip("torch")
    from spare3d_bench.data import QuestionDataset, collate_batch

    cfg = dict(task="t2i", models=4, seed=7, recipe=SMALL, options=OPTS, split=(1, 0, 0))
    generate(GenerateConfig(**cfg), tmp_path / "folders", progress=False)
    generate(GenerateConfig(**cfg, layout="packed"), tmp_path / "packed", progress=False)
    stored = spare3d_layout.load(tmp_path / "folders" / "train", "t2i")
    ds = QuestionDataset.from_packed(tmp_path / "packed" / "train")
    assert len(ds) == len(stored)
    for i, q in enumerate(stored):
        item = ds[i]
        assert int(item["answer"]) == q.answer
        assert np.array_equal(item["views"][0].numpy(), spare3d_layout.read_png(q.views["f"]))
        assert np.array_equal(item["candidates"][3].numpy(), spare3d_layout.read_png(q.candidates[3]))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_batch)))
    assert batch["views"].shape == (3, 3, 64, 64, 3) and batch["views"].dtype == torch.uint8
    assert torch.equal(batch["candidates"][1], ds[1]["candidates"])
    again = tmp_path / "again"
    generate(GenerateConfig(**cfg, layout="packed"), again, progress=False)
    assert _tree(again) == _tree(tmp_path / "packed")


def test_packed_split_with_a_truncated_image_file_is_refused(tmp_path):
    from spare3d_bench.packed import IMAGES, PackedSplit

    generate(GenerateConfig("i2p", 2, seed=1, recipe=SMALL, options=OPTS, split=(1, 0, 0), layout="packed"), tmp_path, progress=False)
    data = (tmp_path / "train" / IMAGES).read_bytes()
    (tmp_path / "train" / IMAGES).write_bytes(data[:-10])
    with pytest.raises(ValueError, match="the manifest says"):
        PackedSplit.open(tmp_path / "train")


def test_near_duplicate_models_are_dropped_and_filters_switch_off(monkeypatch, tmp_path):
    import spare3d_bench.csg

    monkeypatch.setattr(spare3d_bench.csg, "csg_model", lambda seed, index, recipe: csg_model(seed, 0, recipe))  # every model alike
    cfg = GenerateConfig("p2i", 4, seed=1, recipe=SMALL, options=OPTS, split=(1, 0, 0))
    card = generate(cfg, tmp_path / "a", progress=False)
    assert card["questions"]["train"] == 1 and card["filtered"]["near_duplicate"] == 3
    off = TaskOptions(size=64, filters=tuple(f for f in TaskOptions().filters if f != "near_duplicate"))
    card = generate(GenerateConfig("p2i", 4, seed=1, recipe=SMALL, options=off, split=(1, 0, 0)), tmp_path / "b", progress=False)
    assert card["questions"]["train"] == 4 and "near_duplicate" not in card["filtered"]
    # asked twice of each of the alike models: model 0's two questions kept, the rest dropped
    card = generate(GenerateConfig("p2i", 4, seed=1, recipe=SMALL, options=OPTS, split=(1, 0, 0), questions=8),
                    tmp_path / "c", progress=False)
    assert card["questions"]["train"] == 2 and card["filtered"]["near_duplicate"] == 6
    assert set(card["model_index"]["train"].values()) == {0}


def test_switched_off_pose_filter_keeps_the_sphere():
    keep = TaskOptions(size=64, filters=("blank",))
    q = i2p(occ.sphere(10), 0, 0, Drawer(keep))
    assert q.answer == 0


def test_extended_twenty_pose_variants():
    ext = Drawer(TaskOptions(size=64, poses=20))
    model = csg_model(3, 0, SMALL)
    from spare3d_bench.tasks import poses

    assert poses(model, 0, 3, ext).candidate_poses == list(range(1, 21))
    q = i2p(model, 13, 3, ext)
    assert q.answer == 13 and q.pose == 14
    extended = []
    for i in range(4):
        q = p2i(csg_model(3, i, SMALL), i, 3, ext)
        assert set(q.candidate_poses) <= set(range(1, 21)) and len(set(q.candidate_poses)) == 4
        assert q.candidate_poses[q.answer] == q.pose
        extended += [p for p in q.candidate_poses if p > 8]
    assert extended  # the cube-edge poses 9-20 do occur


def test_repeats_of_a_model_cycle_through_the_answers(tmp_path):
    """--questions 16 on 4 models: each model is asked about 4 different poses (the answer
    was index % 4, so model m always had answer m and its I2P repeats were identical)."""
    cfg = GenerateConfig("i2p", 4, seed=1, recipe=SMALL, options=OPTS, split=(1, 0, 0), questions=16, layout="packed")
    card = generate(cfg, tmp_path, progress=False)
    manifest = json.loads((tmp_path / "train" / "manifest.json").read_text())
    by_model: dict[int, list[int]] = {}
    for q in manifest["questions"]:
        by_model.setdefault(q["model_index"], []).append(q["answer"])
    kept = sum(card["questions"].values())
    assert kept == len(manifest["questions"]) and kept > 4
    assert all(sorted(a) == sorted(set(a)) for a in by_model.values())  # no answer repeats within a model
    assert any(len(a) > 1 for a in by_model.values())


def test_more_questions_than_models_stay_in_their_models_split(tmp_path):
    cfg = GenerateConfig("p2i", 2, seed=4, recipe=SMALL, options=OPTS, split=(0.5, 0.5, 0), questions=6,
                         save_models=True, layout="packed")
    card = generate(cfg, tmp_path, progress=False)
    assert card["model_index"]["train"] and set(card["model_index"]["train"].values()) == {0}
    assert set(card["model_index"]["val"].values()) == {1}
    assert card["questions"]["train"] + card["questions"]["val"] + sum(card["filtered"].values()) == 6
    assert card["filtered"]["near_duplicate"] == 0  # questions asked again of one model are not duplicates
    manifest = json.loads((tmp_path / "train" / "manifest.json").read_text())
    assert manifest["questions"][0]["filters_passed"] == ["pose_ambiguous", "blank", "near_duplicate"]  # P2I's only
    reread = occ.read_cad(tmp_path / "models" / "0.step")
    assert np.allclose(occ.tight_box(reread), occ.tight_box(csg_model(4, 0, SMALL)), atol=1e-6)


def test_training_side_imports_without_opencascade():
    import subprocess
    import sys

    pytest.importorskip("torch")

    code = (
        "import sys; sys.modules['OCP'] = None; sys.modules['trimesh'] = None; sys.modules['pyrender'] = None; sys.modules['cv2'] = None\n"
        "import spare3d_bench.data, spare3d_bench.packed, spare3d_bench.spare3d_layout\n"
        "print('ok')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-500:]


def test_mesh_drawings_for_fast_generation(tmp_path):
    fast = TaskOptions(size=64, hlr="mesh")
    q = t2i(csg_model(6, 1, SMALL), 1, 6, Drawer(fast))
    assert q.answer == 1 and len(q.candidates) == 4
    for k in range(4):
        if k != q.answer:
            assert not np.array_equal(q.candidates[k], q.candidates[q.answer])


@pytest.mark.parametrize("models, split, sizes", [
    (5, (0.5, 0.5, 0.0), (3, 2, 0)),  # round(2.5) = 2 once sent model 4 to an empty test split
    (1, (0.5, 0.5, 0.0), (1, 0, 0)),
    (10, (0.25, 0.25, 0.5), (3, 2, 5)),
    (10, (0.8, 0.1, 0.1), (8, 1, 1)),
    (7, (0.0, 0.0, 1.0), (0, 0, 7)),
])
def test_split_sizes_add_up_and_leave_zero_fractions_empty(models, split, sizes):
    cfg = GenerateConfig("i2p", models, split=split)
    assert cfg.split_sizes() == sizes
    got = [cfg.split_of(i) for i in range(models)]
    assert (got.count("train"), got.count("val"), got.count("test")) == sizes


@pytest.mark.parametrize("task, poses, n", [("t2i", 8, 4), ("i2p", 20, 20)])
def test_answer_slots_stay_balanced_with_repeats(task, poses, n):
    """model + repeat gave 2 models x 2 questions the answers 0, 1, 1, 2 (3 never came)."""
    from spare3d_bench.generate import answer_slot

    for models in range(1, 26):
        for questions in (models, 2 * models, 3 * models + 1, 4 * models, 10 * models):
            cfg = GenerateConfig(task, models, options=TaskOptions(poses=poses), questions=questions)
            answers = [answer_slot(cfg, i) % n for i in range(questions)]
            counts = Counter(answers)
            assert max(counts.values()) - min(counts.get(a, 0) for a in range(n)) <= 1, (models, questions)
            if questions <= models:
                assert answers == [i % n for i in range(questions)]  # unchanged when each model is asked once
            else:  # a model's repeats do not all share one answer
                assert answers[0] != answers[models]


def test_pose_ambiguity_does_not_depend_on_the_answer():
    """A model whose poses 2 and 6 draw alike was kept when the answer was pose 1 or 5, so
    such models only ever carried labels 0 and 2; P2I kept identical candidates."""
    model = csg_model(0, 23, CSGRecipe(2))
    for slot in range(4):
        with pytest.raises(Rejected, match="pose_ambiguous: poses 2 and 6"):
            i2p(model, 23, 0, Drawer(TaskOptions(size=48)), slot=slot)
    kept = 0
    for index in range(8):
        try:
            q = p2i(model, index, 0, Drawer(TaskOptions(size=64)))
        except Rejected:
            continue
        kept += 1
        assert all(not np.array_equal(a, b) for k, a in enumerate(q.candidates) for b in q.candidates[:k])
    assert kept


def test_a_speck_of_a_drawing_is_blank():
    """Two 1 mm cubes 500 mm apart, framed together, draw as two dots: kept before."""
    specks = occ.compound([occ.box(1, 1, 1), occ.box(1, 1, 1, origin=(500, 500, 500))])
    with pytest.raises(Rejected, match="blank: view f has only \\d+ line pixels"):
        i2p(specks, 0, 0, Drawer(TaskOptions(size=64)))


@pytest.mark.parametrize("option, message", [(["--seed", "-1"], "seed must be a non-negative integer"),
                                             (["--split", "nan,0.5,0.5"], "split must be three non-negative fractions")])  # fmt: skip
def test_bad_seed_or_split_is_one_line_before_any_work(tmp_path, capsys, option, message):
    from spare3d_bench.cli import main

    out = tmp_path / "out"
    assert main(["generate", "i2p", "--csg", "2", "--size", "32", "--out", str(out), "--quiet", *option]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not out.exists()


def test_overlaps_option_reaches_the_drawings_the_card_and_the_command_line(tmp_path):
    from spare3d_bench.cli import main

    # 28 overlapping primitives: OpenCascade alone draws parts inside other primitives visible
    for name in ("correct", "ignore"):
        assert main(["generate", "i2p", "--csg", "1", "--primitives", "28", "--size", "64", "--split", "1,0,0",
                     "--no-filter", "pose_ambiguous", "--overlaps", name, "--out", str(tmp_path / name)]) == 0
    cards = [json.loads((tmp_path / n / "dataset.json").read_text()) for n in ("correct", "ignore")]
    assert [c["render"]["overlaps"] for c in cards] == [True, False]
    views = [(tmp_path / n / "train" / "0" / "0_f.png").read_bytes() for n in ("correct", "ignore")]
    assert views[0] != views[1]
