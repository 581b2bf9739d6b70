"""The human-baseline quiz as a Starlette application (served by uvicorn).

Participants read the instructions, answer practice questions with feedback, then their
own seeded sequence of T2I, I2P and P2I questions, by click or by the keys 1-4 (A-D), with a
progress bar and a pause. What keeps it honest and safe:

- every answer is committed (SQLite, WAL, synchronous) before the next question is served,
  and the server keeps each participant's position, so a reload, a pause or a killed
  server resumes at the same question;
- drawings are served from memory by question number and slot, both checked against the
  index: no request path or field ever reaches the file system;
- an answer must carry the participant's CSRF token (their cookie is SameSite=Strict) and
  the nonce of the question served at that position: a forged answer for a question never
  served, or a replayed one, is refused and nothing is written;
- every field is parsed strictly, bodies over 8 KiB are refused (413), templates are
  auto-escaped, and /admin needs the token printed at start.
"""

from __future__ import annotations

import math
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from renderers.writers import png_bytes

from ..vqa.questions import Question, QuestionSet, prompt
from . import store

COOKIE = "spare3d_participant"
MAX_BODY = 8192
TASK_NAMES = {"t2i": "Three views to isometric", "i2p": "Isometric to pose", "p2i": "Pose to isometric"}


@dataclass(frozen=True)
class QuizOptions:
    """Who is asked what: `questions` scored questions per participant, spread evenly over
    `tasks`, after `practice` practice questions with feedback; each participant's
    questions and order drawn from `seed` and their number."""

    tasks: tuple[str, ...] = ("t2i", "i2p", "p2i")
    questions: int = 30
    practice: int = 3
    seed: int = 0


class Bank:
    """The questions a quiz can ask, by key and by number (the number is what URLs use)."""

    def __init__(self, sets: list[QuestionSet]) -> None:
        self.items: list[tuple[QuestionSet, Question]] = [(qs, q) for qs in sets for q in qs.questions]
        self.number = {q.key: i for i, (_, q) in enumerate(self.items)}

    def get(self, key: str) -> tuple[int, QuestionSet, Question]:
        n = self.number[key]
        return (n, *self.items[n])

    def rows(self) -> list[tuple]:
        """The database's description of each question (store.add_questions)."""
        return [(q.key, str(qs.folder), q.qid, q.task, q.answer, len(q.choices), q.primitives) for qs, q in self.items]

    def plan(self, options: QuizOptions, number: int) -> tuple[list[str], int]:
        """Participant `number`'s practice and scored question keys, and the practice count:
        the scored questions spread evenly over the tasks (a task with too few questions
        gives what it has), in a random order; practice questions from the rest."""
        rng = np.random.default_rng([options.seed, number])
        by_task = {t: [q.key for _, q in self.items if q.task == t] for t in options.tasks}
        by_task = {t: [keys[i] for i in rng.permutation(len(keys))] for t, keys in by_task.items() if keys}
        if not by_task:
            raise ValueError(f"no questions of the tasks {', '.join(options.tasks)}")
        scored: list[str] = []
        tasks = list(by_task)
        while len(scored) < options.questions and any(by_task[t] for t in tasks):
            for t in tasks:
                if by_task[t] and len(scored) < options.questions:
                    scored.append(by_task[t].pop())
        rest = [k for t in tasks for k in by_task[t]]
        practice = [rest[i] for i in rng.permutation(len(rest))[: options.practice]]
        order = rng.permutation(len(scored))
        return practice + [scored[i] for i in order], len(practice)


