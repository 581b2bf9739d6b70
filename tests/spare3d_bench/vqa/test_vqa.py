"""The VLM export and scoring: what a solver is shown, the export loaded by Hugging Face
`datasets`, free-text answers read on a table of cases, and scores that round-trip
(the answer key scores 100%, a constant answer the label distribution) into the harness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spare3d_bench.vqa.answers import parse_choice
from spare3d_bench.vqa.export import export_vqa
from spare3d_bench.vqa.questions import composite, load, prompt
from spare3d_bench.vqa.score import record, score

LETTERS, POSES = tuple("ABCD"), (1, 2, 5, 6)


@pytest.mark.parametrize("text, poses, expected", [
    ("B", None, 1), ("b", None, 1), ("D.", None, 3), ("1)", None, 0), ("**D**", None, 3), ("2", None, 1),
    ("(b) the second one", None, 1), ("c) it matches the top view", None, 2), ("a. the first", None, 0),
    ("Answer: C", None, 2), ("Answer: 2", None, 1), ("The answer is (c).", None, 2), ("Option 3", None, 2),
    ("I choose option B", None, 1), ("The answer is B, not A.", None, 1), ("I think it is B.", None, 1),
    ("B is correct", None, 1), ("I'd say (D)", None, 3), ("The correct drawing is A.", None, 0),
    ("Based on the views, the isometric drawing labelled C matches.", None, 2),
    ("The front view F shows a hole, so D", None, 3),
    ("Pose 5", POSES, 2), ("5", POSES, 2), ("Answer: pose 6", POSES, 3),
    # no choice: refusals, nothing, two choices, a choice that does not exist
    ("I cannot determine which one.", None, None), ("As an AI, I can't answer.", None, None), ("", None, None),
    (None, None, None), ("A or B", None, None), ("A, because B is wrong", None, None), ("E", None, None),
    ("7", None, None), ("Pose 5", None, None), ("pose 3", POSES, None),
])
def test_free_text_answers_are_read_as_one_choice_or_none(text, poses, expected):
    assert parse_choice(text, LETTERS, poses) == expected


def test_each_task_says_what_the_drawings_are_and_how_poses_are_numbered(solver_data):
    t2i, i2p, p2i = (load(solver_data[t]).questions[0] for t in ("t2i", "i2p", "p2i"))
    assert "F from the front, R from the right, T from the top" in prompt(t2i)
    assert "seen from the front-right, above" in prompt(t2i) and prompt(t2i).endswith("A, B, C or D.")
    assert t2i.choice_poses is None and i2p.choice_poses == POSES
    for letter, pose in zip(LETTERS, POSES):
        assert f"{letter}: pose {pose}: from the front-" in prompt(i2p)
    assert f"(pose {p2i.pose})" in prompt(p2i) and p2i.pose in range(1, 9)
    assert "thin red lines" in prompt(t2i)  # the SPARE3D style's hidden lines


def test_the_composite_shows_each_drawing_under_its_label(solver_data):
    qs = load(solver_data["t2i"])
    q = qs.questions[0]
    pic = composite(qs, q, cell=128)
    assert pic.shape == (2 * (128 + 28 + 12) + 12, 4 * (128 + 12) + 12, 3) and pic.dtype == np.uint8
    # the F cell is the F drawing, scaled twice by nearest neighbour; candidate D is the fourth drawing
    f = pic[12 + 28 : 12 + 28 + 128, 12 : 12 + 128]
    assert np.array_equal(f, qs.drawing(q.views[0]).repeat(2, 0).repeat(2, 1))
    y, x = 12 + 28 + 128 + 12 + 28, 12 + 3 * (128 + 12)
    assert np.array_equal(pic[y : y + 128, x : x + 128], qs.drawing(q.candidates[3]).repeat(2, 0).repeat(2, 1))


@pytest.fixture(scope="module")
def export(solver_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vqa")
    export_vqa([solver_data[t] for t in ("t2i", "i2p", "p2i")], out, progress=False)
    return out


def test_the_export_loads_in_hugging_face_datasets_with_its_images(export, solver_data, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ds = datasets.load_dataset("imagefolder", data_dir=str(export), split="train", cache_dir=str(tmp_path))
    rows = [json.loads(line) for line in (export / "metadata.jsonl").read_text().splitlines()]
    assert len(ds) == len(rows) == sum(len(load(solver_data[t]).questions) for t in ("t2i", "i2p", "p2i"))
    by_id = {r["id"]: r for r in ds}
    i2p = next(r for r in rows if r["task"] == "i2p")
    got = by_id[i2p["id"]]
    assert got["image"].size == (3 * (200 + 12) + 12, 2 * (200 + 28 + 12) + 12)  # F R T over X
    assert [d.size for d in got["drawings"]] == [(64, 64)] * 4 and got["drawing_labels"] == ["F", "R", "T", "X"]
    assert got["answer"] == "ABCD"[got["answer_index"]] and got["primitives"] == 3 and got["choice_poses"] == [1, 2, 5, 6]


def test_the_same_datasets_export_the_same_bytes(export, solver_data, tmp_path):
    export_vqa([solver_data[t] for t in ("t2i", "i2p", "p2i")], tmp_path, progress=False)
    for path in export.rglob("*.*"):
        assert (tmp_path / path.relative_to(export)).read_bytes() == path.read_bytes(), path


def _predict(export: Path, path: Path, answer) -> Path:
    rows = [json.loads(line) for line in (export / "metadata.jsonl").read_text().splitlines()]
    path.write_text("".join(json.dumps({"id": r["id"], "response": answer(r)}) + "\n" for r in rows))
    return path


def test_the_answer_key_scores_everything_and_a_constant_answer_the_label_share(export, tmp_path):
    rows = [json.loads(line) for line in (export / "metadata.jsonl").read_text().splitlines()]
    key = _predict(export, tmp_path / "key.jsonl", lambda r: f"The answer is {r['answer']}.")
    scores, answers = score(key, export)
    overall = [s for s in scores if s.primitives is None]
    assert [s.task for s in overall] == ["i2p", "p2i", "t2i"] and all(s.accuracy == 1.0 for s in scores)
    constant = _predict(export, tmp_path / "a.jsonl", lambda r: "A")
    for s in score(constant, export)[0]:
        if s.primitives is None:
            share = np.mean([r["answer_index"] == 0 for r in rows if r["task"] == s.task])
            assert s.accuracy == pytest.approx(share) and s.unanswered == s.missing == 0
    assert set(answers["t2i"]) == {r["qid"] for r in rows if r["task"] == "t2i"}


def test_missing_and_unreadable_answers_count_as_wrong_and_are_counted(export, tmp_path):
    rows = [json.loads(line) for line in (export / "metadata.jsonl").read_text().splitlines()]
    t2i = [r for r in rows if r["task"] == "t2i"]
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": t2i[0]["id"], "prediction": t2i[0]["answer"]}) + "\n"
                    + json.dumps({"id": t2i[1]["id"], "prediction": "I cannot tell."}) + "\n")
    s = next(s for s in score(path, export)[0] if s.task == "t2i" and s.primitives is None)
    assert (s.correct, s.unanswered, s.missing, s.questions) == (1, 1, len(t2i) - 2, len(t2i))


@pytest.mark.parametrize("content, message", [
    ('{"id": "0:0", "prediction": "A"}\n{"id": "0:0", "prediction": "B"}\n', "p.jsonl:2: a second prediction for question 0:0"),
    ('{"id": "0:0", "prediction": "A"}\nnot json\n', "p.jsonl:2: not JSON"),
    ('{"prediction": "A"}\n', "p.jsonl:1: a prediction needs an 'id'"),
    ('{"id": "9:999", "prediction": "A"}\n', "1 predictions for questions"),
    ("\n", "p.jsonl: no predictions"),
])
def test_bad_predictions_are_refused_in_one_line(export, tmp_path, content, message):
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as e:
        score(path, export)
    assert "\n" not in str(e.value)


def test_a_scored_solver_is_recorded_and_reported_beside_the_models(export, tmp_path):
    pytest.importorskip("matplotlib")
    from spare3d_bench.harness import results
    from spare3d_bench.harness.report import write_report

    key = _predict(export, tmp_path / "key.jsonl", lambda r: r["answer"])
    scores, answers = score(key, export)
    db_path = tmp_path / "results.sqlite"
    record(db_path, scores, answers, "oracle")
    db = results.connect(db_path)
    rows = [r for r in results.rows(db) if r["metric"] == "accuracy"]
    assert {(r["experiment"], r["run"], r["method"], r["value"]) for r in rows} == {
        (t, "oracle/seed=0", "solver", 1.0) for t in ("t2i", "i2p", "p2i")}
    assert results.answers(db, "solvers", "export", "t2i", "oracle/seed=0") == {q: True for q in answers["t2i"]}
    db.close()
    md = (write_report(db_path, tmp_path / "report", gallery=0).parent / "report.md").read_text()
    assert "## solvers (export): t2i" in md and "| oracle" in md


def test_what_is_not_a_question_set_is_refused_in_one_line(solver_data, tmp_path):
    (tmp_path / "empty").mkdir()
    for folder, split, message in [(tmp_path / "missing", "test", "no 'test' split"),
                                   (tmp_path / "empty", "test", "no 'test' split"),
                                   (solver_data["t2i"], "val", "val")]:
        with pytest.raises(ValueError, match=message) as e:
            export_vqa([folder], tmp_path / "out", split, progress=False)
        assert str(folder) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match="images 'all'"):
        export_vqa([solver_data["t2i"]], tmp_path / "out", images="all", progress=False)
