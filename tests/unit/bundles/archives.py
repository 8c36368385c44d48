"""Builders for test bundles, benign and malicious, made in memory with tarfile and gzip."""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One tar member to write, with its content for regular files."""

    info: tarfile.TarInfo
    data: bytes = b""


def regular(name: str, data: bytes = b"print('dag')\n", *, mode: int = 0o644) -> Entry:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return Entry(info, data)


def directory(name: str) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return Entry(info)


def symlink(name: str, target: str) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return Entry(info)


def hardlink(name: str, target: str) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return Entry(info)


def special(name: str, member_type: bytes) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = member_type
    return Entry(info)


def tar_bytes(
    *entries: Entry,
    tar_format: int = tarfile.PAX_FORMAT,
    encoding: str = "utf-8",
) -> bytes:
    """An uncompressed tar of ``entries``; surrogate-escaped names are written as raw bytes."""
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w", format=tar_format, encoding=encoding, errors="surrogateescape"
    ) as tar:
        for entry in entries:
            tar.addfile(entry.info, io.BytesIO(entry.data) if entry.info.isreg() else None)
    return buffer.getvalue()


def tar_gz(*entries: Entry, tar_format: int = tarfile.PAX_FORMAT, encoding: str = "utf-8") -> bytes:
    """A gzip-compressed tar of ``entries``."""
    return gzip.compress(tar_bytes(*entries, tar_format=tar_format, encoding=encoding), mtime=0)


def sample_bundle() -> bytes:
    """A small valid bundle with files, a directory, a symlink and a hard link."""
    return tar_gz(
        directory("dags"),
        regular("dags/etl.py", b"# etl\n"),
        regular("dags/run.sh", b"#!/bin/sh\n", mode=0o755),
        regular("common/util.py", b"X = 1\n"),
        symlink("dags/common", "../common"),
        hardlink("dags/etl_copy.py", "dags/etl.py"),
    )
