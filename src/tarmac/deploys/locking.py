"""One deploy at a time per Deployment, across server processes.

PostgreSQL: a row lock on the Deployment (``SELECT … FOR UPDATE``) with a bounded
``lock_timeout``. SQLite: the writer session began ``IMMEDIATE`` and so already holds
the database write lock (waiting at most the busy timeout). Either way a caller that
waits too long gets 409 ``deploy_in_progress``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tarmac.deployments.models import Deployment
from tarmac.errors import DeployInProgress, NotFound


@contextmanager
def deploy_lock_errors(deployment_id: str) -> Iterator[None]:
    """Turn a lock wait that ran out into 409 ``deploy_in_progress``."""
    try:
        yield
    except OperationalError as exc:
        message = str(exc.orig).lower()
        if "lock" in message or "timeout" in message or "busy" in message:
            raise DeployInProgress(
                "another deploy of this Deployment is in progress; try again shortly",
                deployment_id=deployment_id,
            ) from exc
        raise


def lock_deployment(session: Session, *, deployment_id: str, timeout_seconds: float) -> Deployment:
    """The Deployment row, locked for this transaction."""
    with deploy_lock_errors(deployment_id):
        if session.get_bind().dialect.name == "postgresql":
            millis = max(1, int(timeout_seconds * 1000))
            session.execute(text(f"SET LOCAL lock_timeout = {millis}"))
        deployment = session.scalar(
            select(Deployment)
            .where(Deployment.id == deployment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if deployment is None:
        raise NotFound(f"no Deployment with id {deployment_id!r}", deployment_id=deployment_id)
    return deployment
