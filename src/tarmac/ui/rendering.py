"""Jinja2 templates (autoescaped, strict) and the filters the pages share."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from tarmac import __version__
from tarmac.deployments.schemas import DagDeployMode
from tarmac.deploys.git_metadata import commit_url
from tarmac.deploys.schemas import DeployType

_DEPLOY_TYPES = {
    DeployType.IMAGE_AND_DAG: "Image + DAGs",
    DeployType.IMAGE_ONLY: "Image",
    DeployType.DAG_ONLY: "DAGs only",
}
_ROLES = {
    "SYSTEM_ADMIN": "System Admin",
    "SYSTEM_EDITOR": "System Editor",
    "SYSTEM_VIEWER": "System Viewer",
    "DEPLOYMENT_ADMIN": "Deployment Admin",
    "DEPLOYMENT_EDITOR": "Deployment Editor",
    "DEPLOYMENT_VIEWER": "Deployment Viewer",
}
# What a refusal means to the person reading the page, where the API's message names
# internal permissions.
_PLAIN_REFUSALS = {
    "permission_denied": (
        "You can view this Deployment, but not roll it back: that needs the Deployment"
        " Editor or Deployment Admin role on it (or System Admin). Ask one of its admins."
    ),
}
_MODES = {
    DagDeployMode.IMAGE: "Image",
    DagDeployMode.DAG_DEPLOY: "DAG deploys",
    DagDeployMode.NFS: "NFS",
    DagDeployMode.GIT_SYNC: "Git sync",
}


@cache
def environment() -> jinja2.Environment:
    """The template environment, built on first use (not at import)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tarmac.ui", "templates"),
        autoescape=True,  # every page is HTML: escape everything, always
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        reltime=relative_time,
        exact_time=exact_time,
        short_sha=short_sha,
        deploy_type=lambda value: _DEPLOY_TYPES.get(value, value),
        dag_mode=lambda value: _MODES.get(value, value),
        duration=duration,
        shown=lambda value: (
            "none"
            if value is None
            else ("on" if value is True else ("off" if value is False else value))
        ),
        commit_url=lambda git: commit_url(git.remote_url, git.commit) if git else None,
        role=lambda value: _ROLES.get(str(value), value),
    )
    env.globals["plain_refusal"] = plain_refusal
    env.globals["static"] = lambda path: f"/ui/static/{path}?v={__version__}"
    return env


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the signed-in user and the session's CSRF token available to it."""
    session = getattr(request.state, "ui_session", None)
    page = (
        environment()
        .get_template(template)
        .render(
            request_path=request.url.path,
            user=getattr(request.state, "ui_principal", None),
            csrf_token=session.csrf_token if session else "",
            now=datetime.now(UTC),
            **context,
        )
    )
    return HTMLResponse(page, status_code=status)


def plain_refusal(code: str, message: str) -> str:
    """A refusal in the words of the UI (permission names stay in the API's message)."""
    return _PLAIN_REFUSALS.get(code, message)


def relative_time(moment: datetime | None, now: datetime | None = None) -> str:
    """``5 minutes ago``, ``3 days ago``; exact time belongs in a title attribute."""
    if moment is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 0:
        return "just now"
    for size, unit in (
        (86400 * 365, "year"),
        (86400 * 30, "month"),
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
    ):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def exact_time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_sha(value: str | None) -> str:
    return value[:12] if value else "—"


def duration(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``2.1 days``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
