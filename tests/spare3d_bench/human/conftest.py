"""A real quiz server (`spare3d human serve` in its own process, on a free loopback port)
and a participant that talks to it over HTTP as a browser's forms do."""

from __future__ import annotations

import http.client
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
ROOT = Path(__file__).resolve().parents[3]
TOKEN = "test-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`spare3d human serve` on DATASETS with a quiz database, started and stopped."""

    def __init__(self, datasets: list[Path], db: Path, *options: str) -> None:
        self.datasets, self.db, self.options = datasets, db, options
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        argv = [sys.executable, "-m", "spare3d_bench.cli", "human", "serve", *map(str, self.datasets), "--db", str(self.db),
                "--port", str(self.port), "--token", TOKEN, *self.options]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read()}")
            try:
                if self.request("GET", "/")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, fields: dict | None = None, cookie: str | None = None,
                headers: dict | None = None, body: bytes | None = None) -> tuple[int, dict, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(headers or {})
        if fields is not None:
            body = urllib.parse.urlencode(fields).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie:
            h["Cookie"] = cookie
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data.decode("utf-8", "replace")


class Participant:
    """One participant's session: its cookie, and the form fields of the question shown."""

    def __init__(self, server: Server) -> None:
        self.server = server
        status, headers, _ = server.request("POST", "/start", {})
        assert status == 303, status
        self.cookie = headers["set-cookie"].split(";")[0]

    def question(self) -> dict:
        """The question page's form fields, its drawings' numbers, and whether it is done."""
        status, _, page = self.server.request("GET", "/quiz", cookie=self.cookie)
        assert status == 200
        if 'id="done"' in page:
            return {"done": True}
        fields = dict(re.findall(r'name="(csrf|position|nonce)" value="([^"]*)"', page))
        return {"done": False, "fields": fields, "page": page, "n": int(re.search(r"/drawing/(\d+)/F", page).group(1)),
                "practice": "Practice" in page.split("&middot;")[0]}

    def answer(self, choice: int, **change) -> tuple[int, str]:
        fields = {**self.question()["fields"], "choice": str(choice), "rt_ms": "1500", **change}
        status, _, page = self.server.request("POST", "/answer", fields, cookie=self.cookie)
        return status, page


@pytest.fixture
def quiz(solver_data, tmp_path):
    """A started server on the three solver datasets (practice 2, 6 questions), stopped after."""
    server = Server([solver_data[t] for t in ("t2i", "i2p", "p2i")], tmp_path / "quiz.sqlite", "--questions", "6",
                    "--practice", "2", "--seed", "3").start()
    yield server
    server.kill()
