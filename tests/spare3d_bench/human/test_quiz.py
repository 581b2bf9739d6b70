"""The human quiz served for real (uvicorn in its own process): a participant's way through
practice and questions, what the database holds, resuming after a reload and after kill -9,
hostile requests refused with nothing written, and the answers exported beside the models."""

from __future__ import annotations

import http.client
import signal
import sqlite3
from collections import Counter

import pytest

from spare3d_bench.human import store
from spare3d_bench.human.app import Bank, QuizOptions
from spare3d_bench.vqa.questions import load

from .conftest import TOKEN, Participant, Server


def _answers(db_path) -> list[tuple]:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT token, position, question, choice, correct, practice FROM answers "
                          "ORDER BY token, position").fetchall()


def test_plans_are_seeded_per_participant_spread_over_tasks_and_never_repeat(solver_data):
    bank = Bank([load(solver_data[t], "test", i) for i, t in enumerate(("t2i", "i2p", "p2i"))])
    options = QuizOptions(("t2i", "p2i"), questions=7, practice=2, seed=5)
    plan, practice = bank.plan(options, 0)
    assert practice == 2 and len(plan) == 9 and len(set(plan)) == 9
    tasks = Counter(bank.get(k)[2].task for k in plan[2:])
    assert set(tasks) == {"t2i", "p2i"} and abs(tasks["t2i"] - tasks["p2i"]) <= 1
    assert bank.plan(options, 0) == (plan, 2) and bank.plan(options, 1)[0] != plan
    short = bank.plan(QuizOptions(("i2p",), questions=50, practice=3, seed=5), 0)
    assert len(short[0]) == 8 and short[1] == 0  # the task's 8 questions, none left to practise on


def test_a_participant_practises_with_feedback_then_answers_and_every_answer_is_stored(quiz):
    p = Participant(quiz)
    first = p.question()
    assert first["practice"] and "Practice 1 of 2" in first["page"]
    status, page = p.answer(0)
    assert status == 200 and 'id="feedback"' in page and "the answer is" in page
    p.answer(1)
    given = []
    for i in range(6):
        q = p.question()
        assert not q["practice"] and f"Question {i + 1} of 6" in q["page"]
        assert p.question()["fields"]["nonce"] == q["fields"]["nonce"]  # a reload shows the same question
        status, _ = p.answer(i % 4 if 'data-key="4"' in q["page"] else 0)
        assert status == 303  # to the next question
        given.append(i % 4 if 'data-key="4"' in q["page"] else 0)
    assert p.question()["done"]
    rows = _answers(quiz.db)
    assert [r[1] for r in rows] == list(range(8)) and [r[5] for r in rows] == [1, 1, 0, 0, 0, 0, 0, 0]
    assert [r[3] for r in rows[2:]] == given
    db = store.connect(quiz.db)
    truth = {r["question"]: r["answer"] for r in store.answers(db)}
    db.close()
    assert all(r[4] == int(r[3] == truth[r[2]]) for r in rows)


