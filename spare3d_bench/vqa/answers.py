"""Free-text answers of a solver read as a choice: "B", "(b) the second one", "Answer: C",
"2", "pose 5", "**D**". A refusal, an empty answer, or one that names two different choices
reads as no choice, which scores as wrong.
"""

from __future__ import annotations

import re

#: "the answer is C", "Answer: (c)", "final answer - 3", "I choose B", "option 2".
_STATED = re.compile(r"(?:answer|choice|choose|option|select|pick)(?:\s+is)?\s*[:\-=]?\s*\(?\**\s*([A-Za-z]|\d{1,2})\b",
                     re.IGNORECASE)
_POSE = re.compile(r"\bpose\s*(\d{1,2})\b", re.IGNORECASE)
_PAREN = re.compile(r"\(([A-Za-z]|\d{1,2})\)")
_LEADING = re.compile(r"^\W*([A-Za-z]|\d{1,2})(?:\W|$)")
_CAPITAL = re.compile(r"(?<![\w'])([A-Z])(?![\w'])")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,2})(?![\w.])")


def parse_choice(text: str | None, choices: tuple[str, ...], poses: tuple[int, ...] | None = None) -> int | None:
    """The index in `choices` (letters "A", "B", ...) that `text` names, or None.

    Letters are read case-insensitively where the text marks them as an answer (alone,
    first, in parentheses, or after "answer", "option" and the like) and as capitals
    elsewhere ("a" is an article). Numbers are 1-based positions, except when the choices
    are poses (`poses`: the pose number of each choice, I2P), where "5" or "pose 5" is
    that pose. Several different choices named in the text read as None."""
    if not text or not text.strip():
        return None

    def index(token: str) -> int | None:
        if token.isdigit():
            n = int(token)
            if poses is not None:
                return poses.index(n) if n in poses else None
            return n - 1 if 1 <= n <= len(choices) else None
        token = token.upper()
        return choices.index(token) if token in choices else None

    text = text.strip()
    for rule in (_STATED, _POSE):
        found = {index(m.group(1)) for m in rule.finditer(text)} - {None}
        if rule is _POSE and poses is None:
            continue
        if len(found) == 1:
            return found.pop()
        if len(found) > 1:
            return None
    # A choice alone, or first and closed ("B.", "(b) the second", "C: ..."), decides.
    lead = _LEADING.match(text)
    first = index(lead.group(1)) if lead else None
    after = text[lead.end(1) : lead.end(1) + 1] if lead else ""
    if first is not None and (after in ("", ")", ".", ":", "*") or text.strip("*().: ") == lead.group(1)):
        return first
    # Otherwise the choices named anywhere: one of them, or none.
    found = {index(m.group(1)) for rule in (_PAREN, _CAPITAL, _NUMBER) for m in rule.finditer(text)} - {None}
    if first is not None and (lead.group(1).isupper() or lead.group(1).isdigit()):
        found.add(first)
    return found.pop() if len(found) == 1 else None
