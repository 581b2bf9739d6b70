"""The one error type users see: a file (or input) and a one-line reason."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 epoch', '2 epochs': a count with its noun in the right number, for messages."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


class RenderError(Exception):
    """A user-facing failure: `source` names the file or input, `reason` says why in one line."""

    def __init__(self, source: object, reason: str) -> None:
        self.source = str(source)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.source}: {self.reason}")
