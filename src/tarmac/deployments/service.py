"""Deployments: create, read, change settings, and grant roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, lazyload

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.access.roles import DeploymentRole
from tarmac.access.service import set_member_role
from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment, EnvVar
from tarmac.deployments.release_names import new_release_name
from tarmac.deployments.schemas import (
    DagDeployMode,
    DeploymentCreate,
    DeploymentOut,
    DeploymentUpdate,
    EnvVarIn,
    EnvVarOut,
)
from tarmac.deployments.secret_values import SecretBox
from tarmac.errors import (
    AlreadyExists,
    DagDeployDisabled,
    InvalidRequest,
    NotFound,
    RollbackDisabled,
)
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.installation.flags import InstallationFlags
from tarmac.runtimes.catalog import RuntimeCatalog
from tarmac.safe_ops.settings import apply_safe_ops_settings, safe_ops_fields


def create_deployment(
    session: Session,
    *,
    principal: Principal,
    request: DeploymentCreate,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
    secrets: SecretBox,
) -> Deployment:
    """A new Deployment with no deploys yet; its runtime must be in the catalog."""
    principal.require(roles.SYSTEM_DEPLOYMENTS_CREATE)
    runtime = catalog.get(request.runtime_version)
    _check_dag_deploy_mode(request.dag_deploy_mode, flags)
    _check_name_free(session, request.name)
    deployment = Deployment(
        name=request.name,
        release_name=_free_release_name(session, request.name),
        description=request.description,
        runtime_version=runtime.version,
        airflow_version=runtime.airflow_version,
        executor=request.executor.value,
        dag_deploy_mode=request.dag_deploy_mode.value,
        rollback_enabled=False,
        resources=request.resources,
    )
    deployment.env_vars = _env_vars(request.env_vars, existing=[], secrets=secrets)
    session.add(deployment)
    _flush(session, request.name)
    record_event(
        session,
        ecs_event(
            action="deployment.create",
            outcome="success",
            actor=principal.username,
            deployment_id=deployment.id,
            extra={"deployment": {"name": deployment.name}},
        ),
    )
    return deployment


def list_deployments(session: Session, *, principal: Principal) -> list[Deployment]:
    """Only the Deployments the caller may see."""
    query = select(Deployment).order_by(Deployment.name)
    if not principal.has(roles.system_twin(roles.DEPLOYMENT_GET)):
        visible = [d for d, perms in principal.deployment_permissions.items() if perms]
        query = query.where(Deployment.id.in_(visible))
    return list(session.scalars(query))


def get_deployment(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    permission: str = roles.DEPLOYMENT_GET,
    for_update: bool = False,
    env_vars: bool = True,
    runtime_status: bool = False,
) -> Deployment:
    """A Deployment the caller holds ``permission`` on; 404 if none, 403 if not allowed.

    ``env_vars=False`` skips loading its environment variables up front (a second
    statement) for callers that never look at them; they still load if touched.
    ``runtime_status=True`` loads its runtime's last report in the same statement.
    """
    query = select(Deployment).where(Deployment.id == deployment_id)
    if not env_vars:
        query = query.options(lazyload(Deployment.env_vars))
    if runtime_status:
        query = query.options(joinedload(Deployment.runtime_status))
    if for_update:
        query = query.with_for_update()
    deployment = session.scalar(query)
    if deployment is None:
        raise NotFound(f"no Deployment with id {deployment_id!r}", deployment_id=deployment_id)
    principal.require(permission, deployment_id=deployment_id)
    return deployment


def update_deployment(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    changes: DeploymentUpdate,
    flags: InstallationFlags,
    secrets: SecretBox,
) -> Deployment:
    """Change settings; switching rollbacks on needs the installation to allow them."""
    deployment = get_deployment(
        session, principal=principal, deployment_id=deployment_id, permission=roles.CONFIG_UPDATE
    )
    changed: list[str] = []
    if changes.rollback_enabled is not None:
        if changes.rollback_enabled and not flags.rollbacks_allowed:
            raise RollbackDisabled(
                "deploy rollbacks are not enabled for this installation; set "
                + ", ".join(flags.missing_rollback_flags())
                + " in values.yaml",
                missing_flags=flags.missing_rollback_flags(),
            )
        if deployment.rollback_enabled != changes.rollback_enabled:
            deployment.rollback_enabled = changes.rollback_enabled
            changed.append("rollback_enabled")
    if changes.name is not None and changes.name != deployment.name:
        _check_name_free(session, changes.name)
        deployment.name = changes.name
        changed.append("name")
    for field in ("description", "resources"):
        value = getattr(changes, field)
        if value is not None and value != getattr(deployment, field):
            setattr(deployment, field, value)
            changed.append(field)
    check = changes.dag_import_check
    if check is not None and check.value != deployment.dag_import_check:
        deployment.dag_import_check = check.value
        changed.append("dag_import_check")
    if changes.executor is not None and changes.executor.value != deployment.executor:
        deployment.executor = changes.executor.value
        changed.append("executor")
    changed.extend(apply_safe_ops_settings(deployment, changes))
    if changes.env_vars is not None:
        deployment.env_vars = _env_vars(
            changes.env_vars, existing=deployment.env_vars, secrets=secrets
        )
        changed.append("env_vars")
    if changed:
        deployment.updated_at = utcnow()
        _flush(session, deployment.name)
        record_event(
            session,
            ecs_event(
                action="deployment.update",
                outcome="success",
                actor=principal.username,
                deployment_id=deployment.id,
                extra={"changes": {"fields": changed}},
            ),
        )
    return deployment


def set_member(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    user_id: str,
    role: str,
) -> None:
    """Give a user a role on a Deployment (needs the Deployment admin role)."""
    get_deployment(
        session, principal=principal, deployment_id=deployment_id, permission=roles.MEMBERS_UPDATE
    )
    try:
        parsed = DeploymentRole(role)
    except ValueError:
        raise InvalidRequest(
            f"role must be one of {', '.join(r.value for r in DeploymentRole)}", field="role"
        ) from None
    set_member_role(session, deployment_id=deployment_id, user_id=user_id, role=parsed)
    record_event(
        session,
        ecs_event(
            action="deployment.member.set",
            outcome="success",
            actor=principal.username,
            deployment_id=deployment_id,
            extra={"member": {"user_id": user_id, "role": parsed.value}},
        ),
    )


def deployment_out(deployment: Deployment) -> DeploymentOut:
    """The API shape; secret values are never returned."""
    return DeploymentOut(
        id=deployment.id,
        name=deployment.name,
        release_name=deployment.release_name,
        description=deployment.description,
        runtime_version=deployment.runtime_version,
        airflow_version=deployment.airflow_version,
        executor=deployment.executor,
        dag_deploy_mode=deployment.dag_deploy_mode,
        rollback_enabled=deployment.rollback_enabled,
        dag_import_check=deployment.dag_import_check or "block",
        resources=deployment.resources,
        env_vars=[
            EnvVarOut(key=v.key, value=None if v.is_secret else v.value, is_secret=v.is_secret)
            for v in deployment.env_vars
        ],
        current_deploy_id=deployment.current_deploy_id,
        created_at=deployment.created_at,
        updated_at=deployment.updated_at,
        **safe_ops_fields(deployment),
    )


def _check_dag_deploy_mode(mode: DagDeployMode, flags: InstallationFlags) -> None:
    if mode is DagDeployMode.DAG_DEPLOY and not flags.dag_only_deployment_enabled:
        raise DagDeployDisabled(
            "DAG-only deploys are not enabled for this installation "
            "(global.dagOnlyDeployment.enabled)"
        )


def _check_name_free(session: Session, name: str) -> None:
    if session.scalar(select(Deployment.id).where(Deployment.name == name)) is not None:
        raise AlreadyExists(f"a deployment named {name!r} already exists", field="name")


def _free_release_name(session: Session, name: str) -> str:
    for _ in range(10):
        candidate = new_release_name(name)
        taken = session.scalar(select(Deployment.id).where(Deployment.release_name == candidate))
        if taken is None:
            return candidate
    raise AlreadyExists("could not find a free release name; try again")


def _env_vars(
    requested: list[EnvVarIn], *, existing: list[EnvVar], secrets: SecretBox
) -> list[EnvVar]:
    keys = [v.key for v in requested]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise InvalidRequest(
            f"duplicate environment variable keys: {', '.join(duplicates)}", field="env_vars"
        )
    previous = {v.key: v for v in existing}
    result = []
    for position, item in enumerate(requested):
        old = previous.get(item.key)
        if item.value is None:
            if old is None or not old.is_secret or not item.is_secret:
                raise InvalidRequest(
                    f"environment variable {item.key} needs a value", field="env_vars"
                )
            stored = old.value  # keep the secret the client cannot see
        else:
            stored = secrets.encrypt(item.value) if item.is_secret else item.value
        if old is not None:
            old.position, old.value, old.is_secret = position, stored, item.is_secret
            result.append(old)
        else:
            result.append(
                EnvVar(position=position, key=item.key, value=stored, is_secret=item.is_secret)
            )
    return result


def _flush(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(f"a deployment named {name!r} already exists") from exc
