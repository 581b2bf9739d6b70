"""Input files before any reader sees them: there, a regular file, readable, non-empty,
and under a name the OCCT bindings accept."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import RenderError


def checked_size(p: Path) -> int:
    """The size of `p`, after checking that it is a readable, non-empty regular file;
    RenderError names the file and the reason otherwise (missing, a folder, no permission)."""
    try:
        st = p.stat()
    except FileNotFoundError:
        if os.path.islink(p):
            raise RenderError(p, f"file not found (a link to {os.readlink(p)}, which is missing)") from None
        raise RenderError(p, "file not found") from None
    except PermissionError as e:  # a folder on the way that cannot be searched
        raise RenderError(p, f"cannot be read: {e.strerror}") from None
    except OSError as e:  # a link loop, a name too long
        raise RenderError(p, e.strerror or str(e)) from None
    if not stat.S_ISREG(st.st_mode):
        raise RenderError(p, "not a regular file")
    try:
        with open(p, "rb"):
            pass
    except OSError as e:
        raise RenderError(p, f"cannot be read: {e.strerror or e}") from None
    if st.st_size == 0:
        raise RenderError(p, "file is empty")
    return st.st_size


@contextmanager
def native_name(p: Path) -> Iterator[str]:
    """A name for `p` that crosses into C++: a file name that is not valid UTF-8 (which
    the file system allows) cannot, so such a file is reached through a temporary link."""
    name = str(p)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        with tempfile.TemporaryDirectory(prefix="spare3d-") as tmp:
            link = os.path.join(tmp, "input" + p.suffix.lower())  # readers pick by it; callers checked it is known
            os.symlink(os.path.abspath(p), link)
            yield link
        return
    yield name


def plain_name(text: str, what: str = "name") -> str:
    """`text` if it is a plain file name, one that stays inside the folder it is joined to
    (no separator, not '.' or '..', no leading dot, printable, at most 200 bytes);
    ValueError says why not. Options that become file names go through it, so that
    `--name ../../x` cannot write outside the run folder."""
    reason = (
        "is empty" if not text
        else "holds a path separator" if "/" in text or "\\" in text or (os.altsep and os.altsep in text)
        else "is not a plain name" if text in (".", "..") or text.startswith(".")
        else "holds control characters" if not text.isprintable()
        else "is longer than 200 bytes" if len(os.fsencode(text)) > 200
        else ""
    )
    if reason:
        raise ValueError(f"{what} {text!r} {reason}: give a plain file name (letters, digits, '-', '_', '.')")
    return text
