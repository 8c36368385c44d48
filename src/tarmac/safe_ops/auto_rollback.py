"""Automatic rollback (opt-in per Deployment): once, when a new deploy fails its health.

Called by the runtime side's report (failed rollout, import errors the gate only warned
about, unhealthy components). Inside the Deployment's window after a deploy, it rolls
back to the last good deploy before it, as a normal rollback whose description says why,
marks the failed deploy bad, and sets the hold. Never a loop: an automatic rollback is
never rolled back automatically, and each deploy is handled at most once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.access.roles import (
    DEPLOY_REVISIONS_GET,
    DEPLOYMENT_GET,
    IMAGES_PUSH,
    system_twin,
)
from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment
from tarmac.deploys.locking import lock_deployment
from tarmac.deploys.models import Deploy
from tarmac.deploys.schemas import DeployStatus
from tarmac.errors import NotFound, TarmacError
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.installation.context import Installation
from tarmac.installation.flags import InstallationFlags
from tarmac.rollbacks.service import RollbackRequest, execute_rollback
from tarmac.runtime_backends.base import RuntimeBackend
from tarmac.runtimes.catalog import RuntimeCatalog
from tarmac.safe_ops.hold import set_hold_after_rollback
from tarmac.safe_ops.last_good import find_last_good
from tarmac.safe_ops.marks import mark_bad

AUTO_ACTOR = Principal(
    user_id="",
    username="tarmac-auto-rollback",
    system_role=None,
    system_permissions=frozenset(
        system_twin(p) for p in (DEPLOYMENT_GET, DEPLOY_REVISIONS_GET, IMAGES_PUSH)
    ),
)
"""Who an automatic rollback is recorded as: tarmac itself, allowed only to roll back."""


@dataclass(frozen=True)
class AutoRollbackOutcome:
    """``rolled_back``, ``restored_by_runtime``, ``refused`` (marked bad only) or ``skipped``."""

    action: str
    message: str
    rollback: Deploy | None = None


def on_unhealthy(
    session: Session,
    *,
    deployment_id: str,
    deploy_id: str,
    reason: str,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
    backend: RuntimeBackend,
    lock_timeout_seconds: float,
    now: datetime | None = None,
    import_errors: bool = False,
) -> AutoRollbackOutcome:
    """React once to ``deploy_id`` failing its health; the caller commits.

    ``import_errors``: the signal is new DAG import errors, which an admin's explicit
    ``allow_import_errors`` on that deploy accepted ahead: then nothing is done.
    """
    now = now or utcnow()
    deployment = lock_deployment(
        session, deployment_id=deployment_id, timeout_seconds=lock_timeout_seconds
    )
    deploy = session.get(Deploy, deploy_id)
    if deploy is None or deploy.deployment_id != deployment_id:
        raise NotFound("no such deploy in this deployment", deploy_id=deploy_id)
    skip = _why_skip(deployment, deploy, now)
    if skip is None and import_errors and (deploy.import_check or {}).get("allow_import_errors"):
        skip = f"deploy #{deploy.seq}'s import errors were allowed by an admin"
    if skip is not None:
        # Nothing was done: no event, so repeated health reports do not flood the log.
        return AutoRollbackOutcome("skipped", skip)
    deploy.auto_rolled_back_at = now
    what = f"Automatic rollback: deploy #{deploy.seq} failed its health: {reason}"[:500]
    if deployment.current_deploy_id != deploy.id:
        # The runtime side already restored the previous deploy, and it is current again.
        outcome = _after_runtime_restore(session, deployment, deploy, what)
    else:
        outcome = _roll_back(
            session,
            deployment,
            deploy,
            what,
            flags=flags,
            catalog=catalog,
            backend=backend,
            lock_timeout_seconds=lock_timeout_seconds,
        )
    if deploy.marked_bad_at is None:  # a person's mark (and reason) stays
        mark_bad(session, deploy=deploy, actor=AUTO_ACTOR.username, reason=reason[:500])
    return _record(session, deployment, deploy, outcome, reason)


def auto_rollback_after_report(
    installation: Installation,
    *,
    deployment_id: str,
    deploy_id: str,
    reason: str,
    import_errors: bool = False,
) -> AutoRollbackOutcome:
    """Entry point for the runtime report: one unit of work, committed."""
    with installation.database.session(write=True) as session:
        outcome = on_unhealthy(
            session,
            deployment_id=deployment_id,
            deploy_id=deploy_id,
            reason=reason,
            flags=installation.flags,
            catalog=installation.catalog,
            backend=installation.runtime_backend,
            lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
            import_errors=import_errors,
        )
        installation.commit(session)
    return outcome


def _why_skip(deployment: Deployment, deploy: Deploy, now: datetime) -> str | None:
    if not deployment.auto_rollback_enabled:
        return "automatic rollback is off for this Deployment"
    if deploy.automatic:
        return "an automatic rollback is never rolled back automatically"
    if deploy.auto_rolled_back_at is not None:
        return f"deploy #{deploy.seq} was handled once already"
    window = timedelta(seconds=deployment.auto_rollback_window_seconds)
    if now - deploy.created_at > window:
        return f"deploy #{deploy.seq} is older than the {window} automatic-rollback window"
    if deploy.status == DeployStatus.DEPLOYED.value and deployment.current_deploy_id != deploy.id:
        return f"deploy #{deploy.seq} is no longer live"
    return None


def _after_runtime_restore(
    session: Session, deployment: Deployment, deploy: Deploy, what: str
) -> AutoRollbackOutcome:
    live = (
        session.get(Deploy, deployment.current_deploy_id) if deployment.current_deploy_id else None
    )
    if live is not None:
        set_hold_after_rollback(
            session, deployment=deployment, rollback=live, actor=AUTO_ACTOR.username, reason=what
        )
    restored = f"deploy #{live.seq}" if live else "no deploy"
    return AutoRollbackOutcome("restored_by_runtime", f"{what}; the runtime restored {restored}")


def _roll_back(
    session: Session,
    deployment: Deployment,
    deploy: Deploy,
    what: str,
    *,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
    backend: RuntimeBackend,
    lock_timeout_seconds: float,
) -> AutoRollbackOutcome:
    target = find_last_good(session, deployment=deployment, before=deploy)
    if target is None:
        return AutoRollbackOutcome("refused", f"{what}; no good deploy before it to roll back to")
    description = f"{what}; rolled back to deploy #{target.seq}"[:500]
    try:
        result = execute_rollback(
            session,
            principal=AUTO_ACTOR,
            deployment_id=deployment.id,
            target_deploy_id=target.id,
            request=RollbackRequest(
                description=description, dry_run=False, acknowledge=frozenset()
            ),
            flags=flags,
            catalog=catalog,
            backend=backend,
            lock_timeout_seconds=lock_timeout_seconds,
        )
    except TarmacError as refused:  # e.g. a downgrade needing a human's data_loss consent
        return AutoRollbackOutcome("refused", f"{what}; rollback refused: {refused.code}")
    rollback = result.deploy
    assert rollback is not None
    rollback.automatic = True
    if rollback.status != DeployStatus.DEPLOYED.value:
        return AutoRollbackOutcome("refused", f"{what}; rollback failed", rollback)
    return AutoRollbackOutcome("rolled_back", description, rollback)


def _record(
    session: Session,
    deployment: Deployment,
    deploy: Deploy,
    outcome: AutoRollbackOutcome,
    reason: str,
) -> AutoRollbackOutcome:
    session.flush()
    record_event(
        session,
        ecs_event(
            action="deploy.auto_rollback",
            outcome="failure" if outcome.action == "refused" else "success",
            actor=AUTO_ACTOR.username,
            deployment_id=deployment.id,
            deploy={"id": deploy.id, "seq": deploy.seq},
            message=outcome.message,
            extra={
                "auto_rollback": {
                    "action": outcome.action,
                    "reason": reason,
                    "rollback": {"id": outcome.rollback.id, "seq": outcome.rollback.seq}
                    if outcome.rollback
                    else None,
                }
            },
        ),
    )
    return outcome
