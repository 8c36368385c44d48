"""``.airflowignore`` rules, with the meaning Airflow gives them when it scans a DAGs folder.

As in Airflow (``airflow.utils.file.find_path_from_directory``): a ``.airflowignore``
applies to its directory and every subfolder; subfolders add their own rules to their
parent's. Each line loses everything from a ``#`` (and the whitespace before it).

- ``regexp`` (Airflow's default): each line is a regular expression; a path is ignored
  when ``re.search`` finds it in the path *relative to the DAGs folder root* (Airflow
  uses the root even for rules from a subfolder's file). Invalid expressions are
  skipped, as Airflow does.
- ``glob``: gitignore-style patterns. One without a slash (other than a trailing one)
  matches the name at any depth; one with a slash is relative to the folder of its
  ``.airflowignore``; ``*``, ``?``, ``[...]``, ``**`` and ``!`` negation work as in
  git, a trailing ``/`` matches directories only, and the last matching line wins.

An ignored directory is not descended into, so nothing below it can be re-included.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

IgnoreSyntax = Literal["regexp", "glob"]
IGNORE_FILE = ".airflowignore"

log = logging.getLogger(__name__)
_COMMENT = re.compile(r"\s*#.*")


class _Rule(Protocol):
    def verdict(self, rel_path: str, *, is_dir: bool) -> bool | None:
        """True: ignore; False: re-include; None: this rule does not match."""


@dataclass(frozen=True)
class _RegexpRule:
    pattern: re.Pattern[str]

    def verdict(self, rel_path: str, *, is_dir: bool) -> bool | None:
        return True if self.pattern.search(rel_path) else None


@dataclass(frozen=True)
class _GlobRule:
    regex: re.Pattern[str]
    ignore: bool
    dir_pattern: bool
    base: str | None
    """Directory (relative to the root) an anchored pattern is relative to; None: match names."""

    def verdict(self, rel_path: str, *, is_dir: bool) -> bool | None:
        if self.base is None:
            subject = rel_path.rsplit("/", 1)[-1]
        else:
            subject = rel_path[len(self.base) + 1 :] if self.base else rel_path
        if self.dir_pattern and is_dir:
            subject += "/"
        return self.ignore if self.regex.match(subject) else None


class IgnoreRules:
    """The ignore rules in force in one directory of a DAGs folder."""

    def __init__(self, syntax: IgnoreSyntax, rules: tuple[_Rule, ...] = ()) -> None:
        self.syntax = syntax
        self._rules = rules

    def with_file(self, ignore_file: Path, *, rel_dir: str) -> IgnoreRules:
        """These rules plus those of ``ignore_file``, found in directory ``rel_dir``."""
        added: list[_Rule] = []
        for raw_line in ignore_file.read_text(encoding="utf-8").split("\n"):
            line = _COMMENT.sub("", raw_line)
            if not line:
                continue
            rule = _regexp_rule(line) if self.syntax == "regexp" else _glob_rule(line, rel_dir)
            if rule is None:
                log.warning("ignoring invalid pattern %r in %s", line, ignore_file)
            else:
                added.append(rule)
        # Airflow drops repeated rules, keeping the first; order matters for negation.
        return IgnoreRules(self.syntax, tuple(dict.fromkeys((*self._rules, *added))))

    def ignores(self, rel_path: str, *, is_dir: bool) -> bool:
        """Whether ``rel_path`` (relative to the DAGs folder root) is left out."""
        ignored = False
        for rule in self._rules:
            verdict = rule.verdict(rel_path, is_dir=is_dir)
            if verdict is not None:
                ignored = verdict
        return ignored


def _regexp_rule(line: str) -> _RegexpRule | None:
    try:
        return _RegexpRule(re.compile(line))
    except re.error:
        return None


def _glob_rule(line: str, rel_dir: str) -> _GlobRule | None:
    pattern = line.strip()
    if not pattern or pattern == "/":
        return None
    ignore = not pattern.startswith("!")
    body = pattern if ignore else pattern[1:]
    if not body:
        return None
    # Airflow anchors a pattern to its file's folder when it has a leading or inner slash.
    anchored = "/" in pattern.rstrip("/")
    try:
        regex = re.compile(_glob_regex(body))
    except (re.error, ValueError):
        return None
    return _GlobRule(regex, ignore, pattern.endswith("/"), rel_dir if anchored else None)


def _glob_regex(body: str) -> str:
    """Regular expression for a gitignore-style pattern (without its ``!``)."""
    raw_segments = body.split("/")
    # Repeated '**' segments mean the same as one.
    segments = [
        seg
        for i, seg in enumerate(raw_segments)
        if seg != "**" or raw_segments[i - 1 : i] != ["**"]
    ]
    if segments == ["**", ""]:
        return r"^.+/.*$"  # '**/' matches every directory, no file of the top level
    if not segments[0]:
        del segments[0]
    elif (len(segments) == 1 or segments[1:] == [""]) and segments[0] != "**":
        segments.insert(0, "**")
    if len(segments) > 1 and not segments[-1]:
        segments[-1] = "**"  # 'dir/' means everything below dir
    out, need_slash, last = ["^"], False, len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == "**":
            if i == 0:
                out.append(r"[^/]+(?:/.*)?" if i == last else r"(?:.+/)?")
                need_slash = False
            elif i == last:
                out.append(r"/.*")
            else:
                out.append(r"(?:/.+)?")
                need_slash = True
            continue
        if need_slash:
            out.append("/")
        out.append(r"[^/]+" if segment == "*" else _segment_regex(segment))
        if i == last:
            out.append(r"(?:/.*)?")
        need_slash = True
    out.append("$")
    return "".join(out)


def _segment_regex(segment: str) -> str:
    """Regular expression for one path segment with ``*``, ``?``, ``[...]`` and escapes."""
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        i += 1
        if char == "*":
            out.append(r"[^/]*")
        elif char == "?":
            out.append(r"[^/]")
        elif char == "\\" and i < len(segment):
            out.append(re.escape(segment[i]))
            i += 1
        elif char == "[":
            end = i + 1 if segment[i : i + 1] in ("!", "^") else i
            end = segment.find("]", end + 1)
            if end < 0:
                out.append(re.escape(char))
                continue
            body = segment[i:end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(char))
    return "".join(out)
