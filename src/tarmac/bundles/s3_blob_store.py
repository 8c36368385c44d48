"""Bundle blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, GCS's S3 interface).

Selected by ``TARMAC_BLOB_STORE_URL=s3://BUCKET/PREFIX``. The endpoint comes from the
AWS SDKs' standard ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``), credentials and
region from the standard AWS chain: nothing S3-specific is a tarmac setting.

An upload is staged in a local temporary file first, as with the local store: it must
be hashed and inspected before it may be stored. ``commit`` then streams that file to
``<prefix>blobs/<sha[:2]>/<sha>``, as a multipart upload past ``part_size`` bytes, so
memory stays at a few parts whatever the bundle's size. An S3 object appears only when
its upload completes, and the key is the sha256 computed from the very file sent, so
no key ever names partial or unverified bytes; a crash mid-upload leaves an incomplete
multipart upload, invisible to readers, that :meth:`S3BlobStore.abort_stale_uploads`
(run by cleanup) aborts.

A commit of bytes already stored *touches* the object (a copy onto itself refreshes its
LastModified), which tells a concurrent cleanup on any replica the blob is in use again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

from tarmac.bundles.blob_store import BlobStore, LocalBlobStore, StagedBlob
from tarmac.bundles.digests import is_sha256, require_sha256
from tarmac.errors import ConfigurationError, NotFound
from tarmac.failpoints import failpoint

DEFAULT_PART_SIZE = 16 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest part (but the last)."""
UPLOAD_CONCURRENCY = 4
_MISSING = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    """Empty, or ends with ``/``."""


