"""The one error type users see: a file (or input) and a one-line reason."""

from __future__ import annotations


class RenderError(Exception):
    """A user-facing failure: `source` names the file or input, `reason` says why in one line."""

    def __init__(self, source: object, reason: str) -> None:
        self.source = str(source)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.source}: {self.reason}")
