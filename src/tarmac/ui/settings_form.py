"""The Settings form: what it shows for a Deployment, and the update it asks for."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.datastructures import FormData

from tarmac.deployments.models import Deployment
from tarmac.deployments.schemas import DeploymentUpdate, EnvVarIn
from tarmac.errors import InvalidRequest
from tarmac.ui.forms import text_field, validation_message

BLANK_ENV_ROWS = 2
MAX_ENV_ROWS = 1000


@dataclass(frozen=True)
class EnvRow:
    """One variable as the form shows it; a secret's value is never sent to the browser."""

    key: str
    value: str
    is_secret: bool
    stored_secret: bool  # an existing secret: an empty value keeps it


@dataclass(frozen=True)
class SettingsValues:
    name: str
    description: str
    resources_text: str
    rollback_enabled: bool
    env_rows: list[EnvRow]


def values_of(deployment: Deployment) -> SettingsValues:
    """The form filled from the Deployment as stored."""
    return SettingsValues(
        name=deployment.name,
        description=deployment.description or "",
        resources_text=json.dumps(deployment.resources, indent=2, sort_keys=True),
        rollback_enabled=deployment.rollback_enabled,
        env_rows=[
            EnvRow(
                key=v.key,
                value="" if v.is_secret else v.value,
                is_secret=v.is_secret,
                stored_secret=v.is_secret,
            )
            for v in deployment.env_vars
        ],
    )


def submitted_values(form: FormData, deployment: Deployment) -> SettingsValues:
    """What the user sent, to show again after a refusal (typed secrets are not echoed)."""
    stored = {v.key for v in deployment.env_vars if v.is_secret}
    rows = []
    for index in range(_row_count(form)):
        key = text_field(form, f"env-{index}-key").strip()
        if not key or text_field(form, f"env-{index}-remove"):
            continue
        secret = bool(text_field(form, f"env-{index}-secret"))
        value = "" if secret else text_field(form, f"env-{index}-value")
        rows.append(EnvRow(key=key, value=value, is_secret=secret, stored_secret=key in stored))
    return SettingsValues(
        name=text_field(form, "name"),
        description=text_field(form, "description"),
        resources_text=text_field(form, "resources"),
        rollback_enabled=bool(text_field(form, "rollback_enabled")),
        env_rows=rows,
    )


def requested_update(form: FormData, deployment: Deployment) -> DeploymentUpdate:
    """The PATCH this form amounts to; unchanged variables are left out (no false event)."""
    description = text_field(form, "description")
    try:
        return DeploymentUpdate(
            name=text_field(form, "name"),
            description=None if not description and not deployment.description else description,
            resources=_resources(text_field(form, "resources")),
            env_vars=_env_vars(form, deployment),
            rollback_enabled=bool(text_field(form, "rollback_enabled")),
        )
    except ValidationError as exc:
        location = exc.errors()[0].get("loc", ()) if exc.errors() else ()
        field = str(location[0]) if location else None
        raise InvalidRequest(validation_message(exc), field=field) from None


def _resources(text: str) -> dict[str, object]:
    try:
        value = json.loads(text or "{}")
    except ValueError as exc:
        raise InvalidRequest(f"resources: not valid JSON ({exc})", field="resources") from None
    if not isinstance(value, dict):
        raise InvalidRequest("resources: must be a JSON object", field="resources")
    return value


def _env_vars(form: FormData, deployment: Deployment) -> list[EnvVarIn] | None:
    requested = []
    for index in range(_row_count(form)):
        key = text_field(form, f"env-{index}-key").strip()
        if not key or text_field(form, f"env-{index}-remove"):
            continue
        secret = bool(text_field(form, f"env-{index}-secret"))
        value: str | None = text_field(form, f"env-{index}-value")
        if secret and not value:
            value = None  # keep the stored secret (write-only)
        requested.append(EnvVarIn(key=key, value=value, is_secret=secret))
    current = [(v.key, None if v.is_secret else v.value, v.is_secret) for v in deployment.env_vars]
    if [(v.key, v.value, v.is_secret) for v in requested] == current:
        return None
    return requested


def _row_count(form: FormData) -> int:
    try:
        count = int(text_field(form, "env-count") or 0)
    except ValueError:
        raise InvalidRequest("env-count: not a number", field="env_vars") from None
    if not 0 <= count <= MAX_ENV_ROWS + BLANK_ENV_ROWS:
        raise InvalidRequest("too many environment variable rows", field="env_vars")
    return count
