"""HTTP route serving stored DAG bundles by sha256 (immutable, so cacheable forever)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from tarmac.access import roles
from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, ReadSession
from tarmac.bundles.digests import is_sha256
from tarmac.deploys.models import Deploy
from tarmac.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/api/v1", tags=["deploys"])

CHUNK = 1024 * 1024


@router.get("/blobs/{sha256}", response_class=StreamingResponse)
def get_blob(
    sha256: str, principal: CurrentPrincipal, session: ReadSession, installation: InstallationDep
) -> StreamingResponse:
    """The bytes of a bundle that a Deployment the caller may read has deployed."""
    if not is_sha256(sha256):
        raise InvalidRequest("not a sha256 (64 lowercase hex digits)", field="sha256")
    deployment_ids = session.scalars(
        select(Deploy.deployment_id).where(Deploy.bundle_sha256 == sha256).distinct()
    )
    if not any(principal.has(roles.DAGS_READ, deployment_id=d) for d in deployment_ids):
        raise NotFound("no such blob", sha256=sha256)
    blob = installation.blob_store.open(sha256)

    def chunks() -> Iterator[bytes]:
        with blob:
            while chunk := blob.read(CHUNK):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/gzip",
        headers={
            "Cache-Control": "private, max-age=31536000, immutable",
            "ETag": f'"{sha256}"',
            "Content-Length": str(installation.blob_store.size(sha256)),
        },
    )
