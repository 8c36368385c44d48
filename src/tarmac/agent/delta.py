"""Build a bundle from the files the agent already holds, fetching only the ones it lacks.

The server describes the bundle as a tree (every directory, file digest and link). A file
whose digest is in a bundle the agent keeps unpacked is hard-linked from there (same
inode: no bytes copied, nothing written but a directory entry); the others come in one
request, each checked against its digest as it is written. Before the tree is published
every file, linked or fetched, is hashed again and compared with the tree, so a wrong
local file or a lying cache can never go live. The result is sealed and renamed into
place by the materialiser like any unpacked bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tarmac.agent.client import BundleDigestMismatch
from tarmac.bundles.materialiser import file_mode
from tarmac.bundles.tree import DIR, FILE, SYMLINK, BundleTree, TreeEntry

_CHUNK = 1024 * 1024


class FileSource(Protocol):
    """What the agent's HTTP client offers for deltas (see ``LiveCodeClient``)."""

    def tree(self, sha256: str) -> dict[str, object] | None: ...

    def files(
        self, sha256: str, wanted: list[tuple[str, int]]
    ) -> Iterator[tuple[str, Iterator[bytes]]]: ...


@dataclass(frozen=True)
class LocalFile:
    path: str
    executable: bool


@dataclass
class DeltaStats:
    files: int = 0
    linked: int = 0
    fetched: int = 0
    fetched_bytes: int = 0


def local_files(bundles_dir: Path, trees_dir: Path, shas: Iterable[str]) -> dict[str, LocalFile]:
    """Every file digest found in the unpacked bundles ``shas`` whose tree was recorded."""
    found: dict[str, LocalFile] = {}
    for sha in shas:
        files = recorded_files(trees_dir, sha)
        if files is None:
            continue  # no tree recorded (unpacked before deltas existed): not a source
        root = os.path.join(bundles_dir, sha)
        for entry in files:
            if entry["sha256"] not in found:
                path = os.path.join(root, entry["path"])
                found[entry["sha256"]] = LocalFile(path, entry.get("executable") is True)
    return found


def recorded_files(trees_dir: Path, sha256: str) -> list[dict[str, Any]] | None:
    """The file entries (``path``, ``sha256``, ``executable``) of bundle ``sha256``'s
    recorded tree; None if none was recorded or it cannot be read."""
    try:
        entries = json.loads((trees_dir / f"{sha256}.json").read_text())["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(entries, list):
        return None
    return [
        entry
        for entry in entries
        if isinstance(entry, dict)
        and entry.get("type") == FILE
        and isinstance(entry.get("path"), str)
        and isinstance(entry.get("sha256"), str)
    ]


def assemble(
    tmp: Path,
    *,
    sha256: str,
    tree: BundleTree,
    local: dict[str, LocalFile],
    source: FileSource,
) -> DeltaStats:
    """Write bundle ``sha256``'s tree into the empty directory ``tmp``."""
    stats = DeltaStats(files=len(tree.files))
    base = str(tmp)
    for entry in tree.entries:
        if entry.kind == DIR:
            os.mkdir(os.path.join(base, entry.path))
    have = dict(local)  # grows with fetched files, so a digest is fetched once
    fetch: list[TreeEntry] = []
    for entry in tree.files:
        assert entry.sha256 is not None
        if entry.sha256 in have:
            stats.linked += 1
            _place_from(have[entry.sha256], os.path.join(base, entry.path), entry.executable)
        else:
            fetch.append(entry)
            have[entry.sha256] = LocalFile(os.path.join(base, entry.path), entry.executable)
    first = {e.sha256: e for e in fetch}
    if first:
        wanted = [(digest, e.size) for digest, e in first.items() if digest is not None]
        for digest, chunks in source.files(sha256, wanted):
            entry = first[digest]
            stats.fetched += 1
            stats.fetched_bytes += entry.size
            _write(
                os.path.join(base, entry.path), chunks, sha256=digest, executable=entry.executable
            )
    # Same content at several new paths: fetched once, the others placed from the first.
    for entry in fetch:
        if first[entry.sha256] is not entry:
            _place_from(have[entry.sha256 or ""], os.path.join(base, entry.path), entry.executable)
    for entry in tree.entries:
        if entry.kind == SYMLINK:
            assert entry.target is not None
            os.symlink(entry.target, os.path.join(base, entry.path))
    for entry in tree.files:
        _verify(os.path.join(base, entry.path), entry)
    return stats


def _place_from(origin: LocalFile, dest: str, executable: bool) -> None:
    """A hard link when the mode matches (files of a bundle are read-only), else a copy."""
    if origin.executable == executable:
        try:
            os.link(origin.path, dest, follow_symlinks=False)
            return
        except OSError:
            pass  # another file system, or none with hard links: copy instead
    with open(origin.path, "rb") as source:
        _write(dest, iter(lambda: source.read(_CHUNK), b""), sha256=None, executable=executable)


def _write(dest: str, chunks: Iterator[bytes], *, sha256: str | None, executable: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    digest = hashlib.sha256()
    with os.fdopen(os.open(dest, flags, 0o600), "wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
        os.fchmod(out.fileno(), file_mode(executable=executable))
    if sha256 is not None and digest.hexdigest() != sha256:
        raise BundleDigestMismatch(f"file {os.path.basename(dest)} arrived with the wrong sha256")


def _verify(path: str, entry: TreeEntry) -> None:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != entry.sha256:
        raise BundleDigestMismatch(f"file {entry.path} does not match its sha256")


def remove_tree_record(trees_dir: Path, sha256: str) -> None:
    (trees_dir / f"{sha256}.json").unlink(missing_ok=True)


def record_tree(trees_dir: Path, sha256: str, data: dict[str, object]) -> None:
    """Remember a bundle's tree beside it, so its files can feed the next delta."""
    trees_dir.mkdir(parents=True, exist_ok=True)
    tmp = trees_dir / f".{sha256}.json.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, trees_dir / f"{sha256}.json")
