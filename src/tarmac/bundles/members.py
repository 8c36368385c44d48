"""The rules every tar member of a bundle must pass, shared by inspection and unpacking.

A bundle may hold regular files, directories, symbolic links and hard links, nothing
else. Names are relative, clean UTF-8 without control characters, ``..`` or
backslashes. A symlink must stay inside the bundle: its target is relative, and any
``..`` components come first and climb no higher than the bundle root. Because no
member may sit below a symlink (or a file), every directory a link is resolved from is
a real one, so this lexical rule is exact even for chains of links. A hard link must
name an earlier regular file (or hard link) of the same bundle.
"""

from __future__ import annotations

import enum
import tarfile
from dataclasses import dataclass

from tarmac.bundles.limits import BundleLimits
from tarmac.errors import InvalidBundle

NAME_MAX_BYTES = 255
"""Longest path component, as on common Linux file systems."""
PATH_MAX_BYTES = 1024
"""Longest member path; leaves room for the bundles directory under PATH_MAX (4096)."""

_FILE_TYPES = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_TYPE_NAMES = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "fifo",
    tarfile.GNUTYPE_SPARSE: "sparse file",
}


class MemberKind(enum.Enum):
    """What a bundle member is once unpacked."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"


@dataclass(frozen=True)
class Member:
    """A tar member that passed every rule, with its normalised path."""

    path: str
    kind: MemberKind
    size: int
    executable: bool
    link: str = ""
    """Symlink: the target as stored. Hard link: the normalised path of the file it shares."""


def display_name(raw: str) -> str:
    """Printable, JSON-safe form of a member name for error details."""
    # tarfile decodes undecodable bytes to lone surrogates, which JSON encoders reject.
    text = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _refuse(message: str, raw: str) -> InvalidBundle:
    return InvalidBundle(message, member=display_name(raw))


def _check_text(text: str, *, what: str, member: str) -> None:
    """Refuse empty, NUL-containing, non-UTF-8, control-character or backslash text."""
    if not text:
        raise _refuse(f"{what} is empty", member)
    if "\x00" in text:
        raise _refuse(f"{what} contains a NUL byte", member)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _refuse(f"{what} is not valid UTF-8", member) from None
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise _refuse(f"{what} contains control characters", member)
    # A backslash is a separator on Windows: refusing it keeps every reader's view the same.
    if "\\" in text:
        raise _refuse(f"{what} contains a backslash", member)


def normalise_name(raw: str) -> str:
    """The clean relative path of a member name (``""`` for the root), or a refusal."""
    _check_text(raw, what="member name", member=raw)
    if raw.startswith("/"):
        raise _refuse("member has an absolute path", raw)
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse("member path contains '..'", raw)
    if any(len(part.encode("utf-8")) > NAME_MAX_BYTES for part in parts):
        raise _refuse("member path has a component that is too long", raw)
    path = "/".join(parts)
    if len(path.encode("utf-8")) > PATH_MAX_BYTES:
        raise _refuse("member path is too long", raw)
    return path


def check_symlink_target(path: str, target: str) -> None:
    """Refuse a symlink at ``path`` whose ``target`` could resolve outside the bundle."""
    _check_text(target, what="symlink target", member=path)
    if target.startswith("/"):
        raise _refuse("symlink target is absolute", path)
    parts = [part for part in target.split("/") if part not in ("", ".")]
    climbs = 0
    while climbs < len(parts) and parts[climbs] == "..":
        climbs += 1
    # '..' after a named component could climb out of a directory reached through
    # another link; only leading '..' can be checked without resolving links.
    if ".." in parts[climbs:]:
        raise _refuse("symlink target has '..' after a name", path)
    link_depth = path.count("/")
    if climbs > link_depth:
        raise _refuse("symlink target points outside the bundle", path)


class MemberChecker:
    """Applies the member rules to one archive, member by member, in archive order."""

    def __init__(self, limits: BundleLimits) -> None:
        self._limits = limits
        self._count = 0
        self._unpacked_bytes = 0
        # Every path seen so far, explicit or implied by a deeper member, and what it is.
        self._kinds: dict[str, MemberKind] = {}

    def check(self, info: tarfile.TarInfo) -> Member | None:
        """The checked member, ``None`` for a repeated directory or the root, else refuse."""
        self._count += 1
        if self._count > self._limits.max_members:
            raise InvalidBundle(
                "bundle has too many members",
                member=display_name(info.name),
                max_members=self._limits.max_members,
            )
        path = normalise_name(info.name)
        kind = self._kind_of(info)
        # GNU base-256 headers can encode a negative size, which would shrink the total.
        if info.size < 0:
            raise _refuse("member has a negative size", info.name)
        if not path:
            if kind is MemberKind.DIR:
                return None
            raise _refuse("member has an empty path", info.name)
        if self._kinds.get(path) is MemberKind.DIR and kind is MemberKind.DIR:
            return None
        self._check_place(path, info.name)
        member = self._build(info, path, kind)
        self._record(path, kind)
        return member

    def _kind_of(self, info: tarfile.TarInfo) -> MemberKind:
        if info.type in _FILE_TYPES:
            return MemberKind.FILE
        if info.type == tarfile.DIRTYPE:
            return MemberKind.DIR
        if info.type == tarfile.SYMTYPE:
            return MemberKind.SYMLINK
        if info.type == tarfile.LNKTYPE:
            return MemberKind.HARDLINK
        name = _TYPE_NAMES.get(info.type, f"type {info.type!r}")
        raise _refuse(f"member is a {name}, not a file, directory or link", info.name)

    def _check_place(self, path: str, raw: str) -> None:
        """Refuse a member that would replace another or live below a non-directory."""
        if path in self._kinds:
            raise _refuse("member path appears more than once", raw)
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent_kind = self._kinds.get("/".join(parts[:depth]))
            if parent_kind not in (None, MemberKind.DIR):
                raise _refuse("member is below a file or link", raw)

    def _build(self, info: tarfile.TarInfo, path: str, kind: MemberKind) -> Member:
        if kind is MemberKind.FILE:
            self._unpacked_bytes += info.size
            # Checked on the declared size, before reading a byte of the member.
            if self._unpacked_bytes > self._limits.max_unpacked_bytes:
                raise InvalidBundle(
                    "bundle is too large once unpacked",
                    member=display_name(info.name),
                    max_unpacked_bytes=self._limits.max_unpacked_bytes,
                )
            return Member(path, kind, info.size, executable=bool(info.mode & 0o111))
        if kind is MemberKind.SYMLINK:
            check_symlink_target(path, info.linkname)
            return Member(path, kind, 0, executable=False, link=info.linkname)
        if kind is MemberKind.HARDLINK:
            try:
                origin = normalise_name(info.linkname)
            except InvalidBundle:
                raise _refuse("hard link target is not a valid member name", info.name) from None
            if self._kinds.get(origin) not in (MemberKind.FILE, MemberKind.HARDLINK):
                raise _refuse("hard link does not name an earlier file of the bundle", info.name)
            return Member(path, kind, 0, executable=False, link=origin)
        return Member(path, kind, 0, executable=False)

    def _record(self, path: str, kind: MemberKind) -> None:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            self._kinds.setdefault("/".join(parts[:depth]), MemberKind.DIR)
        self._kinds[path] = kind
