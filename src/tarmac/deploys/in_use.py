"""Deploys still read by running DAG runs: the Airflow 3 DAG bundle reports the versions
(deploy ids) its tasks use, and cleanup keeps those deploys until the report expires."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.db.base import utcnow
from tarmac.deployments.service import get_deployment
from tarmac.deploys.models import Deploy
from tarmac.deploys.refs import find_deploy
from tarmac.errors import NotFound

MAX_IN_USE_SECONDS = 7 * 86_400


def mark_in_use(
    session: Session, *, principal: Principal, deployment_id: str, deploy_id: str, seconds: int
) -> Deploy:
    """Keep a deploy from cleanup for ``seconds`` more (never shortens an earlier report).

    Needs only ``deployment.dags.read``: the agent token of a DAG bundle reports with it.
    """
    get_deployment(
        session, principal=principal, deployment_id=deployment_id, permission=roles.DAGS_READ
    )
    found = find_deploy(session, deployment_id=deployment_id, ref=deploy_id)
    # Locked, as a pin is: a cleanup deleting it went first (404) or waits and sees this.
    deploy = (
        session.get(Deploy, found.id, with_for_update=True, populate_existing=True)
        if found is not None and found.deployment_id == deployment_id
        else None
    )
    if deploy is None:
        raise NotFound("no such deploy in this deployment", deploy_id=deploy_id)
    until: datetime = utcnow() + timedelta(seconds=seconds)
    if deploy.in_use_until is None or deploy.in_use_until < until:
        deploy.in_use_until = until
    session.flush()
    return deploy
