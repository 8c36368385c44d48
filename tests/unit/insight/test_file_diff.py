"""Bounded unified diffs."""

from __future__ import annotations

from tarmac.insight.file_diff import MAX_DIFF_LINES, diff_files, unified_diff


def test_a_diff_is_cut_at_the_byte_budget_and_says_so() -> None:
    old = "".join(f"line {n}\n" for n in range(100))
    new = "".join(f"LINE {n}\n" for n in range(100))
    text, truncated = unified_diff("f.txt", old, new, max_bytes=200)
    assert truncated
    assert len(text.encode()) <= 200


def test_a_diff_is_cut_at_the_line_bound() -> None:
    old = "".join(f"{n}\n" for n in range(MAX_DIFF_LINES))
    new = "".join(f"x{n}\n" for n in range(MAX_DIFF_LINES))
    text, truncated = unified_diff("f", old, new, max_bytes=10**9)
    assert truncated
    assert text.count("\n") == MAX_DIFF_LINES


def test_missing_final_newline_is_marked() -> None:
    text, truncated = unified_diff("f", "a\n", "b", max_bytes=10**6)
    assert not truncated
    assert text.endswith("+b\n\\ No newline at end of file\n")


def test_non_utf8_is_binary() -> None:
    [result] = diff_files(["x"], before={"x": b"\xff\xfe"}, after={"x": b"ok\n"})
    assert result.binary and result.diff is None
