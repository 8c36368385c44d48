"""Finding a deploy of a Deployment by what a person types: ``#3``, ``3``, an id or a prefix."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarmac.deploys.models import Deploy
from tarmac.errors import InvalidRequest, NotFound

MIN_ID_PREFIX = 4


def find_deploy(session: Session, *, deployment_id: str, ref: str) -> Deploy | None:
    """A deploy of the Deployment by ``#seq``, sequence number, id, or a unique id prefix.

    A bare number is a sequence number first (``7``), then an id prefix, so the short
    ids the CLI prints work everywhere.
    """
    ref = ref.strip()
    number = ref.removeprefix("#")
    in_deployment = select(Deploy).where(Deploy.deployment_id == deployment_id)
    if number.isdigit() and len(number) <= 9:
        by_seq = session.scalar(in_deployment.where(Deploy.seq == int(number)))
        if by_seq is not None or ref.startswith("#"):
            return by_seq
    if len(ref) < MIN_ID_PREFIX or not all(c in "0123456789abcdef" for c in ref.lower()):
        return None
    matches = list(session.scalars(in_deployment.where(Deploy.id.startswith(ref.lower())).limit(2)))
    if len(matches) > 1:
        raise InvalidRequest(
            f"deploy id prefix {ref!r} matches more than one deploy; give more characters",
            deploy_id=ref,
        )
    return matches[0] if matches else None


def deploy_not_found(ref: str) -> NotFound:
    """The 404 for a deploy reference, naming it and the forms it may take."""
    return NotFound(
        f"no deploy {ref!r} in this Deployment (give its #seq, id, or an id prefix)",
        deploy_id=ref,
    )
