"""The compare view's file diffs, highlighted by Pygments (its HTML is escaped by Pygments)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer

FILES_SHOWN = 50


@dataclass(frozen=True)
class ShownFile:
    path: str
    binary: bool
    truncated: bool
    html: Markup | None


@cache
def _formatter() -> HtmlFormatter[str]:
    return HtmlFormatter(cssclass="highlight", wrapcode=True)


def pygments_css() -> str:
    """The stylesheet for the highlighted diffs (Pygments' own)."""
    return str(_formatter().get_style_defs(".highlight"))  # type: ignore[no-untyped-call]


def shown_files(file_diffs: list[dict[str, Any]]) -> list[ShownFile]:
    return [
        ShownFile(
            path=f["path"],
            binary=f["binary"],
            truncated=f["truncated"],
            html=Markup(highlight(f["diff"], DiffLexer(), _formatter())) if f["diff"] else None,
        )
        for f in file_diffs[:FILES_SHOWN]
    ]
