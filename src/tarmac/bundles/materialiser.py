"""Unpacked bundles on disk and the live symlink that picks one: DESIGN.md §4 "Instant rollback".

Layout under ``bundles_dir``: ``<sha256>/`` holds one complete, read-only unpacked
bundle; ``.tmp-<random>/`` is an unpack in progress. A bundle directory only ever
appears by an atomic rename of a finished temporary one, so its existence means it is
complete. Making a bundle live is the atomic replacement of a symlink, so a rollback
costs the same whatever the bundle's size or the length of the history.

Shared by the server's filesystem runtime backend and the sync agent.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path, PurePath
from typing import BinaryIO

from tarmac.bundles.digests import is_sha256, require_sha256
from tarmac.bundles.durable import flush_tree, fsync_dir, remove_tree, write_json_atomically
from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.manifest import BundleManifest
from tarmac.bundles.scan import scan_bundle
from tarmac.errors import InvalidBundle

__all__ = ["Materialiser", "file_mode", "write_json_atomically"]

_TMP_PREFIX = ".tmp-"
_READ_ONLY_FILE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_READ_ONLY_EXEC = _READ_ONLY_FILE | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


def file_mode(*, executable: bool) -> int:
    """The mode of a file in an unpacked bundle: read-only, executable if it was."""
    return _READ_ONLY_EXEC if executable else _READ_ONLY_FILE


class _DirectorySink:
    """Writes checked bundle members below ``root`` (see ``scan.BundleSink``)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _place(self, path: str) -> Path:
        target = self._root / path
        # Parents may be implied by deeper members; the checks guarantee none is a link.
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def add_dir(self, path: str) -> None:
        self._place(path).mkdir(exist_ok=True)

    def add_file(self, path: str, *, executable: bool, chunks: Iterator[bytes]) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self._place(path), flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fchmod(out.fileno(), _READ_ONLY_EXEC if executable else _READ_ONLY_FILE)
        # Durable only at seal(): one flush for the whole tree, not an fsync per file.

    def add_symlink(self, path: str, target: str) -> None:
        os.symlink(target, self._place(path))

    def add_hardlink(self, path: str, origin: str) -> None:
        os.link(self._root / origin, self._place(path), follow_symlinks=False)


def _seal(root: Path) -> None:
    """Make every directory below ``root`` read-only, then the whole tree durable."""
    for directory, _dirs, _files in os.walk(root, topdown=False):
        if directory != str(root):
            os.chmod(directory, _READ_ONLY_EXEC)
    flush_tree(root)


