"""Process settings, read from ``TARMAC_*`` environment variables by one function."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a tarmac process reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="TARMAC_", extra="ignore")

    data_dir: Path = Field(default=Path("tarmac-data"))
    database_url: str | None = None
    values_file: Path | None = None
    bootstrap_token: str | None = None
    secret_key: str | None = None
    runtime_catalog_file: Path | None = None
    elasticsearch_url: str | None = None
    elasticsearch_index_prefix: str = "tarmac-events"
    deploy_lock_timeout_seconds: float = 10.0
    max_bundle_upload_bytes: int = 1024**3
    max_bundle_unpacked_bytes: int = 2 * 1024**3
    max_bundle_members: int = 100_000
    max_bundle_compression_ratio: float = 200.0
    # The import gate: where Airflow environments are cached (default: the local
    # runtime's cache), whether a missing one is built on demand, and its time limits.
    runtime_env_dir: Path | None = None
    import_check_build_environments: bool = True
    import_check_timeout_seconds: float = 180.0
    import_check_file_timeout_seconds: float = 30.0
    # Webhooks (issue 18): loopback receivers only when allowed (tests, the demo).
    webhook_allow_loopback: bool = False
    webhook_retry_base_seconds: float = 1.0
    webhook_retry_cap_seconds: float = 300.0
    webhook_max_attempts: int = 12
    webhook_poll_seconds: float = 1.0
    # Slowest request body accepted: after the grace period at least this average rate,
    # and never this long without a byte (a stalled client holds nothing for long).
    body_min_bytes_per_second: float = Field(default=4096.0, gt=0)
    body_grace_seconds: float = Field(default=10.0, ge=0)
    body_idle_timeout_seconds: float = Field(default=30.0, gt=0)
    # Deploy uploads in flight at once, per user and for the whole server.
    max_uploads_per_user: int = Field(default=4, ge=1)
    max_uploads_in_flight: int = Field(default=16, ge=1)
    blob_store_url: str | None = None
    """``s3://BUCKET/PREFIX`` keeps blobs in S3; unset, they stay in ``<data-dir>/blobs``."""
    s3_part_size_bytes: int = 16 * 1024**2
    download_url_seconds: int = 300
    """Lifetime of the pre-signed bundle URLs handed to agents (0: agents use the API)."""

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Everything under the data dir is addressed by absolute paths (symlinks, blobs),
        # so a relative --data-dir must not change meaning with the working directory.
        return value.absolute()

    def effective_database_url(self) -> str:
        """The configured database, or SQLite inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tarmac.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings now (never at import time); ``overrides`` win over the environment."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)  # type: ignore[arg-type]
