"""IgnoreRules: Airflow's regexp and glob .airflowignore semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from tarmac.bundles.airflowignore import IgnoreRules, IgnoreSyntax


def _rules(tmp_path: Path, text: str, syntax: IgnoreSyntax, rel_dir: str = "") -> IgnoreRules:
    ignore_file = tmp_path / ".airflowignore"
    ignore_file.write_text(text)
    return IgnoreRules(syntax).with_file(ignore_file, rel_dir=rel_dir)


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        ("*.py", "a.py", False, True),
        ("*.py", "deep/er/a.py", False, True),
        ("*.py", "a.pyx", False, False),
        ("build/", "build", True, True),
        ("build/", "build", False, False),
        ("build/", "x/build", True, True),
        ("/build", "x/build", True, False),
        ("/build", "build", False, True),
        ("a/b.py", "a/b.py", False, True),
        ("a/b.py", "x/a/b.py", False, False),
        ("**/gen", "x/y/gen", True, True),
        ("a/**", "a/b/c.py", False, True),
        ("a/**", "a", True, False),
        ("a/**/z.py", "a/z.py", False, True),
        ("a/**/z.py", "a/b/c/z.py", False, True),
        ("dag_?.py", "dag_1.py", False, True),
        ("dag_?.py", "dag_10.py", False, False),
        ("dag_[0-4].py", "dag_3.py", False, True),
        ("dag_[!0-4].py", "dag_3.py", False, False),
        ("dag_[!0-4].py", "dag_7.py", False, True),
        ("\\*.py", "*.py", False, True),
        ("\\*.py", "a.py", False, False),
        ("*", "anything", False, True),
        ("**", "any/thing", False, True),
    ],
)
def test_glob_patterns(
    tmp_path: Path, pattern: str, path: str, is_dir: bool, ignored: bool
) -> None:
    assert _rules(tmp_path, pattern, "glob").ignores(path, is_dir=is_dir) is ignored


def test_glob_last_matching_line_wins(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "*.sql\n!keep*.sql\nkeep_not.sql\n", "glob")

    assert rules.ignores("a.sql", is_dir=False)
    assert not rules.ignores("keep.sql", is_dir=False)
    assert rules.ignores("keep_not.sql", is_dir=False)


def test_glob_anchored_patterns_are_relative_to_their_file(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "/local.py\nsub/x.py\n", "glob", rel_dir="team")

    assert rules.ignores("team/local.py", is_dir=False)
    assert rules.ignores("team/sub/x.py", is_dir=False)
    assert not rules.ignores("team/other/local.py", is_dir=False)


def test_regexp_uses_search_and_strips_comments(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "tenant_[\\d]   # numbered tenants\n#project_b\n", "regexp")

    assert rules.ignores("x/my_tenant_1.py", is_dir=False)
    assert not rules.ignores("project_b.py", is_dir=False)


def test_invalid_patterns_are_skipped(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "([unclosed\nvalid\n", "regexp")

    assert rules.ignores("valid.py", is_dir=False)
    assert not rules.ignores("([unclosed", is_dir=False)


def test_subfolder_rules_add_to_inherited_ones(tmp_path: Path) -> None:
    parent = _rules(tmp_path, "one\n", "regexp")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".airflowignore").write_text("two\none\n")
    child = parent.with_file(tmp_path / "sub" / ".airflowignore", rel_dir="sub")

    assert child.ignores("sub/one.py", is_dir=False)
    assert child.ignores("sub/two.py", is_dir=False)
    assert not parent.ignores("sub/two.py", is_dir=False)
