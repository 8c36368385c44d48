"""One streaming pass over a gzip tar bundle: checks, limits, digests, optional unpacking.

Inspection (``validation``) and unpacking (``materialiser``) both go through
:func:`scan_bundle`, so a bundle that passes one passes the other. The archive is
read once, front to back, in bounded chunks; nothing holds it whole in memory.

The gzip layer is decoded by :class:`gzip.GzipFile` under ``tarfile.open(mode="r|")``
rather than by ``mode="r|gz"``: tarfile's own stream decoder never checks the gzip
CRC or notices a missing gzip trailer, and GzipFile does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Protocol, cast

from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.manifest import BundleManifest, ManifestEntry
from tarmac.bundles.members import Member, MemberChecker, MemberKind, display_name
from tarmac.errors import InvalidBundle

_CHUNK = 1024 * 1024
_COMPRESSED_READ = 8 * 1024
_RATIO_FLOOR = 1024 * 1024
"""Below this many unpacked bytes the compression ratio is not checked."""
_METADATA_BUDGET = 1024 * 1024
"""Tar stream bytes allowed past the end of one member's data: the next headers
(pax and long-name headers included), end-of-archive padding and read-ahead. tarfile
holds a header whole in memory, so a huge pax header is refused here, not read."""
_TAIL_KEEP = 64 * 1024
"""Recent tar stream bytes kept to check the end of the archive; tarfile reads ahead
by one record (10 KiB) at most."""
_BLOCK = tarfile.BLOCKSIZE


class BundleSink(Protocol):
    """Receives the checked members of a bundle, in archive order, to unpack them."""

    def add_dir(self, path: str) -> None:
        """Create directory ``path``."""

    def add_file(self, path: str, *, executable: bool, chunks: Iterator[bytes]) -> None:
        """Create regular file ``path`` from ``chunks``, consuming all of them."""

    def add_symlink(self, path: str, target: str) -> None:
        """Create symbolic link ``path`` pointing at ``target``."""

    def add_hardlink(self, path: str, origin: str) -> None:
        """Create ``path`` as a hard link to the earlier file ``origin``."""


@dataclass(frozen=True)
class ScanResult:
    """What one pass over a valid bundle found."""

    manifest: BundleManifest
    sha256: str
    """Digest of the compressed bytes, as the blob store names them."""
    compressed_size: int


class _CompressedReader:
    """Counts and hashes the compressed bytes as gzip pulls them from the source."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        # Small reads keep the compression-ratio check fine-grained whatever gzip asks for.
        data = self._raw.read(_COMPRESSED_READ if size < 0 else min(size, _COMPRESSED_READ))
        self._digest.update(data)
        self.size += len(data)
        return data

    def seek(self, offset: int, /) -> int:
        # Only a rewind would seek, and a bundle is never rewound.
        raise io.UnsupportedOperation("bundle streams are read once, forwards")

    def drain(self) -> None:
        """Read to the end so the digest covers every byte of the source."""
        while self.read():
            pass

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


class _TarStream:
    """The decompressed tar stream, with gzip errors, bombs and oversized headers refused."""

    def __init__(self, compressed: _CompressedReader, limits: BundleLimits) -> None:
        self._compressed = compressed
        self._gzip = gzip.GzipFile(fileobj=compressed, mode="rb")
        self._max_ratio = limits.max_compression_ratio
        self._pos = 0
        self._allowed_until = _METADATA_BUDGET
        self._tail = bytearray()
        self._member: str | None = None

    def enter_member(self, offset: int, name: str | None) -> None:
        """Allow the metadata budget again from tar ``offset``; name ``name`` in refusals."""
        self._allowed_until = offset + _METADATA_BUDGET
        self._member = name

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise ValueError("bundle stream reads must be bounded")
        try:
            data = self._gzip.read(size)
        except EOFError:
            raise self.refusal("bundle is truncated") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            not_gzip = self._pos == 0 and str(exc).startswith("Not a gzipped file")
            what = "not a gzip file" if not_gzip else "corrupt"
            raise self.refusal(f"bundle is {what}: {exc}") from None
        self._pos += len(data)
        if self._pos > _RATIO_FLOOR and self._pos > self._max_ratio * self._compressed.size:
            raise self.refusal(
                "bundle compression ratio is too high", max_compression_ratio=self._max_ratio
            )
        if self._pos > self._allowed_until:
            raise self.refusal("bundle has oversized tar headers or trailing data")
        self._tail += data
        del self._tail[:-_TAIL_KEEP]
        return data

    def refusal(self, message: str, **details: Any) -> InvalidBundle:
        """An ``InvalidBundle`` naming the member being read, if any."""
        if self._member is not None:
            details["member"] = self._member
        return InvalidBundle(message, **details)

    def check_end(self, end: int) -> None:
        """Check that only zero padding follows tar offset ``end``, through the gzip end."""
        tail_start = self._pos - len(self._tail)
        if end < tail_start:
            raise InvalidBundle("bundle end could not be checked")
        already_read = bytes(self._tail[end - tail_start :])
        length = 0
        for chunk in itertools.chain([already_read], iter(lambda: self.read(64 * 1024), b"")):
            if chunk.count(0) != len(chunk):
                raise InvalidBundle(
                    "bundle has a corrupt header or data after the end of the archive"
                )
            length += len(chunk)
        # A tar ends with zero blocks; without one, the archive was cut short.
        if length < _BLOCK:
            raise InvalidBundle("bundle is truncated (no end-of-archive marker)")


