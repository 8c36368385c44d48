"""The long-lived parts of one running installation, built once per process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from tarmac.bundles.blob_store import BlobStore, LocalBlobStore
from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.s3_blob_store import S3BlobStore, parse_s3_url
from tarmac.db.engine import make_engine
from tarmac.db.migrate import upgrade_to_head
from tarmac.db.unit_of_work import Database
from tarmac.deployments.secret_values import SecretBox, load_secret_box
from tarmac.errors import ConfigurationError
from tarmac.events.service import EventLog, write_pending_events
from tarmac.failpoints import failpoint
from tarmac.installation.flags import InstallationFlags
from tarmac.installation.values import load_values_file
from tarmac.runtime_backends.base import RuntimeBackend
from tarmac.runtime_backends.filesystem import FilesystemBackend
from tarmac.runtimes.catalog import RuntimeCatalog, load_runtime_catalog
from tarmac.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Installation:
    """Everything entry points hand to services: settings, flags, catalog, stores."""

    settings: Settings
    flags: InstallationFlags
    catalog: RuntimeCatalog
    secrets: SecretBox
    database: Database
    event_log: EventLog
    bundle_limits: BundleLimits
    blob_store: BlobStore
    runtime_backend: RuntimeBackend

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def commit(self, session: Session) -> None:
        """End an entry point's unit of work: commit, dispatch its events, write the log."""
        failpoint("before_commit")
        self.database.commit(session)
        self.after_commit()

    def after_commit(self) -> None:
        """Work that follows every committed write: copy new ECS events to the event log."""
        try:
            write_pending_events(self.database.engine, self.event_log)
        except Exception:  # the events stay in the outbox; the next write or start retries
            log.exception("could not write events to %s", self.event_log.path)

    def close(self) -> None:
        self.database.dispose()


def open_installation(settings: Settings, *, migrate: bool = True) -> Installation:
    """Read configuration, open the database (migrating it) and the data directory."""
    flags = load_values_file(settings.values_file)
    catalog = load_runtime_catalog(settings.runtime_catalog_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(
        settings.effective_database_url(),
        lock_timeout_seconds=settings.deploy_lock_timeout_seconds,
    )
    if migrate:
        upgrade_to_head(engine)
    limits = bundle_limits(settings)
    blob_store = open_blob_store(settings)
    return Installation(
        settings=settings,
        flags=flags,
        catalog=catalog,
        secrets=load_secret_box(secret_key=settings.secret_key, data_dir=settings.data_dir),
        database=Database(engine),
        event_log=EventLog(settings.data_dir / "events" / "events.jsonl"),
        bundle_limits=limits,
        blob_store=blob_store,
        runtime_backend=FilesystemBackend(
            data_dir=settings.data_dir, open_blob=blob_store.open, limits=limits
        ),
    )


def open_blob_store(settings: Settings) -> BlobStore:
    """The local ``<data-dir>/blobs`` folder, or the S3 bucket ``TARMAC_BLOB_STORE_URL`` names."""
    if not settings.blob_store_url:
        return LocalBlobStore(settings.data_dir / "blobs")
    if not settings.secret_key:
        # Each replica would generate its own key into its own disk, and could not read
        # the secret environment variables another replica wrote.
        raise ConfigurationError(
            "TARMAC_BLOB_STORE_URL is for replicas without a shared disk: set "
            "TARMAC_SECRET_KEY, the same on every replica"
        )
    return S3BlobStore(
        parse_s3_url(settings.blob_store_url),
        # Uploads are staged on this replica's disk while they are hashed and checked.
        staging_dir=settings.data_dir / "blob-staging",
        part_size=settings.s3_part_size_bytes,
    )


def bundle_limits(settings: Settings) -> BundleLimits:
    return BundleLimits(
        max_unpacked_bytes=settings.max_bundle_unpacked_bytes,
        max_members=settings.max_bundle_members,
        max_compression_ratio=settings.max_bundle_compression_ratio,
        max_upload_bytes=settings.max_bundle_upload_bytes,
    )
