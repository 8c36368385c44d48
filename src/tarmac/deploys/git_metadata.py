"""Git metadata of a deploy: validated from the deploy form, stored beside the deploy.

A rollback copies the target's metadata, so the new deploy shows the commit it brings
back. The commit link is derived for the common hosts (GitHub, GitLab, Bitbucket).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from tarmac.deploys.models import Deploy, DeployGit
from tarmac.deploys.schemas import GitOut
from tarmac.errors import InvalidRequest

FORM_FIELDS = (
    "git_commit",
    "git_branch",
    "git_remote_url",
    "git_author",
    "git_message",
    "git_committed_at",
)
_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")
_SCP_REMOTE = re.compile(r"(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>[\w./~-]+)")
_MAX = {"git_branch": 255, "git_remote_url": 1024, "git_author": 255, "git_message": 4000}
_LINK_HOSTS = {
    "github.com": "{base}/commit/{sha}",
    "gitlab.com": "{base}/-/commit/{sha}",
    "bitbucket.org": "{base}/commits/{sha}",
}


@dataclass(frozen=True)
class GitMetadata:
    commit: str
    branch: str | None = None
    remote_url: str | None = None
    author: str | None = None
    message: str | None = None
    committed_at: datetime | None = None


def parse_git_fields(fields: Mapping[str, str]) -> GitMetadata | None:
    """The form's ``git_*`` fields, validated; None when no commit is given."""
    values = {name: fields.get(name, "").strip() for name in FORM_FIELDS}
    if not values["git_commit"]:
        if any(values.values()):
            raise InvalidRequest("git_* fields need git_commit", field="git_commit")
        return None
    if not _COMMIT.fullmatch(values["git_commit"]):
        raise InvalidRequest("git_commit must be 7 to 40 hexadecimal digits", field="git_commit")
    for name, limit in _MAX.items():
        if len(values[name]) > limit:
            raise InvalidRequest(f"{name} is at most {limit} characters", field=name)
        if name != "git_message" and not values[name].isprintable():
            raise InvalidRequest(f"{name} must be printable text", field=name)
    if values["git_remote_url"]:
        check_remote_url(values["git_remote_url"])
    return GitMetadata(
        commit=values["git_commit"].lower(),
        branch=values["git_branch"] or None,
        remote_url=values["git_remote_url"] or None,
        author=values["git_author"] or None,
        message=values["git_message"] or None,
        committed_at=_parse_time(values["git_committed_at"]),
    )


def check_remote_url(url: str) -> None:
    """An http(s)/ssh/git URL or an scp-like ``git@host:path``; no credentials in it."""
    parts = urlsplit(url)
    if parts.scheme:
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            raise InvalidRequest(
                "git_remote_url must be an https, ssh or git URL", field="git_remote_url"
            )
        if parts.password is not None or (parts.scheme.startswith("http") and parts.username):
            raise InvalidRequest(
                "git_remote_url must not carry credentials", field="git_remote_url"
            )
        return
    if not _SCP_REMOTE.fullmatch(url):
        raise InvalidRequest("git_remote_url is not a Git remote URL", field="git_remote_url")


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            "git_committed_at must be an ISO 8601 time", field="git_committed_at"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def attach_git(session: Session, *, deploy: Deploy, git: GitMetadata | None) -> None:
    """Store the metadata beside the (flushed) deploy; nothing when unknown."""
    if git is None:
        return
    deploy.git_record = DeployGit(
        deploy_id=deploy.id,
        commit=git.commit,
        branch=git.branch,
        remote_url=git.remote_url,
        author=git.author,
        message=git.message,
        committed_at=git.committed_at,
    )
    session.flush()


def git_of(deploy: Deploy) -> GitMetadata | None:
    """The deploy's metadata (loaded with the deploy), or None when unknown."""
    row = deploy.git_record
    return _metadata(row) if row is not None else None


def _metadata(row: DeployGit) -> GitMetadata:
    return GitMetadata(
        commit=row.commit,
        branch=row.branch,
        remote_url=row.remote_url,
        author=row.author,
        message=row.message,
        committed_at=row.committed_at,
    )


def git_out(git: GitMetadata | None) -> GitOut | None:
    if git is None:
        return None
    return GitOut(
        commit=git.commit,
        branch=git.branch,
        remote_url=git.remote_url,
        author=git.author,
        message=git.message,
        committed_at=git.committed_at,
        commit_url=commit_url(git.remote_url, git.commit),
    )


def git_event_fields(git: GitMetadata | None) -> dict[str, object]:
    """``tarmac.git`` of a deploy event (empty when unknown)."""
    out = git_out(git)
    return {"git": out.model_dump(mode="json")} if out else {}


def commit_url(remote_url: str | None, commit: str) -> str | None:
    """A browser link to the commit for GitHub, GitLab and Bitbucket remotes."""
    if not remote_url:
        return None
    parts = urlsplit(remote_url)
    if parts.scheme and parts.hostname:
        host, path = parts.hostname.lower(), parts.path
    elif match := _SCP_REMOTE.fullmatch(remote_url):
        host, path = match["host"].lower(), match["path"]
    else:
        return None
    template = _LINK_HOSTS.get(host)
    path = path.strip("/").removesuffix(".git")
    if template is None or not path:
        return None
    return template.format(base=f"https://{host}/{path}", sha=commit)
