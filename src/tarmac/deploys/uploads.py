"""Receiving a DAG bundle: stream it into the blob store while hashing, check it, record it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Executable, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tarmac.bundles.blob_store import BlobStore, StagedBlob
from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.manifest import BundleManifest
from tarmac.bundles.manifest_cache import cached_manifest
from tarmac.bundles.validation import inspect_bundle
from tarmac.deploys.models import BundleRecord
from tarmac.errors import NotFound
from tarmac.runtime_backends.base import RuntimeBackend


@dataclass(frozen=True)
class StoredBundle:
    sha256: str
    size: int
    manifest: BundleManifest
    new_bytes: bool


def keep_staged_bundle(
    staged: StagedBlob,
    *,
    blob_store: BlobStore,
    limits: BundleLimits,
    backend: RuntimeBackend | None = None,
) -> StoredBundle:
    """Check a staged upload and store it; an invalid one raises and leaves nothing behind.

    With a ``backend`` that keeps unpacked copies, the check and the unpacking are one
    pass over the bytes (one decompression); the unpacked copy may exist before the blob
    is stored, which is harmless: it is complete, valid and named by the same digest.
    """
    manifest = backend.unpack_upload(staged.sha256, staged.path, limits=limits) if backend else None
    if manifest is None:
        manifest = inspect_bundle(staged.path, limits=limits)
    new_bytes = blob_store.commit(staged)
    return StoredBundle(
        sha256=staged.sha256, size=staged.size, manifest=manifest, new_bytes=new_bytes
    )


def require_blob(blob_store: BlobStore, sha256: str) -> None:
    """Refuse to record a deploy whose blob a concurrent cleanup has just deleted."""
    if not blob_store.exists(sha256):
        raise NotFound(
            "the bundle was deleted by a concurrent cleanup; deploy again", sha256=sha256
        )


def ensure_bundle_record(session: Session, bundle: StoredBundle) -> None:
    """Insert the bundle's row once; concurrent deploys of the same bytes don't collide."""
    values = {
        "sha256": bundle.sha256,
        "size": bundle.size,
        "manifest": bundle.manifest.to_json(),
    }
    dialect = session.get_bind().dialect.name
    statement: Executable
    if dialect == "postgresql":
        statement = pg_insert(BundleRecord).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(BundleRecord).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported databases
        statement = insert(BundleRecord).values(values)
    session.execute(statement)


def bundle_manifest(session: Session, sha256: str | None) -> BundleManifest | None:
    """Bundle ``sha256``'s files; parsed once per process (bundles never change)."""
    if sha256 is None:
        return None

    def load() -> BundleManifest | None:
        record = session.get(BundleRecord, sha256)
        return BundleManifest.from_json(record.manifest, sha256=sha256) if record else None

    return cached_manifest(sha256, load)
