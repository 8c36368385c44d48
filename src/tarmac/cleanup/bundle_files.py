"""A bundle's files on this server: its blob and its unpacked directory.

Before deleting them, cleanup *claims* them: each is renamed to a tombstone name in
the same directory (atomic), then checked for a touch that came in just before the
rename. A deploy that reuses the bundle at that moment either touched it first (the
claim sees it and puts everything back) or finds it gone and stores or unpacks it
anew. Tombstones are deleted only after the transaction that removed the bundle's
record committed.

A blob in an object store (S3) cannot be renamed: its claim is only noted, a touch is
read from the object's LastModified (a deploy reusing the blob refreshes it), and the
object is deleted *before* the transaction that removes its record commits, so a deploy
that records the bundle again afterwards finds it missing and stores it anew.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from tarmac.bundles.blob_store import BlobStore, LocalBlobStore
from tarmac.bundles.digests import is_sha256
from tarmac.bundles.durable import remove_tree
from tarmac.bundles.s3_blob_store import S3BlobStore

BLOB_TOMBSTONE_PREFIX = ".cleanup-"
# The materialiser's prune() removes stale ".tmp-" leftovers, so a crash leaves no litter.
DIR_TOMBSTONE_PREFIX = ".tmp-cleanup-"


@dataclass
class BundleFiles:
    """Where bundle files are: the blob store, and the unpacked bundles (if on this server)."""

    blob_store: BlobStore
    bundles_dir: Path | None

    def unpacked_dir(self, sha256: str) -> Path | None:
        return self.bundles_dir / sha256 if self.bundles_dir else None

    def last_touched(self, sha256: str) -> float | None:
        """The newest mtime of the blob and the unpacked dir (a deploy touches the dir)."""
        times = [_mtime(p) for p in (self.blob_store.local_path(sha256), self.unpacked_dir(sha256))]
        times.append(self.remote_touched(sha256))
        known = [t for t in times if t is not None]
        return max(known) if known else None

    def remote_touched(self, sha256: str) -> float | None:
        """When an object-store blob was stored or last reused (None for local blobs)."""
        if isinstance(self.blob_store, S3BlobStore):
            return self.blob_store.last_modified(sha256)
        return None

    def exists(self, sha256: str) -> bool:
        unpacked = self.unpacked_dir(sha256)
        return self.blob_store.exists(sha256) or bool(unpacked and unpacked.is_dir())

    def claim(self, sha256: str) -> BundleClaim:
        """Move the bundle's files out of sight; undo with ``restore``, finish with ``discard``."""
        claim = BundleClaim(sha256=sha256, files=self)
        blob = self.blob_store.local_path(sha256)
        if blob is not None:
            claim.blob = _rename_aside(blob, blob.with_name(_tombstone(BLOB_TOMBSTONE_PREFIX)))
        elif self.blob_store.exists(sha256):
            claim.remote_blob = True  # not a local file: deleted in discard(), nothing to rename
        unpacked = self.unpacked_dir(sha256)
        if unpacked is not None:
            claim.unpacked = _rename_aside(
                unpacked, unpacked.with_name(_tombstone(DIR_TOMBSTONE_PREFIX))
            )
        return claim

    def orphan_candidates(self) -> set[str]:
        """Every sha256 that has a blob or an unpacked dir here."""
        found = set(self.blob_store.iter_shas())
        if self.bundles_dir is not None and self.bundles_dir.is_dir():
            found.update(e.name for e in self.bundles_dir.iterdir() if is_sha256(e.name))
        return found

    def remove_stale_tombstones(self, *, older_than: float) -> None:
        """Delete tombstones a crash left behind (they are never needed again)."""
        if isinstance(self.blob_store, LocalBlobStore) and self.blob_store.root.is_dir():
            for path in self.blob_store.root.glob(f"*/{BLOB_TOMBSTONE_PREFIX}*"):
                if (_mtime(path) or 0) < older_than:
                    path.unlink(missing_ok=True)
        if isinstance(self.blob_store, S3BlobStore):
            # Multipart uploads a crash interrupted, and their local staging files.
            self.blob_store.abort_stale_uploads(older_than=older_than)
            self.blob_store.remove_stale_staging()
        if self.bundles_dir is not None and self.bundles_dir.is_dir():
            for path in self.bundles_dir.glob(f"{DIR_TOMBSTONE_PREFIX}*"):
                if (_mtime(path) or 0) < older_than:
                    remove_tree(path)


@dataclass
class BundleClaim:
    """A bundle's files, renamed aside: (original, tombstone) pairs."""

    sha256: str
    files: BundleFiles
    blob: tuple[Path, Path] | None = None
    unpacked: tuple[Path, Path] | None = None
    remote_blob: bool = False
    remote_deleted: bool = False
    _done: bool = field(default=False, repr=False)

    def touched_since(self, moment: float) -> bool:
        """Whether a file was touched at or after ``moment`` (seen on the tombstones)."""
        for pair in (self.blob, self.unpacked):
            if pair is not None and (_mtime(pair[1]) or 0) >= moment:
                return True
        return self.remote_blob and (self.files.remote_touched(self.sha256) or 0) >= moment

    def files_back(self) -> bool:
        """Whether a deploy stored or unpacked the bundle again since it was claimed."""
        unpacked = self.files.unpacked_dir(self.sha256)
        if unpacked is not None and unpacked.is_dir():
            return True
        # A remote blob was never moved: a reuse shows as a touch (``touched_since``).
        return not self.remote_blob and self.files.blob_store.exists(self.sha256)

    def delete_remote(self) -> None:
        """Delete an object-store blob now (before the record's deletion commits)."""
        if self.remote_blob and not self._done:
            self.files.blob_store.delete(self.sha256)
            self.remote_deleted = True

    def restore(self) -> None:
        """Put the files back, unless a deploy already stored or unpacked them anew."""
        if self._done:
            return
        self._done = True
        if self.blob is not None:
            original, tombstone = self.blob
            _put_back_file(tombstone, original)
        if self.unpacked is not None:
            original, tombstone = self.unpacked
            try:
                os.rename(tombstone, original)
            except OSError:  # a deploy unpacked the bundle again meanwhile: keep its copy
                remove_tree(tombstone)

    def discard(self) -> tuple[bool, bool]:
        """Delete the files for good; returns (blob deleted, unpacked dir deleted)."""
        if self._done:
            return False, False
        self._done = True
        if self.remote_blob and not self.remote_deleted:
            self.files.blob_store.delete(self.sha256)
        if self.blob is not None:
            self.blob[1].unlink(missing_ok=True)
        if self.unpacked is not None:
            remove_tree(self.unpacked[1])
        return self.blob is not None or self.remote_blob, self.unpacked is not None


def _put_back_file(tombstone: Path, original: Path) -> None:
    """Move a blob back without replacing one that a deploy stored meanwhile."""
    try:
        os.link(tombstone, original)
    except FileExistsError:
        pass
    except OSError:  # no hard links on this file system
        if not original.exists():
            os.replace(tombstone, original)
            return
    tombstone.unlink(missing_ok=True)


def _rename_aside(path: Path, tombstone: Path) -> tuple[Path, Path] | None:
    try:
        os.rename(path, tombstone)
    except FileNotFoundError:
        return None
    return path, tombstone


def _tombstone(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(8)}"


def _mtime(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return None