def make_app(bank: Bank, db_path: str | Path, admin_token: str, options: QuizOptions):
    """The Starlette application of a quiz over `bank`, storing to `db_path`."""
    from jinja2 import Environment, PackageLoader, select_autoescape
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    env = Environment(loader=PackageLoader("spare3d_bench.human", "templates"), autoescape=select_autoescape(default=True))
    db = store.connect(db_path)
    store.add_questions(db, bank.rows())
    lock = threading.Lock()

    async def locked(fn, *args):
        def call():
            with lock:
                return fn(*args)

        return await run_in_threadpool(call)

    def page(name: str, **context) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context))

    async def participant(request):
        return await locked(store.participant, db, request.cookies.get(COOKIE))

    async def intro(request):
        p = await participant(request)
        return page("intro.html", tasks=[TASK_NAMES[t] for t in options.tasks], questions=options.questions,
                    practice=options.practice, resume=p is not None and not p.done)

    async def start(request):
        await request.body()
        p = await participant(request)
        if p is None:
            p = await locked(store.add_participant, db, lambda number: bank.plan(options, number))
        response = RedirectResponse("/quiz", status_code=303)
        response.set_cookie(COOKIE, p.token, httponly=True, samesite="strict", max_age=30 * 86400)
        return response

    async def quiz(request):
        p = await participant(request)
        if p is None:
            return RedirectResponse("/", status_code=303)
        if p.done:
            return page("done.html", answered=len(p.plan) - p.practice)
        key, nonce = await locked(store.serve, db, p)
        n, _, q = bank.get(key)
        practice = p.position < p.practice
        step = p.position - (0 if practice else p.practice)
        total = p.practice if practice else len(p.plan) - p.practice
        return page("question.html", q=q, n=n, text=prompt(q).splitlines(), nonce=nonce, position=p.position,
                    csrf=p.csrf, practice=practice, step=step + 1, total=total, percent=round(100 * step / total),
                    views=list(zip(("F", "R", "T"), ("front", "right", "top"))), task=TASK_NAMES[q.task],
                    labels=q.candidate_labels, candidates=q.task != "i2p")

    def refuse(status: int, reason: str) -> PlainTextResponse:
        return PlainTextResponse(reason, status_code=status)

    async def answer(request):
        p = await participant(request)
        if p is None:
            return refuse(403, "no participant: start the quiz first")
        form = await request.form()
        fields = {k: form.get(k) for k in ("csrf", "position", "nonce", "choice", "rt_ms")}
        if set(form.keys()) - set(fields):
            return refuse(400, "unexpected fields")
        if not isinstance(fields["csrf"], str) or not secrets.compare_digest(fields["csrf"], p.csrf):
            return refuse(403, "missing or wrong CSRF token")
        try:
            position, choice = _int(fields["position"], 0, 10**6), _int(fields["choice"], 0, 19)
            nonce = _text(fields["nonce"], 32)
            client_ms = None if fields["rt_ms"] in (None, "") else _real(fields["rt_ms"], 0.0, 86_400_000.0)
        except ValueError as e:
            return refuse(400, str(e))
        if position >= len(p.plan):
            return refuse(409, "no question at that position")
        _, _, q = bank.get(p.plan[position])
        if choice >= len(q.choices):
            return refuse(400, f"choice {choice}: the question has {len(q.choices)}")
        try:
            right = await locked(store.answer, db, p.token, position, nonce, choice, q.answer, client_ms)
        except store.Refused as e:
            return refuse(e.status, str(e))
        if position < p.practice:
            return page("feedback.html", right=right, answer=q.choices[q.answer], said=q.choices[choice],
                        words=q.choice_words[q.answer] if q.task == "i2p" else None, last=position + 1 == p.practice)
        return RedirectResponse("/quiz", status_code=303)

    async def pause(request):
        await request.body()
        p = await participant(request)
        if p is None:
            return RedirectResponse("/", status_code=303)
        return page("paused.html")

    @lru_cache(maxsize=4096)
    def png(n: int, slot: str) -> bytes | None:
        qs, q = bank.items[n]
        rows = dict(q.drawings)
        return png_bytes(qs.drawing(rows[slot])) if slot in rows else None

    async def drawing(request):
        n, slot = request.path_params["n"], request.path_params["slot"]
        data = png(n, slot) if 0 <= n < len(bank.items) and slot in _SLOTS else None
        if data is None:
            return refuse(404, "no such drawing")
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})

    def admin_allowed(request) -> Response | None:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or request.query_params.get("token")
        if not given:
            return refuse(401, "admin token required")
        if not secrets.compare_digest(given, admin_token):
            return refuse(403, "wrong admin token")
        return None

    async def admin(request):
        if (denied := admin_allowed(request)) is not None:
            return denied
        counts = await locked(store.counts, db)
        rows = await locked(store.answers, db)
        tasks = {}
        for r in rows:
            if not r["practice"]:
                t = tasks.setdefault(r["task"], [0, 0])
                t[0], t[1] = t[0] + r["correct"], t[1] + 1
        return page("admin.html", counts=counts, tasks=sorted((t, r, n) for t, (r, n) in tasks.items()))

    async def admin_csv(request):
        if (denied := admin_allowed(request)) is not None:
            return denied
        return Response(store.answers_csv(await locked(store.answers, db)), media_type="text/csv")

    routes = [
        Route("/", intro), Route("/start", start, methods=["POST"]), Route("/quiz", quiz),
        Route("/answer", answer, methods=["POST"]), Route("/pause", pause, methods=["POST"]),
        Route("/drawing/{n:int}/{slot:str}", drawing), Route("/admin", admin), Route("/admin/answers.csv", admin_csv),
    ]
    return BodyLimit(Starlette(routes=routes), MAX_BODY)


_SLOTS = frozenset({"F", "R", "T", "X", *"ABCDEFGHIJKLMNOPQRST"})


def _int(value, low: int, high: int) -> int:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 7 or not low <= int(value) <= high:
        raise ValueError(f"not a whole number in {low}..{high}")
    return int(value)


def _real(value, low: float, high: float) -> float:
    try:
        x = float(value) if isinstance(value, str) and len(value) <= 20 else math.nan
    except ValueError:
        x = math.nan
    if not low <= x <= high:
        raise ValueError(f"not a number in {low}..{high}")
    return x


def _text(value, longest: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= longest or not value.replace("-", "").replace("_", "").isalnum():
        raise ValueError("malformed nonce")
    return value


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413 before the
    application sees the request (by its Content-Length, or as a chunked body streams in);
    a body within the limit is handed on whole."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _too_large(send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None
            body += message.get("body", b"")
            if len(body) > self.limit:
                return await _too_large(send)
            more = message.get("more_body", False)
        handed = False

        async def whole():
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, whole, send)


async def _too_large(send) -> None:
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"request body too large"})
