"""Request and response shapes of the users and tokens API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from tarmac.access.roles import SystemRole

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
]


Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password


class UiSessionsEnded(BaseModel):
    user_id: str
    ended_ui_sessions: int


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    system_role: SystemRole | None = None
    password: Password | None = None


class UserOut(BaseModel):
    id: str
    username: str
    system_role: str | None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$"
        ),
    ]
    deployment_id: str | None = None
    """Set to make a read-only agent token for that Deployment's live code."""


class TokenOut(BaseModel):
    id: str
    token: str
    name: str
    scope_deployment_id: str | None = None


class TokenRevoked(BaseModel):
    id: str
    revoked: bool
