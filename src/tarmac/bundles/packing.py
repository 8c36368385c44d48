"""Packing a DAGs folder into a bundle, reproducibly: same files, same bytes, same sha256."""

from __future__ import annotations

import gzip
import os
import secrets
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from tarmac.bundles.airflowignore import IGNORE_FILE, IgnoreRules, IgnoreSyntax
from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.manifest import BundleManifest
from tarmac.bundles.members import check_symlink_target, display_name, normalise_name
from tarmac.bundles.validation import inspect_bundle
from tarmac.errors import InvalidBundle


def pack_dags_folder(
    folder: Path,
    dest: Path,
    *,
    syntax: IgnoreSyntax = "regexp",
    limits: BundleLimits | None = None,
) -> BundleManifest:
    """Write ``folder`` as a deterministic tar.gz to ``dest`` and return its manifest.

    Leaves out what ``.airflowignore`` files ignore (``syntax`` as Airflow's
    ``[core] dag_ignore_file_syntax``), ``__pycache__`` directories and ``*.pyc``
    files. Members are sorted, with mtime 0, uid/gid 0, no owner names and modes
    0644/0755, and the gzip header has no name or time, so identical folders give
    identical bytes. Symlinks are kept as links and must stay inside the folder.
    Empty directories are not kept. The result is checked as an upload would be
    (with ``limits``, default :class:`BundleLimits`), so a bundle packed here is
    never refused later.
    """
    folder = folder.resolve()
    if not folder.is_dir():
        raise NotADirectoryError(f"DAGs folder {folder} is not a directory")
    if dest.resolve().is_relative_to(folder):
        raise ValueError("the bundle must be written outside the DAGs folder")
    members = sorted(_collect(folder, syntax))
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.tmp")
    try:
        with tmp.open("wb") as raw:
            _write_archive(raw, folder, members)
            raw.flush()
            os.fsync(raw.fileno())
        manifest = inspect_bundle(tmp, limits=limits or BundleLimits())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return manifest


def _collect(folder: Path, syntax: IgnoreSyntax) -> list[str]:
    """Relative paths of the files and symlinks to pack, skipping ignored ones."""
    found: list[str] = []
    pending: list[tuple[Path, str, IgnoreRules]] = [(folder, "", IgnoreRules(syntax))]
    while pending:
        directory, rel_dir, rules = pending.pop()
        if (directory / IGNORE_FILE).is_file():
            rules = rules.with_file(directory / IGNORE_FILE, rel_dir=rel_dir)
        with os.scandir(directory) as entries:
            for entry in entries:
                rel_path = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                is_real_dir = entry.is_dir(follow_symlinks=False)
                compiled = entry.name.endswith(".pyc") and not is_real_dir
                if compiled or (is_real_dir and entry.name == "__pycache__"):
                    continue
                # Airflow follows symlinks when it decides whether a path is a directory.
                if rules.ignores(rel_path, is_dir=entry.is_dir()):
                    continue
                normalise_name(rel_path)  # refuses names a bundle may not hold
                if is_real_dir:
                    pending.append((Path(entry.path), rel_path, rules))
                else:
                    found.append(rel_path)
    return found


def _write_archive(raw: BinaryIO, folder: Path, members: list[str]) -> None:
    # The gzip header would otherwise carry the file name and the current time.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed,
        tarfile.open(
            fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8"
        ) as tar,
    ):
        for rel_path in members:
            source = folder / rel_path
            info = _tar_info(rel_path, source)
            if info.isreg():
                with source.open("rb") as content:
                    tar.addfile(info, content)
            else:
                tar.addfile(info)


def _tar_info(rel_path: str, source: Path) -> tarfile.TarInfo:
    """A header that depends only on the path, content and executable bit."""
    status = source.lstat()
    info = tarfile.TarInfo(rel_path)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISLNK(status.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(source)
        check_symlink_target(rel_path, info.linkname)
        info.mode = 0o777
    elif stat.S_ISREG(status.st_mode):
        info.size = status.st_size
        info.mode = 0o755 if status.st_mode & 0o111 else 0o644
    else:
        raise InvalidBundle(
            "DAGs folder holds something that is not a file, directory or symlink",
            member=display_name(rel_path),
        )
    return info
