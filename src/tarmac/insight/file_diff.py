"""Unified diffs of the text files two bundles both hold, bounded in size.

Binary files (a NUL byte, or not UTF-8) are named only; a file over ``MAX_FILE_BYTES``
on either side, or past the ``MAX_TOTAL_DIFF_BYTES`` budget of the whole comparison, is
reported ``truncated`` without (the rest of) its diff.
"""

from __future__ import annotations

import difflib
import tarfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import BinaryIO

from tarmac.bundles.members import normalise_name

MAX_FILE_BYTES = 1024 * 1024
MAX_DIFF_LINES = 2000
MAX_TOTAL_DIFF_BYTES = 512 * 1024
_TOO_BIG = object()


@dataclass(frozen=True)
class FileDiff:
    path: str
    binary: bool
    truncated: bool
    diff: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "binary": self.binary,
            "truncated": self.truncated,
            "diff": self.diff,
        }


def read_files(
    open_blob: Callable[[str], BinaryIO], sha256: str, paths: Collection[str]
) -> dict[str, bytes | None]:
    """The bytes of the regular files ``paths`` in a stored bundle; None when over the cap."""
    found: dict[str, bytes | None] = {}
    wanted = set(paths)
    with open_blob(sha256) as raw, tarfile.open(fileobj=raw, mode="r|gz") as archive:
        for info in archive:
            if not info.isfile():
                continue
            path = normalise_name(info.name)
            if path not in wanted:
                continue
            if info.size > MAX_FILE_BYTES:
                found[path] = None
                continue
            handle = archive.extractfile(info)
            found[path] = handle.read() if handle is not None else b""
            if len(found) == len(wanted):
                break
    return found


def diff_files(
    paths: Collection[str], *, before: dict[str, bytes | None], after: dict[str, bytes | None]
) -> list[FileDiff]:
    """One ``FileDiff`` per path, in path order, within the total budget."""
    budget = MAX_TOTAL_DIFF_BYTES
    out: list[FileDiff] = []
    for path in sorted(paths):
        old, new = before.get(path), after.get(path)
        if old is None or new is None or budget <= 0:  # too big, a link, or out of budget
            out.append(FileDiff(path=path, binary=False, truncated=True, diff=None))
            continue
        old_text, new_text = _text(old), _text(new)
        if old_text is None or new_text is None:
            out.append(FileDiff(path=path, binary=True, truncated=False, diff=None))
            continue
        text, truncated = unified_diff(path, old_text, new_text, max_bytes=budget)
        budget -= len(text.encode())
        out.append(FileDiff(path=path, binary=False, truncated=truncated, diff=text))
    return out


def unified_diff(path: str, old: str, new: str, *, max_bytes: int) -> tuple[str, bool]:
    """``difflib`` unified diff (3 lines of context), cut at a line or byte bound."""
    lines: list[str] = []
    size = 0
    for n, line in enumerate(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    ):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        size += len(line.encode())
        if n >= MAX_DIFF_LINES or size > max_bytes:
            return "".join(lines), True
        lines.append(line)
    return "".join(lines), False


def _text(data: bytes) -> str | None:
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
