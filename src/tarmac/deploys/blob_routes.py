"""HTTP routes serving stored DAG bundles by sha256 (immutable, so cacheable forever).

Besides the whole bundle, an agent that already holds earlier bundles can ask for a
bundle's tree (every directory, file digest and link) and then for only the files it
lacks, by digest, in one response: a deploy that changes 10 % of the files moves about
10 % of the bytes (``tarmac.agent.delta``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, ReadSession
from tarmac.bundles.digests import is_sha256
from tarmac.bundles.manifest_cache import LruCache
from tarmac.bundles.tree import BundleTree, read_tree
from tarmac.deploys.models import Deploy
from tarmac.deploys.uploads import bundle_manifest
from tarmac.errors import InvalidRequest, NotFound
from tarmac.installation.context import Installation

router = APIRouter(prefix="/api/v1", tags=["deploys"])

CHUNK = 1024 * 1024
# A token is needed to read a blob: no shared cache may keep it (private).
IMMUTABLE = {"Cache-Control": "private, max-age=31536000, immutable"}
_trees: LruCache[str, tuple[BundleTree, dict[str, str]]] = LruCache(32)


class FilesRequest(BaseModel):
    sha256: list[str] = Field(description="Digests of the wanted files, in the wanted order.")


@router.get("/blobs/{sha256}", response_class=StreamingResponse)
def get_blob(
    sha256: str, principal: CurrentPrincipal, installation: InstallationDep
) -> StreamingResponse:
    """The bytes of a bundle that a Deployment the caller may read has deployed."""
    # A short transaction of its own: a download may stream for minutes, and must not
    # hold a pooled connection meanwhile (hundreds of agents download at once).
    with installation.database.session() as session:
        _check_readable(session, principal, sha256)
    blob = installation.blob_store.open(sha256)

    def chunks() -> Iterator[bytes]:
        with blob:
            while chunk := blob.read(CHUNK):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/gzip",
        headers={
            **IMMUTABLE,
            "ETag": f'"{sha256}"',
            "Content-Length": str(installation.blob_store.size(sha256)),
        },
    )


@router.get("/blobs/{sha256}/tree")
def get_blob_tree(
    sha256: str, principal: CurrentPrincipal, session: ReadSession, installation: InstallationDep
) -> dict[str, object]:
    """Every directory, file (size, sha256, executable) and symlink of a bundle."""
    _check_readable(session, principal, sha256)
    tree, _paths = _tree(session, installation, sha256)
    return tree.to_json()


@router.post("/blobs/{sha256}/files", response_class=StreamingResponse)
def get_blob_files(
    sha256: str,
    body: FilesRequest,
    principal: CurrentPrincipal,
    session: ReadSession,
    installation: InstallationDep,
) -> StreamingResponse:
    """The bytes of the bundle's files with the given digests, one after another, in order.

    The caller knows each file's size from the tree and checks each digest.
    """
    _check_readable(session, principal, sha256)
    tree, paths = _tree(session, installation, sha256)
    if len(body.sha256) > len(tree.files):
        raise InvalidRequest("more files asked for than the bundle holds", field="sha256")
    missing = [digest for digest in body.sha256 if digest not in paths]
    if missing:
        raise NotFound("no file with this sha256 in the bundle", sha256=missing[0][:64])
    root = _unpacked(installation, sha256)
    sizes = {entry.sha256: entry.size for entry in tree.files}
    wanted = [(root / paths[digest], sizes[digest]) for digest in body.sha256]

    def chunks() -> Iterator[bytes]:
        for path, size in wanted:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                sent = 0
                while sent < size and (chunk := handle.read(min(CHUNK, size - sent))):
                    sent += len(chunk)
                    yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(sum(size for _path, size in wanted))},
    )


def _check_readable(session: Session, principal: Principal, sha256: str) -> None:
    if not is_sha256(sha256):
        raise InvalidRequest("not a sha256 (64 lowercase hex digits)", field="sha256")
    deployment_ids = session.scalars(
        select(Deploy.deployment_id).where(Deploy.bundle_sha256 == sha256).distinct()
    )
    if not any(principal.has(roles.DAGS_READ, deployment_id=d) for d in deployment_ids):
        raise NotFound("no such blob", sha256=sha256)


def _unpacked(installation: Installation, sha256: str) -> Path:
    root = installation.runtime_backend.unpacked_bundle(sha256)
    if root is None:  # a backend without local copies: agents download whole bundles
        raise NotFound("this server serves whole bundles only", sha256=sha256)
    return root


def _tree(
    session: Session, installation: Installation, sha256: str
) -> tuple[BundleTree, dict[str, str]]:
    """The bundle's tree and a path for each file digest, read once per process."""
    found = _trees.get(sha256)
    if found is None:
        manifest = bundle_manifest(session, sha256)
        if manifest is None:
            raise NotFound("no such blob", sha256=sha256)
        tree = read_tree(_unpacked(installation, sha256), manifest)
        paths: dict[str, str] = {}
        for entry in tree.files:
            assert entry.sha256 is not None
            paths.setdefault(entry.sha256, entry.path)
        found = (tree, paths)
        _trees.put(sha256, found)
    return found
