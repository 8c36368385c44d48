"""HTTP routes for users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from tarmac.access import roles, service
from tarmac.access.principal import Principal
from tarmac.access.schemas import (
    PasswordChange,
    TokenCreate,
    TokenOut,
    TokenRevoked,
    UiSessionsEnded,
    UserCreate,
    UserOut,
)
from tarmac.access.ui_sessions import end_user_ui_sessions
from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, WriteSession, commit
from tarmac.deployments.service import get_deployment
from tarmac.errors import PermissionDenied

router = APIRouter(prefix="/api/v1", tags=["access"])


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserOut)
def create_user(
    body: UserCreate,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> UserOut:
    principal.require(roles.SYSTEM_USERS_CREATE)
    user = service.create_user(
        session, username=body.username, system_role=body.system_role, password=body.password
    )
    commit(session, installation)
    return UserOut(id=user.id, username=user.username, system_role=user.system_role)


@router.get("/users/me", response_model=UserOut)
def who_am_i(principal: CurrentPrincipal) -> UserOut:
    return UserOut(
        id=principal.user_id, username=principal.username, system_role=principal.system_role
    )


@router.post(
    "/users/{user_id}/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenOut
)
def create_token(
    user_id: str,
    body: TokenCreate,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> TokenOut:
    """Users make their own tokens; a System Admin may make them for anyone."""
    if principal.scope_deployment_id is not None:
        raise PermissionDenied("an agent token cannot create tokens")
    if user_id != principal.user_id:
        principal.require(roles.SYSTEM_TOKENS_CREATE)
    user = service.get_user(session, user_id)
    if body.deployment_id is not None:
        # An agent token may read code only where its owner may read it.
        owner = service.principal_for_user(session, user)
        get_deployment(
            session, principal=owner, deployment_id=body.deployment_id, permission=roles.DAGS_READ
        )
    record, plain = service.create_token(
        session, user=user, name=body.name, scope_deployment_id=body.deployment_id
    )
    commit(session, installation)
    return TokenOut(
        id=record.id, token=plain, name=record.name, scope_deployment_id=body.deployment_id
    )


@router.delete("/users/{user_id}/tokens/{token_id}", response_model=TokenRevoked)
def revoke_token(
    user_id: str,
    token_id: str,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> TokenRevoked:
    if user_id != principal.user_id:
        principal.require(roles.SYSTEM_TOKENS_CREATE)
    record = service.revoke_token(session, user_id=user_id, token_id=token_id)
    commit(session, installation)
    return TokenRevoked(id=record.id, revoked=True)


def _require_self_or_admin(principal: Principal, user_id: str) -> None:
    if principal.scope_deployment_id is not None:
        raise PermissionDenied("an agent token cannot manage users")
    if user_id != principal.user_id:
        principal.require(roles.SYSTEM_USERS_CREATE)


@router.put("/users/{user_id}/password", response_model=UiSessionsEnded)
def change_password(
    user_id: str,
    body: PasswordChange,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> UiSessionsEnded:
    """Set the UI password (own, or anyone's as a System Admin); ends every UI session."""
    _require_self_or_admin(principal, user_id)
    ended = service.set_password(session, user_id=user_id, password=body.password)
    commit(session, installation)
    return UiSessionsEnded(user_id=user_id, ended_ui_sessions=ended)


@router.delete("/users/{user_id}/ui-sessions", response_model=UiSessionsEnded)
def end_ui_sessions(
    user_id: str, principal: CurrentPrincipal, session: WriteSession, installation: InstallationDep
) -> UiSessionsEnded:
    """Sign a user out of the web UI everywhere, at once (own, or anyone's as an admin)."""
    _require_self_or_admin(principal, user_id)
    service.get_user(session, user_id)
    ended = end_user_ui_sessions(session, user_id=user_id)
    commit(session, installation)
    return UiSessionsEnded(user_id=user_id, ended_ui_sessions=ended)
