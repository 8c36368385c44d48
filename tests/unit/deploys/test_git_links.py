"""Commit links for the common Git hosts, from the remote URL forms people use."""

from __future__ import annotations

import pytest

from tarmac.deploys.git_metadata import commit_url

SHA = "abc1234"


@pytest.mark.parametrize(
    ("remote", "link"),
    [
        ("https://github.com/acme/etl.git", f"https://github.com/acme/etl/commit/{SHA}"),
        ("git@github.com:acme/etl.git", f"https://github.com/acme/etl/commit/{SHA}"),
        ("ssh://git@github.com/acme/etl", f"https://github.com/acme/etl/commit/{SHA}"),
        ("https://gitlab.com/g/sub/etl.git", f"https://gitlab.com/g/sub/etl/-/commit/{SHA}"),
        ("git@bitbucket.org:team/etl.git", f"https://bitbucket.org/team/etl/commits/{SHA}"),
        ("https://git.example.com/acme/etl.git", None),
        (None, None),
    ],
)
def test_commit_url(remote: str | None, link: str | None) -> None:
    assert commit_url(remote, SHA) == link


def test_history_commit_cell_links_the_commit_and_names_the_branch() -> None:
    from tarmac.cli.deploys import _commit_cell

    git = {"commit": "abcdef0123456789", "branch": "feat/[x]", "commit_url": "https://h/c"}
    assert _commit_cell(git) == "[link=https://h/c]abcdef0123[/link] (feat/\\[x])"
    assert _commit_cell({"commit": "abcdef0123456789", "branch": None}) == "abcdef0123"
    assert _commit_cell(None) is None
