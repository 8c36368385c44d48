"""Deploys: push image and DAG deploys, and read the deploy history."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment
from tarmac.deployments.schemas import DagDeployMode
from tarmac.deployments.service import get_deployment
from tarmac.deploys.code_state import CodeState
from tarmac.deploys.git_metadata import (
    GitMetadata,
    attach_git,
    git_event_fields,
    git_of,
    git_out,
)
from tarmac.deploys.idempotency import IdempotencyClaim, find_replay
from tarmac.deploys.image_refs import check_image_ref
from tarmac.deploys.locking import lock_deployment
from tarmac.deploys.models import Deploy, live_deploy
from tarmac.deploys.recording import record_and_make_live
from tarmac.deploys.refs import deploy_not_found, find_deploy
from tarmac.deploys.schemas import CurrentDags, DeployOut, DeployStatus, DeployType
from tarmac.errors import (
    DagDeployDisabled,
    DeployInProgress,
    InvalidRequest,
    RuntimeDowngrade,
)
from tarmac.installation.flags import InstallationFlags
from tarmac.rollouts.schemas import RolloutOut
from tarmac.runtime_backends.base import RuntimeBackend
from tarmac.runtimes.catalog import RuntimeCatalog
from tarmac.safe_ops.deploy_checks import check_plain_deploy, record_waivers, waived_event_fields
from tarmac.safe_ops.gates import GateRequest, HoldFacts
from tarmac.safe_ops.hold import hold_facts
from tarmac.safe_ops.schemas import marked_bad_out

if TYPE_CHECKING:
    from tarmac.import_checks.service import DeployGate

DEFAULT_PAGE = 20
MAX_PAGE = 100


@dataclass(frozen=True)
class DeployRequest:
    type: DeployType
    description: str | None
    image: str | None
    runtime_version: str | None
    bundle_sha256: str | None
    gates: GateRequest = field(default_factory=GateRequest)
    git: GitMetadata | None = None


@dataclass(frozen=True)
class DeployResult:
    deploy: Deploy
    deployment: Deployment  # as locked, after the deploy
    replayed: bool


def with_bundle(request: DeployRequest, sha256: str) -> DeployRequest:
    """The same request, now naming the stored bundle."""
    return replace(request, bundle_sha256=sha256)


def parse_deploy_type(value: str) -> DeployType:
    try:
        return DeployType(value)
    except ValueError:
        raise InvalidRequest(
            f"type must be one of {', '.join(t.value for t in DeployType)}", field="type"
        ) from None


def check_deploy_request(
    deployment: Deployment,
    *,
    principal: Principal,
    request: DeployRequest,
    has_bundle: bool,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
    hold: HoldFacts | None,
) -> None:
    """Every refusal a deploy can get from its request, the Deployment and its hold."""
    _check_request_shape(
        deployment,
        principal=principal,
        request=request,
        has_bundle=has_bundle,
        flags=flags,
        catalog=catalog,
    )
    check_plain_deploy(
        deployment, hold=hold, principal=principal, request=request.gates, now=utcnow()
    )


def _check_request_shape(
    deployment: Deployment,
    *,
    principal: Principal,
    request: DeployRequest,
    has_bundle: bool,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
) -> None:
    if request.type is DeployType.DAG_ONLY:
        principal.require(roles.DAGS_PUSH, deployment_id=deployment.id)
        if (
            not flags.dag_only_deployment_enabled
            or deployment.dag_deploy_mode != DagDeployMode.DAG_DEPLOY
        ):
            raise DagDeployDisabled(
                "DAG-only deploys need the Deployment in dag_deploy mode and "
                "global.dagOnlyDeployment.enabled in values.yaml",
                dag_deploy_mode=deployment.dag_deploy_mode,
            )
        if not has_bundle:
            raise InvalidRequest("a DAG_ONLY deploy needs a dags bundle", field="dags")
        if request.image is not None or request.runtime_version is not None:
            raise InvalidRequest(
                "a DAG_ONLY deploy changes only DAGs; image and runtime_version are not allowed",
                field="image",
            )
        return
    principal.require(roles.IMAGES_PUSH, deployment_id=deployment.id)
    if not request.image:
        raise InvalidRequest(f"an {request.type.value} deploy needs an image", field="image")
    check_image_ref(request.image)
    if request.type is DeployType.IMAGE_ONLY and has_bundle:
        raise InvalidRequest("an IMAGE_ONLY deploy takes no dags bundle", field="dags")
    if request.type is DeployType.IMAGE_AND_DAG and not has_bundle:
        raise InvalidRequest("an IMAGE_AND_DAG deploy needs a dags bundle", field="dags")
    if request.runtime_version is not None:
        catalog.get(request.runtime_version)


def create_deploy(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    request: DeployRequest,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
    backend: RuntimeBackend,
    lock_timeout_seconds: float,
    idempotency: IdempotencyClaim | None = None,
    gate: DeployGate | None = None,
) -> DeployResult:
    """Record a deploy and make it live, one at a time per Deployment.

    ``gate`` is the import check made before the lock; it must be about the code state
    this deploy now gets, else the Deployment changed meanwhile and the deploy is refused.
    """
    deployment = lock_deployment(
        session, deployment_id=deployment_id, timeout_seconds=lock_timeout_seconds
    )
    if idempotency is not None:
        earlier = find_replay(
            session, deployment_id=deployment_id, user_id=principal.user_id, claim=idempotency
        )
        if earlier is not None:
            return DeployResult(deploy=earlier, deployment=deployment, replayed=True)
    check_deploy_request(
        deployment,
        principal=principal,
        request=request,
        has_bundle=request.bundle_sha256 is not None,
        flags=flags,
        catalog=catalog,
        hold=hold_facts(session, deployment),
    )
    state = _next_code_state(session, deployment=deployment, request=request, catalog=catalog)
    if gate is not None and (gate.bundle_sha256, gate.airflow_version) != (
        state.bundle_sha256,
        state.airflow_version,
    ):
        raise DeployInProgress(
            "another deploy changed the Deployment while this one's DAGs were checked; "
            "send it again"
        )
    waived = waived_event_fields(deployment, request=request.gates, now=utcnow())
    deploy = record_and_make_live(
        session,
        backend=backend,
        deployment=deployment,
        actor=principal,
        deploy_type=request.type,
        description=request.description or _default_description(request.type),
        state=state,
        idempotency=idempotency,
        dags=gate.dags if gate else None,
        import_check=gate.import_check if gate else None,
        event_extra={**({"waived": waived} if waived else {}), **git_event_fields(request.git)}
        or None,
    )
    attach_git(session, deploy=deploy, git=request.git)
    if deploy.status == DeployStatus.DEPLOYED.value and waived:
        record_waivers(
            session, deployment=deployment, deploy=deploy, actor=principal.username, waived=waived
        )
    return DeployResult(deploy=deploy, deployment=deployment, replayed=False)


def _next_code_state(
    session: Session, *, deployment: Deployment, request: DeployRequest, catalog: RuntimeCatalog
) -> CodeState:
    """The new code state: what the request changes, the rest inherited from the live deploy."""
    live = live_deploy(session, deployment)
    dag_deploy_enabled = deployment.dag_deploy_mode == DagDeployMode.DAG_DEPLOY
    if request.type is DeployType.DAG_ONLY:
        return CodeState(
            image=live.image if live else None,
            runtime_version=deployment.runtime_version,
            airflow_version=deployment.airflow_version,
            bundle_sha256=request.bundle_sha256,
            dag_deploy_enabled=dag_deploy_enabled,
        )
    runtime = catalog.get(request.runtime_version or deployment.runtime_version)
    if (
        catalog.find(deployment.runtime_version)
        and catalog.compare(runtime.version, deployment.runtime_version) < 0
    ):
        raise RuntimeDowngrade(
            f"runtime {runtime.version} is older than the Deployment's "
            f"{deployment.runtime_version}; only a rollback may downgrade the runtime",
            runtime_version=runtime.version,
            current_runtime_version=deployment.runtime_version,
        )
    bundle = request.bundle_sha256
    if request.type is DeployType.IMAGE_ONLY:
        bundle = live.bundle_sha256 if live else None
    return CodeState(
        image=check_image_ref(request.image or ""),
        runtime_version=runtime.version,
        airflow_version=runtime.airflow_version,
        bundle_sha256=bundle,
        dag_deploy_enabled=dag_deploy_enabled,
    )


def _default_description(deploy_type: DeployType) -> str:
    if deploy_type is DeployType.DAG_ONLY:
        return "Deployed via <tarmac deploy --dags>"
    return "Deployed via <tarmac deploy>"


def list_deploys(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    limit: int | None = None,
    cursor: str | None = None,
) -> tuple[list[Deploy], str | None, Deployment]:
    """A page of the history, newest first; the cursor is a sequence number (keyset)."""
    deployment = get_deployment(
        session,
        principal=principal,
        deployment_id=deployment_id,
        permission=roles.DEPLOY_REVISIONS_GET,
        env_vars=False,
        runtime_status=True,  # each deploy shows whether its runtime reached it
    )
    size = DEFAULT_PAGE if limit is None else limit
    if not 1 <= size <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    # One statement: the page with its Git metadata (not a second SELECT … IN).
    query = (
        select(Deploy)
        .where(Deploy.deployment_id == deployment_id)
        .options(joinedload(Deploy.git_record))
    )
    if cursor:
        query = query.where(Deploy.seq < _decode_cursor(cursor))
    rows = list(session.scalars(query.order_by(Deploy.seq.desc()).limit(size + 1)))
    next_cursor = _encode_cursor(rows[size - 1].seq) if len(rows) > size else None
    return rows[:size], next_cursor, deployment


def get_deploy(
    session: Session, *, principal: Principal, deployment_id: str, deploy_id: str
) -> tuple[Deploy, Deployment]:
    """A deploy of this Deployment; a deploy of another Deployment is 404."""
    deployment = get_deployment(
        session,
        principal=principal,
        deployment_id=deployment_id,
        permission=roles.DEPLOY_REVISIONS_GET,
        env_vars=False,
        runtime_status=True,  # each deploy shows whether its runtime reached it
    )
    deploy = find_deploy(session, deployment_id=deployment_id, ref=deploy_id)
    if deploy is None or deploy.deployment_id != deployment_id:
        raise deploy_not_found(deploy_id)
    return deploy, deployment


def current_dags(session: Session, *, principal: Principal, deployment_id: str) -> CurrentDags:
    deployment = get_deployment(
        session,
        principal=principal,
        deployment_id=deployment_id,
        permission=roles.DAGS_READ,
        env_vars=False,
    )
    live = live_deploy(session, deployment)
    return CurrentDags(
        deploy_id=live.id if live else None,
        bundle_sha256=live.bundle_sha256 if live else None,
        dag_deploy_enabled=live.dag_deploy_enabled
        if live
        else deployment.dag_deploy_mode == DagDeployMode.DAG_DEPLOY,
    )


def deploy_dags(
    session: Session, *, principal: Principal, deployment_id: str, deploy_id: str
) -> CurrentDags:
    """The DAG bundle of one deploy, live or not: versioned DAG bundles fetch older code.

    Needs only ``deployment.dags.read``, like downloading the bundle itself does.
    """
    get_deployment(
        session, principal=principal, deployment_id=deployment_id, permission=roles.DAGS_READ
    )
    deploy = find_deploy(session, deployment_id=deployment_id, ref=deploy_id)
    if deploy is None or deploy.deployment_id != deployment_id:
        raise deploy_not_found(deploy_id)
    return CurrentDags(
        deploy_id=deploy.id,
        bundle_sha256=deploy.bundle_sha256,
        dag_deploy_enabled=deploy.dag_deploy_enabled,
    )


_COLUMNS = frozenset(Deploy.__table__.columns.keys())


def deploy_out(
    deploy: Deploy, deployment: Deployment, *, rollout: RolloutOut | None = None
) -> DeployOut:
    """A deploy as the API shows it: its own columns, and whether it is the live one."""
    # Fields that are not columns are derived: is_current, dag_ids, marked_bad (and the
    # reported rollout, filled by the routes).
    columns = {name: getattr(deploy, name) for name in DeployOut.model_fields if name in _COLUMNS}
    return DeployOut(
        **columns,
        rolled_back_to=deploy.rollback_from_id,
        is_current=deploy.id == deployment.current_deploy_id,
        dag_ids=sorted(deploy.dags) if deploy.dags is not None else None,
        marked_bad=marked_bad_out(deploy),
        git=git_out(git_of(deploy)),
        rollout=rollout,
    )


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "seq":
            raise ValueError
        return int(value)
    except ValueError:
        raise InvalidRequest("cursor is not one this server handed out", field="cursor") from None
