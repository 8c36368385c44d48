"""Read the Git commit a deploy is made from, by running ``git`` on the checkout."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tarmac.deploys.git_metadata import check_remote_url
from tarmac.errors import InvalidRequest

_FORMAT = "%H%x00%an <%ae>%x00%cI%x00%B"


@dataclass(frozen=True)
class Checkout:
    """The HEAD commit of a Git working tree, and whether the tree has local changes."""

    commit: str
    branch: str | None
    remote_url: str | None
    author: str
    committed_at: str
    message: str
    dirty: bool

    def form_fields(self) -> dict[str, str]:
        """The deploy form's ``git_*`` fields."""
        fields = {
            "git_commit": self.commit,
            "git_author": self.author[:255],
            "git_committed_at": self.committed_at,
            "git_message": self.message[:4000],
        }
        if self.branch:
            fields["git_branch"] = self.branch[:255]
        if self.remote_url:
            fields["git_remote_url"] = self.remote_url
        return fields


def read_checkout(folder: Path) -> Checkout | None:
    """The checkout ``folder`` is in, or None when it is not in one (or git is missing)."""
    if shutil.which("git") is None:
        return None
    inside = _git(folder, "rev-parse", "--is-inside-work-tree")
    if inside != "true":
        return None
    head = _git(folder, "log", "-1", f"--format={_FORMAT}")
    if not head:  # a repository without commits
        return None
    commit, author, committed_at, message = head.split("\0", 3)
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    return Checkout(
        commit=commit,
        branch=branch if branch and branch != "HEAD" else None,
        remote_url=_shareable(_without_credentials(_remote_url(folder))),
        author=author,
        committed_at=committed_at,
        message=message.strip(),
        dirty=bool(_git(folder, "status", "--porcelain", "--untracked-files=normal")),
    )


def _shareable(url: str | None) -> str | None:
    """A remote others can reach (https, ssh, git); a local path means nothing to them."""
    if not url:
        return None
    try:
        check_remote_url(url)
    except InvalidRequest:
        return None
    return url


def _remote_url(folder: Path) -> str | None:
    upstream = _git(folder, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    remote = upstream.split("/", 1)[0] if upstream else "origin"
    return _git(folder, "remote", "get-url", remote) or None


def _without_credentials(url: str | None) -> str | None:
    """Drop ``user:token@`` from an https remote: a token must never reach the server."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname and (parts.username or parts.password):
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _git(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