def test_hostile_requests_are_refused_and_write_nothing(quiz):
    p = Participant(quiz)
    p.answer(0)  # a practice answer: position 1 is now asked
    before = _answers(quiz.db)
    q = p.question()
    f = q["fields"]
    cases = [
        (("GET", "/drawing/0/..%2F..%2F..%2Fetc%2Fpasswd", None), 404),
        (("GET", "/../../etc/passwd", None), 404),
        (("GET", "/drawing/-1/F", None), 404),
        (("GET", "/drawing/99999/F", None), 404),
        (("GET", "/drawing/0/F%2F..%2Fx", None), 404),
        (("GET", "/admin", None), 401),
        (("GET", "/admin?token=not-the-token", None), 403),
        (("POST", "/answer", {**f, "choice": "1", "position": "5"}), 409),  # a question never served
        (("POST", "/answer", {**f, "choice": "1", "position": "0"}), 409),  # a replay of the answered one
        (("POST", "/answer", {**f, "choice": "1", "nonce": "forged-nonce"}), 403),
        (("POST", "/answer", {**f, "choice": "1", "csrf": "forged"}), 403),
        (("POST", "/answer", {k: v for k, v in {**f, "choice": "1"}.items() if k != "csrf"}), 403),
        (("POST", "/answer", {**f, "choice": "../../etc/passwd"}), 400),
        (("POST", "/answer", {**f, "choice": "7"}), 400),
        (("POST", "/answer", {**f, "choice": "1", "rt_ms": "-5"}), 400),
        (("POST", "/answer", {**f, "choice": "1", "position": "1e3"}), 400),
        (("POST", "/answer", {**f, "choice": "1", "path": "/etc/passwd"}), 400),
        (("POST", "/answer", {**f, "choice": "1", "nonce": "../../etc/passwd"}), 400),
        (("POST", "/answer", {**f, "choice": "1", "csrf": "../../etc/passwd"}), 403),
    ]
    for (method, path, fields), expected in cases:
        status, _, _ = quiz.request(method, path, fields, cookie=p.cookie)
        assert status == expected, (method, path, fields, status)
    status, _, _ = quiz.request("POST", "/answer", body=b"x" * 20000, cookie=p.cookie,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413
    conn = http.client.HTTPConnection("127.0.0.1", quiz.port, timeout=60)  # chunked: no length to check first
    conn.request("POST", "/answer", body=iter([b"choice=1&" * 500] * 4), encode_chunked=True,
                 headers={"Cookie": p.cookie, "Content-Type": "application/x-www-form-urlencoded"})
    assert conn.getresponse().status == 413
    conn.close()
    status, _, _ = quiz.request("POST", "/answer", {**f, "choice": "1"})  # no participant cookie
    assert status == 403
    status, _, _ = quiz.request("POST", "/answer", {**f, "choice": "1"}, cookie="spare3d_participant=../../etc/passwd")
    assert status == 403
    assert _answers(quiz.db) == before
    assert p.answer(1)[0] == 200 and len(_answers(quiz.db)) == len(before) + 1  # the real answer still goes in


def test_admin_sees_live_counts_and_the_answers(quiz):
    p = Participant(quiz)
    for _ in range(3):
        p.answer(0)
    status, _, page = quiz.request("GET", f"/admin?token={TOKEN}")
    assert status == 200 and "<th>participants</th><td>1</td>" in page and "<th>answers (not practice)</th><td>1</td>" in page
    status, headers, text = quiz.request("GET", "/admin/answers.csv", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and headers["content-type"].startswith("text/csv") and len(text.strip().splitlines()) == 4


def test_a_killed_server_restarted_keeps_every_answer_and_the_participant_resumes(quiz):
    p = Participant(quiz)
    for choice in (0, 1, 2):
        assert p.answer(choice)[0] == (200 if choice < 2 else 303)  # practice feedback, then the next question
    shown = p.question()
    stored = _answers(quiz.db)
    quiz.kill(signal.SIGKILL)
    again = Server(quiz.datasets, quiz.db, *quiz.options)
    again.port = quiz.port
    again.start()
    try:
        assert _answers(quiz.db) == stored and len(stored) == 3
        p.server = again
        resumed = p.question()
        assert resumed["fields"] == shown["fields"] and resumed["n"] == shown["n"]  # the same question, same nonce
        assert p.answer(1)[0] == 303 and len(_answers(quiz.db)) == 4
    finally:
        again.kill()


def test_the_answers_export_as_csv_and_into_the_results_beside_the_models(quiz, tmp_path):
    pytest.importorskip("matplotlib")
    from spare3d_bench.harness import results
    from spare3d_bench.harness.report import write_report

    from .conftest import ROOT

    for _ in range(2):
        p = Participant(quiz)
        for i in range(8):
            p.answer(i % 2)
    quiz.kill()
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "spare3d_bench.cli", "human", "export", str(quiz.db), "--csv"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("participant,position,question,dataset,qid,task") and len(lines) == 1 + 16
    res = subprocess.run([sys.executable, "-m", "spare3d_bench.cli", "human", "export", str(quiz.db), "--results",
                          str(tmp_path / "results.sqlite")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    db = results.connect(tmp_path / "results.sqlite")
    rows = {(r["experiment"], r["run"], r["metric"]): r["value"] for r in results.rows(db)}
    db.close()
    scored = [r for r in _answers(quiz.db) if not r[5]]
    people = {k[0]: v for k, v in rows.items() if k[1] == "people/seed=0" and k[2] == "questions"}
    assert sum(people.values()) == len(scored) == 12
    assert any(k[1] == "participant 1/seed=0" for k in rows)
    md = (write_report(tmp_path / "results.sqlite", tmp_path / "report", gallery=0).parent / "report.md").read_text()
    assert "## human (quiz):" in md and "| people" in md
    assert all(v == v for v in rows.values())  # no NaN
    assert {v for k, v in rows.items() if k[2] == "median_seconds"} == {1.5}  # the browser's 1,500 ms


def test_a_database_of_other_questions_is_refused_in_one_line(solver_data, tmp_path):
    from spare3d_bench.human.app import make_app

    db = tmp_path / "quiz.sqlite"
    make_app(Bank([load(solver_data["t2i"], "test", 0)]), db, "x" * 20, QuizOptions())
    with pytest.raises(ValueError, match="use a new database for other datasets") as e:
        make_app(Bank([load(solver_data["i2p"], "test", 0)]), db, "x" * 20, QuizOptions())
    assert "\n" not in str(e.value)