def parse_s3_url(url: str) -> S3Location:
    """``s3://bucket/some/prefix`` → bucket and ``some/prefix/``; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"TARMAC_BLOB_STORE_URL must look like s3://BUCKET/PREFIX, not {url!r}"
        )
    prefix = parts.path.strip("/")
    return S3Location(bucket=parts.netloc, prefix=f"{prefix}/" if prefix else "")


class S3BlobStore:
    """Blobs as objects ``<prefix>blobs/<sha[:2]>/<sha>``; uploads staged under ``staging_dir``."""

    def __init__(
        self,
        location: S3Location,
        *,
        staging_dir: Path,
        client: Any = None,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ConfigurationError(f"S3 part size must be at least {MIN_PART_SIZE} bytes")
        self.location = location
        self.part_size = part_size
        self._staging = LocalBlobStore(staging_dir)
        self._client = client if client is not None else make_s3_client()

    @property
    def staging_root(self) -> Path:
        return self._staging.root

    def key(self, sha256: str) -> str:
        require_sha256(sha256)
        return f"{self.location.prefix}blobs/{sha256[:2]}/{sha256}"

    def stage(self, chunks: Iterable[bytes] | BinaryIO, *, max_bytes: int) -> StagedBlob:
        """Stream an upload to a local temporary file, hashing it (nothing is sent yet)."""
        return self._staging.stage(chunks, max_bytes=max_bytes)

    def commit(self, staged: StagedBlob) -> bool:
        """Upload staged bytes under their sha256; False if the bucket already had them."""
        if staged.committed:
            raise ValueError("staged blob was already committed")
        if staged.path.parent != self._staging.root:
            raise ValueError("staged blob belongs to another store")
        staged.committed = True
        try:
            if self._touch(staged.sha256):
                return False
            self._upload(staged)
            return True
        finally:
            staged.discard()

    def _touch(self, sha256: str) -> bool:
        """Refresh an existing object's LastModified; False if there is no such object."""
        key = self.key(sha256)
        try:
            self._client.copy_object(
                Bucket=self.location.bucket,
                Key=key,
                CopySource={"Bucket": self.location.bucket, "Key": key},
                MetadataDirective="REPLACE",
                Metadata={"sha256": sha256, "touched": f"{time.time():.3f}"},
                ContentType="application/gzip",
            )
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def _upload(self, staged: StagedBlob) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=self.part_size,
            multipart_chunksize=self.part_size,
            max_concurrency=UPLOAD_CONCURRENCY,
            use_threads=True,
        )
        sent = 0

        def progress(count: int) -> None:
            nonlocal sent
            sent += count
            if sent >= self.part_size:
                # For the kill -9 tests: die with a multipart upload begun but not complete.
                failpoint("s3_mid_upload")

        self._client.upload_file(
            str(staged.path),
            self.location.bucket,
            self.key(staged.sha256),
            ExtraArgs={"ContentType": "application/gzip", "Metadata": {"sha256": staged.sha256}},
            Config=config,
            Callback=progress,
        )

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def open(self, sha256: str) -> BinaryIO:
        """The object's bytes as a stream (read as they arrive, never held whole)."""
        try:
            answer = self._client.get_object(Bucket=self.location.bucket, Key=self.key(sha256))
        except Exception as exc:
            if _is_missing(exc):
                raise NotFound("blob not found", sha256=sha256) from None
            raise
        return cast(BinaryIO, answer["Body"])

    def local_path(self, sha256: str) -> Path | None:
        return None

    def delete(self, sha256: str) -> bool:
        if not self.exists(sha256):
            return False
        self._client.delete_object(Bucket=self.location.bucket, Key=self.key(sha256))
        return True

    def iter_shas(self) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        prefix = f"{self.location.prefix}blobs/"
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                name = str(item["Key"]).rsplit("/", 1)[-1]
                if is_sha256(name):
                    yield name

    def size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise NotFound("blob not found", sha256=sha256)
        return int(head["ContentLength"])

    def last_modified(self, sha256: str) -> float | None:
        """When the object was stored or last touched (POSIX time), None if absent."""
        head = self._head(sha256)
        return None if head is None else float(head["LastModified"].timestamp())

    def presigned_url(self, sha256: str, *, expires_seconds: int) -> str:
        """A URL that GETs the blob without credentials until it expires."""
        return str(
            self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.location.bucket, "Key": self.key(sha256)},
                ExpiresIn=expires_seconds,
            )
        )

    def abort_stale_uploads(self, *, older_than: float) -> int:
        """Abort multipart uploads begun before ``older_than`` (a crash left them)."""
        aborted = 0
        paginator = self._client.get_paginator("list_multipart_uploads")
        prefix = f"{self.location.prefix}blobs/"
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
            for upload in page.get("Uploads", ()):
                if upload["Initiated"].timestamp() >= older_than:
                    continue  # may be an upload still running on some replica
                self._client.abort_multipart_upload(
                    Bucket=self.location.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted += 1
        return aborted

    def remove_stale_staging(self, *, older_than_seconds: float = 3600.0) -> int:
        return self._staging.remove_stale_staging(older_than_seconds=older_than_seconds)

    def _head(self, sha256: str) -> dict[str, Any] | None:
        try:
            head = self._client.head_object(Bucket=self.location.bucket, Key=self.key(sha256))
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise
        return cast(dict[str, Any], head)


def make_s3_client() -> Any:
    """An S3 client configured the AWS way: environment, profile, instance role."""
    try:
        import boto3
    except ImportError:  # pragma: no cover - depends on the installation
        raise ConfigurationError(
            'an s3:// blob store needs boto3: pip install "tarmac[s3]"'
        ) from None
    from botocore.config import Config

    # Readers verify a bundle's sha256 end to end (unpacking and agents do); the SDK's
    # own response checksums add nothing, and some S3 servers keep a stale one on an
    # object copied onto itself (the touch), which the SDK would then refuse to read.
    return boto3.client("s3", config=Config(response_checksum_validation="when_required"))


def _is_missing(exc: Exception) -> bool:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) in _MISSING


def direct_download_url(
    store: BlobStore, sha256: str | None, *, expires_seconds: int
) -> str | None:
    """A pre-signed URL for the blob when the store is S3 and URLs are on, else None."""
    if sha256 is None or expires_seconds <= 0 or not isinstance(store, S3BlobStore):
        return None
    return store.presigned_url(sha256, expires_seconds=expires_seconds)