class Materialiser:
    """Keeps verified bundles unpacked in ``bundles_dir`` and swaps live symlinks to them."""

    def __init__(self, bundles_dir: Path) -> None:
        self.bundles_dir = bundles_dir

    def path_for(self, sha256: str) -> Path:
        """Where bundle ``sha256`` is (or would be) unpacked."""
        return self.bundles_dir / require_sha256(sha256)

    def is_unpacked(self, sha256: str) -> bool:
        """Whether bundle ``sha256`` is unpacked here (a bundle directory is complete)."""
        return self.path_for(sha256).is_dir()

    def ensure_unpacked(
        self, sha256: str, *, open_blob: Callable[[], BinaryIO], limits: BundleLimits
    ) -> Path:
        """The directory of bundle ``sha256``, unpacking it from ``open_blob()`` if needed.

        The blob's bytes must hash to ``sha256`` and pass the same checks as an upload;
        otherwise ``InvalidBundle`` is raised and nothing is left behind.
        """

        def unpack(tmp: Path) -> None:
            with open_blob() as blob:
                result = scan_bundle(blob, limits=limits, sink=_DirectorySink(tmp))
            if result.sha256 != sha256:
                raise InvalidBundle(
                    "bundle bytes do not match their sha256", expected=sha256, actual=result.sha256
                )

        return self.build(sha256, fill=unpack)

    def unpack_upload(
        self, sha256: str, path: Path, *, limits: BundleLimits
    ) -> BundleManifest | None:
        """Check an uploaded bundle and unpack it in the same pass (one decompression).

        Returns its manifest, or None if the bundle was unpacked already (then nothing is
        read: the caller inspects it). Raises ``InvalidBundle`` for anything an upload
        may not be, leaving nothing behind.
        """
        found: list[BundleManifest] = []

        def unpack(tmp: Path) -> None:
            with path.open("rb") as raw:
                if os.fstat(raw.fileno()).st_size > limits.max_upload_bytes:
                    raise InvalidBundle(
                        "bundle is larger than allowed", max_upload_bytes=limits.max_upload_bytes
                    )
                result = scan_bundle(raw, limits=limits, sink=_DirectorySink(tmp))
            if result.sha256 != sha256:
                raise InvalidBundle(
                    "bundle bytes do not match their sha256", expected=sha256, actual=result.sha256
                )
            found.append(result.manifest)

        self.build(sha256, fill=unpack)
        return found[0] if found else None

    def build(self, sha256: str, *, fill: Callable[[Path], None]) -> Path:
        """The directory of bundle ``sha256``; if missing, ``fill`` makes it in a new one.

        ``fill`` writes the complete, checked tree into the temporary directory it is
        given (or raises: then nothing is left behind). The tree is made read-only and
        durable, then renamed into place, so a bundle directory that exists is complete.
        """
        final = self.path_for(sha256)
        if final.is_dir():
            os.utime(final)
            return final
        self.bundles_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=self.bundles_dir))
        try:
            fill(tmp)
            _seal(tmp)
            try:
                tmp.rename(final)
            except OSError:
                # Another process unpacked the same bundle first; its copy is as good.
                if not final.is_dir():
                    raise
                remove_tree(tmp)
                return final
        except BaseException:
            remove_tree(tmp)
            raise
        # Read-only only once renamed: some systems refuse to move an unwritable directory.
        final.chmod(_READ_ONLY_EXEC)
        fsync_dir(self.bundles_dir)
        return final

    def swap_live(self, link: Path, target: Path) -> None:
        """Point ``link`` at ``target`` atomically: readers see the old tree or the new one."""
        if not target.is_dir():
            raise FileNotFoundError(f"bundle directory {target} does not exist")
        link.parent.mkdir(parents=True, exist_ok=True)
        # Relative, so the data directory can be mounted at another path (agent sidecars).
        relative = os.path.relpath(target.resolve(), link.parent.resolve())
        tmp_link = link.parent / f".{link.name}.swap-{secrets.token_hex(8)}"
        os.symlink(relative, tmp_link)
        try:
            os.replace(tmp_link, link)
        except BaseException:
            tmp_link.unlink(missing_ok=True)
            raise
        fsync_dir(link.parent)
        # The bundle's mtime is its "last used" time for prune().
        os.utime(target)

    def live_target(self, link: Path) -> str | None:
        """The sha256 of the bundle ``link`` points at, or None (no link, or not a bundle)."""
        try:
            destination = os.readlink(link)
        except OSError:  # missing, or not a symlink
            return None
        name = PurePath(destination).name
        return name if is_sha256(name) else None

    def prune(
        self,
        *,
        keep: int,
        protect: Collection[str],
        live_links: Collection[Path] = (),
        stale_tmp_seconds: float = 3600.0,
    ) -> list[str]:
        """Remove unpacked bundles beyond the ``keep`` most recently used; return their sha256s.

        Never removes a bundle in ``protect`` or one that a link in ``live_links`` points
        at. Also removes unpack leftovers (``.tmp-*``) older than ``stale_tmp_seconds``.
        """
        if keep < 0:
            raise ValueError("keep must not be negative")
        if not self.bundles_dir.is_dir():
            return []
        kept = set(protect) | {sha for link in live_links if (sha := self.live_target(link))}
        bundles = [
            entry
            for entry in self.bundles_dir.iterdir()
            if is_sha256(entry.name) and entry.is_dir() and not entry.is_symlink()
        ]
        bundles.sort(key=lambda entry: entry.stat().st_mtime, reverse=True)
        removed: list[str] = []
        for entry in bundles[keep:]:
            if entry.name not in kept:
                remove_tree(entry)
                removed.append(entry.name)
        stale_before = time.time() - stale_tmp_seconds
        for entry in self.bundles_dir.glob(f"{_TMP_PREFIX}*"):
            # A recent one may be an unpack still running in another process.
            if entry.lstat().st_mtime < stale_before:
                remove_tree(entry)
        if removed:
            fsync_dir(self.bundles_dir)
        return removed
