"""Users, tokens, memberships and authentication: the rules of access, once."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tarmac.access.models import ApiToken, DeploymentMember, User
from tarmac.access.principal import Principal
from tarmac.access.roles import (
    AGENT_PERMISSIONS,
    DEPLOYMENT_ROLE_PERMISSIONS,
    SYSTEM_ROLE_PERMISSIONS,
    DeploymentRole,
    SystemRole,
)
from tarmac.access.secrets import hash_password, new_api_token, token_digest, verify_password
from tarmac.access.ui_sessions import end_user_ui_sessions
from tarmac.db.base import utcnow
from tarmac.errors import AlreadyExists, NotFound, Unauthenticated


def create_user(
    session: Session,
    *,
    username: str,
    system_role: SystemRole | None = None,
    password: str | None = None,
) -> User:
    """A new user; usernames are unique."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AlreadyExists(f"user {username!r} already exists", username=username)
    user = User(
        username=username,
        system_role=system_role.value if system_role else None,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    _flush_unique(session, f"user {username!r} already exists")
    return user


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user", user_id=user_id)
    return user


def find_user_by_name(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def create_token(
    session: Session,
    *,
    user: User,
    name: str,
    scope_deployment_id: str | None = None,
    token: str | None = None,
) -> tuple[ApiToken, str]:
    """A new API token; the plain token is returned once and only its digest is kept."""
    plain = token or new_api_token()
    record = ApiToken(
        user_id=user.id,
        name=name,
        token_sha256=token_digest(plain),
        scope_deployment_id=scope_deployment_id,
    )
    session.add(record)
    _flush_unique(session, "this token already exists")
    return record, plain


def revoke_token(session: Session, *, user_id: str, token_id: str) -> ApiToken:
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user_id:
        raise NotFound("no such token", token_id=token_id)
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        # A revoked credential may mean a leaked one: the user signs in to the UI again.
        end_user_ui_sessions(session, user_id=user_id)
    session.flush()
    return record


def set_password(session: Session, *, user_id: str, password: str) -> int:
    """Set a user's UI password and end every UI session they have; returns how many."""
    user = get_user(session, user_id)
    user.password_hash = hash_password(password)
    ended = end_user_ui_sessions(session, user_id=user_id)
    session.flush()
    return ended


def authenticate_token(session: Session, token: str | None) -> Principal:
    """The caller behind a bearer token, or 401 for a missing, unknown or revoked one.

    Every request runs this, so it is one statement: the token, its user and the user's
    Deployment roles (none are read for a Deployment-scoped token), as plain rows.
    """
    if not token:
        raise Unauthenticated("an API token is required (Authorization: Bearer <token>)")
    rows = session.execute(
        select(
            ApiToken.revoked_at,
            ApiToken.scope_deployment_id,
            User.id,
            User.username,
            User.system_role,
            DeploymentMember.deployment_id,
            DeploymentMember.role,
        )
        .select_from(ApiToken)
        .outerjoin(User, User.id == ApiToken.user_id)
        .outerjoin(
            DeploymentMember,
            and_(DeploymentMember.user_id == User.id, ApiToken.scope_deployment_id.is_(None)),
        )
        .where(ApiToken.token_sha256 == token_digest(token))
    ).all()
    if not rows or rows[0].revoked_at is not None:
        raise Unauthenticated("the API token is unknown or revoked")
    first = rows[0]
    if first.id is None:
        raise Unauthenticated("the API token's user no longer exists")
    if first.scope_deployment_id is not None:
        return Principal(
            user_id=first.id,
            username=first.username,
            system_role=None,
            system_permissions=frozenset(),
            deployment_permissions={first.scope_deployment_id: AGENT_PERMISSIONS},
            scope_deployment_id=first.scope_deployment_id,
        )
    roles = [(row.deployment_id, row.role) for row in rows if row.deployment_id is not None]
    return _principal(
        user_id=first.id, username=first.username, system_role=first.system_role, roles=roles
    )


def authenticate_password(session: Session, *, username: str, password: str) -> Principal:
    user = find_user_by_name(session, username)
    if user is None or not user.password_hash or not verify_password(user.password_hash, password):
        raise Unauthenticated("wrong username or password")
    return principal_for_user(session, user)


def principal_for_user(session: Session, user: User) -> Principal:
    """Load a user's system role and every Deployment role into a Principal."""
    memberships = session.execute(
        select(DeploymentMember.deployment_id, DeploymentMember.role).where(
            DeploymentMember.user_id == user.id
        )
    )
    return _principal(
        user_id=user.id,
        username=user.username,
        system_role=user.system_role,
        roles=[(m.deployment_id, m.role) for m in memberships],
    )


def _principal(
    *, user_id: str, username: str, system_role: str | None, roles: list[tuple[str, str]]
) -> Principal:
    system_permissions = (
        SYSTEM_ROLE_PERMISSIONS[SystemRole(system_role)] if system_role else frozenset()
    )
    return Principal(
        user_id=user_id,
        username=username,
        system_role=system_role,
        system_permissions=system_permissions,
        deployment_permissions={
            deployment_id: DEPLOYMENT_ROLE_PERMISSIONS[DeploymentRole(role)]
            for deployment_id, role in roles
        },
    )


def set_member_role(
    session: Session, *, deployment_id: str, user_id: str, role: DeploymentRole
) -> DeploymentMember:
    """Give a user a role on a Deployment, replacing any role they had there."""
    get_user(session, user_id)
    member = session.scalar(
        select(DeploymentMember).where(
            DeploymentMember.deployment_id == deployment_id, DeploymentMember.user_id == user_id
        )
    )
    if member is None:
        member = DeploymentMember(deployment_id=deployment_id, user_id=user_id, role=role.value)
        session.add(member)
    else:
        member.role = role.value
    session.flush()
    return member


def bootstrap_admin(session: Session, *, token: str) -> User | None:
    """Create ``admin`` with SYSTEM_ADMIN and the given token, if no user exists yet."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    admin = create_user(session, username="admin", system_role=SystemRole.SYSTEM_ADMIN)
    create_token(session, user=admin, name="bootstrap", token=token)
    return admin


def _flush_unique(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(message) from exc