def scan_bundle(
    raw: BinaryIO, *, limits: BundleLimits, sink: BundleSink | None = None
) -> ScanResult:
    """Check every member of the gzip tar read from ``raw``; unpack into ``sink`` if given."""
    compressed = _CompressedReader(raw)
    stream = _TarStream(compressed, limits)
    checker = MemberChecker(limits)
    entries: dict[str, ManifestEntry] = {}
    try:
        # tarfile's type stubs want a full IO[bytes]; in "r|" mode it only calls read().
        with tarfile.open(
            fileobj=cast(IO[bytes], stream),
            mode="r|",
            encoding="utf-8",
            errors="surrogateescape",
        ) as tar:
            while (info := tar.next()) is not None:
                # tarfile keeps every member it has read; one pass needs none of them.
                tar.members.clear()  # type: ignore[attr-defined]
                member = checker.check(info)
                stream.enter_member(tar.offset, display_name(info.name))
                if member is not None:
                    _add_member(tar, info, member, entries=entries, sink=sink)
                stream.enter_member(tar.offset, None)
            end = tar.offset
    except tarfile.TarError as exc:
        raise stream.refusal(f"bundle is not a valid tar archive: {exc}") from None
    stream.check_end(end)
    compressed.drain()
    return ScanResult(
        manifest=BundleManifest(entries=tuple(entries.values())),
        sha256=compressed.sha256,
        compressed_size=compressed.size,
    )


def _add_member(
    tar: tarfile.TarFile,
    info: tarfile.TarInfo,
    member: Member,
    *,
    entries: dict[str, ManifestEntry],
    sink: BundleSink | None,
) -> None:
    path = member.path
    if member.kind is MemberKind.FILE:
        digest = hashlib.sha256()
        chunks = _file_chunks(tar, info, digest)
        if sink is not None:
            sink.add_file(path, executable=member.executable, chunks=chunks)
        # Whatever the sink left unread must still be read, hashed and size-checked.
        for _ in chunks:
            pass
        entries[path] = ManifestEntry(path=path, size=member.size, sha256=digest.hexdigest())
    elif member.kind is MemberKind.SYMLINK:
        target_digest = hashlib.sha256(member.link.encode("utf-8")).hexdigest()
        entries[path] = ManifestEntry(path=path, size=0, sha256=target_digest)
        if sink is not None:
            sink.add_symlink(path, member.link)
    elif member.kind is MemberKind.HARDLINK:
        origin = entries[member.link]
        entries[path] = ManifestEntry(path=path, size=origin.size, sha256=origin.sha256)
        if sink is not None:
            sink.add_hardlink(path, member.link)
    elif sink is not None:
        sink.add_dir(path)


def _file_chunks(
    tar: tarfile.TarFile, info: tarfile.TarInfo, digest: hashlib._Hash
) -> Iterator[bytes]:
    """The content of regular-file member ``info``, hashed into ``digest`` as it is read."""
    fileobj = tar.extractfile(info)
    if fileobj is None:  # pragma: no cover - regular members always have content
        raise InvalidBundle("bundle member has no content", member=display_name(info.name))
    remaining = info.size
    while remaining > 0:
        chunk = fileobj.read(min(_CHUNK, remaining))
        if not chunk:
            raise InvalidBundle("bundle is truncated", member=display_name(info.name))
        digest.update(chunk)
        remaining -= len(chunk)
        yield chunk
