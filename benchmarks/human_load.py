"""Load on the human quiz: N simulated participants at once (threads, bounded loops, on
127.0.0.1 only) each take the practice and Q questions of a real `spare3d human serve`,
loading the page and its drawings and answering, as a browser does. Prints p50/p95 latency
per request kind, and checks that no answer was lost or duplicated: the database holds,
for every participant, one answer per position, the choice that participant made. With
`--kill-after K` the server is killed (SIGKILL) once K answers are in and started again on
the same database; participants retry through the outage, and every answer acknowledged
before the kill must still be there.

    python benchmarks/human_load.py DATASET... [--participants 50] [--questions 20] [--kill-after K]
"""

from __future__ import annotations

import argparse
import http.client
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "load-benchmark-admin-token"


class Quiz:
    """The server process: started, killed and started again on one port and database."""

    def __init__(self, datasets: list[str], db: Path, questions: int, practice: int) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.argv = [sys.executable, "-m", "spare3d_bench.cli", "human", "serve", *datasets, "--db", str(db), "--port",
                     str(self.port), "--token", TOKEN, "--questions", str(questions), "--practice", str(practice)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"the server exited: {self.proc.stderr.read().strip()}")
            try:
                request(self.port, "GET", "/")
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("the server did not start in 120 s")

    def kill(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)


def request(port: int, method: str, path: str, fields: dict | None = None, cookie: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if fields is not None:
        body = urllib.parse.urlencode(fields).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


class Participant(threading.Thread):
    """One simulated participant: start, then page, drawings and answer until done,
    retrying (bounded) while the server is down."""

    def __init__(self, quiz: Quiz, seed: int, counter, latencies, stop_at: float) -> None:
        super().__init__(daemon=True)
        self.quiz, self.rng, self.counter, self.latencies = quiz, np.random.default_rng(seed), counter, latencies
        self.stop_at = stop_at
        self.acked: dict[int, int] = {}  # position -> choice, answers the server acknowledged
        self.error: str | None = None

    def timed(self, kind: str, *args, **kw):
        while time.monotonic() < self.stop_at:
            t0 = time.perf_counter()
            try:
                out = request(self.quiz.port, *args, **kw)
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)  # the server is down, or died mid-response: try again
                continue
            self.latencies[kind].append(time.perf_counter() - t0)
            return out
        raise TimeoutError("gave up: the server stayed down")

    def run(self) -> None:
        try:
            status, headers, _ = self.timed("start", "POST", "/start", {})
            cookie = headers["set-cookie"].split(";")[0]
            while True:
                status, _, page = self.timed("page", "GET", "/quiz", cookie=cookie)
                page = page.decode()
                if 'id="done"' in page:
                    return
                fields = dict(re.findall(r'name="(csrf|position|nonce)" value="([^"]*)"', page))
                for path in sorted(set(re.findall(r'src="(/drawing/[^"]+)"', page))):
                    self.timed("drawing", "GET", path)
                k = len(re.findall(r'class="choice"', page))
                choice = int(self.rng.integers(k))
                status, _, _ = self.timed("answer", "POST", "/answer",
                                          {**fields, "choice": str(choice), "rt_ms": "900"}, cookie=cookie)
                if status in (200, 303):
                    self.acked[int(fields["position"])] = choice
                    self.counter()
                elif status != 409:  # 409: answered before an outage, its acknowledgement lost
                    raise RuntimeError(f"answer refused with {status}")
        except Exception as e:  # noqa: BLE001 - reported with the participant's number
            self.error = f"{e.__class__.__name__}: {e}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="+", metavar="DATASET")
    ap.add_argument("--participants", type=int, default=50)
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--practice", type=int, default=2)
    ap.add_argument("--kill-after", type=int, default=0, metavar="K", help="SIGKILL the server after K answers, restart")
    ap.add_argument("--limit", type=float, default=600.0, help="give up after this many seconds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "quiz.sqlite"
        quiz = Quiz(args.datasets, db_path, args.questions, args.practice)
        quiz.start()
        lock, answered, killed = threading.Lock(), [0], threading.Event()

        def counter() -> None:
            with lock:
                answered[0] += 1
                due = args.kill_after and answered[0] == args.kill_after
            if due:
                killed.set()

        latencies: dict[str, list[float]] = defaultdict(list)
        stop_at = time.monotonic() + args.limit
        people = [Participant(quiz, i, counter, latencies, stop_at) for i in range(args.participants)]
        t0 = time.perf_counter()
        for p in people:
            p.start()
        if args.kill_after:
            killed.wait(timeout=args.limit)
            quiz.kill(signal.SIGKILL)
            print(f"killed the server (SIGKILL) once {args.kill_after} answers were in ({answered[0]} by then); "
                  "restarting", flush=True)
            quiz.start()
        for p in people:
            p.join(timeout=max(1.0, stop_at - time.monotonic()))
        wall = time.perf_counter() - t0
        quiz.kill(signal.SIGTERM)
        with sqlite3.connect(db_path) as db:
            stored = db.execute("SELECT p.number, a.position, a.choice FROM answers a JOIN participants p "
                                "ON p.token = a.token").fetchall()
            numbers = dict(db.execute("SELECT number, token FROM participants").fetchall())
    per = args.questions + args.practice
    print(f"{args.participants} participants x {per} answers ({args.practice} practice) in {wall:.1f} s, "
          f"{len(stored)} answers stored")
    for kind in ("start", "page", "drawing", "answer"):
        t = np.asarray(latencies[kind]) * 1000
        if len(t):
            print(f"{kind:8s} {len(t):6d} requests  p50 {np.percentile(t, 50):7.1f} ms  p95 {np.percentile(t, 95):7.1f} ms")
    problems = [f"participant {i}: {p.error}" for i, p in enumerate(people) if p.error]
    by_person: dict[int, dict[int, int]] = defaultdict(dict)
    duplicates = len(stored) - len({(n, pos) for n, pos, _ in stored})
    for n, pos, choice in stored:
        by_person[n][pos] = choice
    if len(numbers) != args.participants:
        problems.append(f"{len(numbers)} participants stored, {args.participants} started")
    if duplicates:
        problems.append(f"{duplicates} duplicated answers")
    # Participants are numbered in the order they started, not by thread: match them by answers.
    for i, p in enumerate(people):
        if not any(all(by_person[n].get(pos) == c for pos, c in p.acked.items()) for n in by_person):
            problems.append(f"participant {i}: an acknowledged answer is missing or changed")
    incomplete = [n for n in by_person if sorted(by_person[n]) != list(range(per))]
    if incomplete or len(stored) != args.participants * per:
        problems.append(f"{len(stored)} answers stored, {args.participants * per} expected")
    for line in problems[:10]:
        print(f"PROBLEM {line}")
    print("no answer lost or duplicated" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
