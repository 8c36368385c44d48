"""Start-up recovery: make the live code and the records agree after a crash."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import Deploy
from tarmac.deploys.recording import deploy_event, live_spec_of
from tarmac.deploys.schemas import DeployStatus
from tarmac.errors import InvalidBundle, NotFound
from tarmac.events.service import record_event
from tarmac.runtime_backends.base import RuntimeBackend

log = logging.getLogger(__name__)


def recover_deploys(session: Session, *, backend: RuntimeBackend) -> dict[str, int]:
    """Fail deploys a crash left INITIALIZED and re-apply each Deployment's recorded live deploy.

    The database is the source of truth: a crash after the symlink swap but before the
    commit leaves the files one deploy ahead, and this puts them back.
    """
    failed = 0
    for deploy in session.scalars(
        select(Deploy).where(Deploy.status == DeployStatus.INITIALIZED.value)
    ):
        deploy.status = DeployStatus.FAILED.value
        deploy.failure_reason = "interrupted: the server stopped before this deploy went live"
        deploy.finished_at = utcnow()
        record_event(session, deploy_event(deploy, actor="tarmac-recovery"))
        failed += 1
    repaired = unrecoverable = 0
    for deployment in session.scalars(
        select(Deployment).where(Deployment.current_deploy_id.is_not(None))
    ):
        current = session.get(Deploy, deployment.current_deploy_id)
        if current is None:
            continue
        live = backend.live_spec(release_name=deployment.release_name)
        wanted = live_spec_of(current)
        if live != wanted:
            log.warning(
                "%s: live code was %s, records say deploy %s; re-applying it",
                deployment.release_name,
                live.deploy_id if live else "nothing",
                current.seq,
            )
            try:
                backend.make_live(release_name=deployment.release_name, spec=wanted)
            except (NotFound, InvalidBundle) as exc:
                # One Deployment's missing or bad bundle must not keep the replica down:
                # it serves every other Deployment, and this one's next deploy repairs it.
                log.error(
                    "%s: cannot make deploy %s live: %s", deployment.release_name, current.seq, exc
                )
                unrecoverable += 1
                continue
            repaired += 1
    session.flush()
    return {"failed": failed, "repaired": repaired, "unrecoverable": unrecoverable}
