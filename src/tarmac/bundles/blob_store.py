"""Content-addressed storage of bundle bytes, named by their sha256.

An upload is first *staged*: streamed to a temporary file while it is hashed and
counted, so it can be inspected before anything is stored. Only ``commit`` makes it a
blob. Staging happens inside the store's own directory so commit is a rename on one
file system, never a copy.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol, cast

from tarmac.bundles.digests import is_sha256, require_sha256
from tarmac.bundles.durable import fsync_dir
from tarmac.errors import InvalidBundle, NotFound

_CHUNK = 1024 * 1024
_STAGE_PREFIX = ".stage-"


class StagedBlob:
    """Uploaded bytes waiting in a local temporary file; deleted on exit unless committed."""

    def __init__(self, *, path: Path, sha256: str, size: int) -> None:
        self.path = path
        """Local temporary file holding the bytes, readable for inspection."""
        self.sha256 = sha256
        self.size = size
        self.committed = False

    def discard(self) -> None:
        """Delete the temporary file (nothing happens if it is already gone)."""
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> StagedBlob:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.discard()


class BlobStore(Protocol):
    """Where bundle bytes live: a local directory now, an S3 bucket later."""

    def stage(self, chunks: Iterable[bytes] | BinaryIO, *, max_bytes: int) -> StagedBlob:
        """Stream an upload to a temporary file, refusing it past ``max_bytes``."""
        ...

    def commit(self, staged: StagedBlob) -> bool:
        """Store staged bytes under their sha256; False if that blob already existed."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """The blob's bytes, or ``NotFound``."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """The blob as a local file, when the store keeps one (else None)."""
        ...

    def delete(self, sha256: str) -> bool:
        """Remove the blob; False if it was not stored."""
        ...

    def iter_shas(self) -> Iterator[str]:
        """Every stored blob's sha256."""
        ...

    def size(self, sha256: str) -> int:
        """The blob's size in bytes, or ``NotFound``."""
        ...


class LocalBlobStore:
    """Blobs as read-only files ``<root>/<sha[:2]>/<sha>`` in a local directory."""

    def __init__(self, root: Path) -> None:
        # Absolute, because staged files are compared by path and mkstemp answers absolute.
        self.root = root.absolute()

    def _path(self, sha256: str) -> Path:
        require_sha256(sha256)
        return self.root / sha256[:2] / sha256

    def stage(self, chunks: Iterable[bytes] | BinaryIO, *, max_bytes: int) -> StagedBlob:
        """Stream ``chunks`` (or a binary file) to a temporary file in the store, hashing it."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_STAGE_PREFIX, suffix=".tmp", dir=self.root)
        staged = StagedBlob(path=Path(tmp_name), sha256="", size=0)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in _iter_chunks(chunks):
                    staged.size += len(chunk)
                    # Stop reading as soon as the limit is passed: the rest is never wanted.
                    if staged.size > max_bytes:
                        raise InvalidBundle("bundle is larger than allowed", max_bytes=max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            staged.discard()
            raise
        staged.sha256 = digest.hexdigest()
        return staged

    def commit(self, staged: StagedBlob) -> bool:
        """Move staged bytes to ``<root>/<sha[:2]>/<sha>``; False if already stored."""
        if staged.committed:
            raise ValueError("staged blob was already committed")
        if staged.path.parent != self.root:
            raise ValueError("staged blob belongs to another store")
        final = self._path(staged.sha256)
        staged.committed = True
        try:
            if final.exists():
                try:
                    # A fresh mtime tells a concurrent cleanup this blob is in use again.
                    os.utime(final)
                    return False
                except FileNotFoundError:
                    pass  # cleanup removed it just now: store these bytes again
            shard_is_new = not final.parent.exists()
            final.parent.mkdir(exist_ok=True)
            if shard_is_new:
                fsync_dir(self.root)
            staged.path.chmod(0o444)
            try:
                # A link never replaces an existing name: if a concurrent commit of the
                # same bytes got there first, this one stored nothing new.
                os.link(staged.path, final)
            except FileExistsError:
                return False
            except OSError:
                # Some network and FUSE file systems have no hard links; rename instead.
                os.replace(staged.path, final)
            fsync_dir(final.parent)
            return True
        finally:
            staged.discard()

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return cast(BinaryIO, self._path(sha256).open("rb"))
        except FileNotFoundError:
            raise NotFound("blob not found", sha256=sha256) from None

    def local_path(self, sha256: str) -> Path | None:
        path = self._path(sha256)
        return path if path.is_file() else None

    def delete(self, sha256: str) -> bool:
        path = self._path(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(path.parent)
        return True

    def iter_shas(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for shard in sorted(self.root.iterdir()):
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for blob in sorted(shard.iterdir()):
                if is_sha256(blob.name) and blob.name.startswith(shard.name):
                    yield blob.name

    def size(self, sha256: str) -> int:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            raise NotFound("blob not found", sha256=sha256) from None

    def remove_stale_staging(self, *, older_than_seconds: float = 3600.0) -> int:
        """Delete staged files a crash left behind; returns how many were removed."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for leftover in self.root.glob(f"{_STAGE_PREFIX}*"):
            # A recent one may be an upload still in progress in another process.
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed


def _iter_chunks(source: Iterable[bytes] | BinaryIO) -> Iterator[bytes]:
    """Bounded chunks from a binary file, or the chunks of an iterable as given."""
    # A binary file is also iterable, but by lines, which may be arbitrarily long.
    if hasattr(source, "read"):
        reader = cast(BinaryIO, source)
        while chunk := reader.read(_CHUNK):
            yield chunk
    else:
        for chunk in source:
            if chunk:
                yield bytes(chunk)
