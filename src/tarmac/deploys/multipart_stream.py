"""Read a deploy's multipart form straight off the request: the bundle into the blob store.

A framework's form parser spools file parts to a temporary file first (often tmpfs, that
is memory) and the blob store would then copy it again. Here the ``dags`` part is handed
to ``BlobStore.stage`` while it arrives, hashed as it is written, in the store's own
directory, and the small text fields are kept in memory with a size cap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from tarmac.bundles.blob_store import BlobStore, StagedBlob
from tarmac.deploys.git_metadata import FORM_FIELDS as GIT_FORM_FIELDS
from tarmac.errors import InvalidRequest

TEXT_FIELDS = frozenset(
    {
        "type",
        "description",
        "image",
        "runtime_version",
        "allow_import_errors",  # tarmac.import_checks: an admin overrides the gate
        "clear_hold",  # tarmac.safe_ops: waive the hold a rollback left
        "freeze_override_reason",  # tarmac.safe_ops: an admin deploys inside a freeze window
        *GIT_FORM_FIELDS,  # tarmac.deploys.git_metadata: the commit the code comes from
    }
)
FILE_FIELD = "dags"
MAX_TEXT_FIELD_BYTES = 16 * 1024

NextChunk = Callable[[], bytes | None]
"""The next piece of the request body, or None at its end."""


@dataclass
class DeployForm:
    """The text fields of a deploy request, and its staged (not yet stored) bundle."""

    fields: dict[str, str]
    staged: StagedBlob | None


@dataclass
class _Parts:
    fields: dict[str, str] = field(default_factory=dict)
    pending_file_data: list[bytes] = field(default_factory=list)
    saw_file: bool = False
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    is_file: bool = False
    text: bytearray = field(default_factory=bytearray)

    def begin(self) -> None:
        self.headers.clear()
        self.name, self.is_file = None, False
        self.text.clear()

    def header_end(self) -> None:
        self.headers[bytes(self.header_name).lower()] = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def headers_finished(self) -> None:
        _disposition, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name == FILE_FIELD:
            if self.saw_file:
                raise InvalidRequest("send one dags bundle per deploy", field=FILE_FIELD)
            self.saw_file = self.is_file = True
        elif name not in TEXT_FIELDS:
            raise InvalidRequest(f"unknown form field {name[:100]!r}", field=name[:100])
        elif name in self.fields:
            raise InvalidRequest(f"form field {name!r} is given twice", field=name)
        self.name = name

    def data(self, chunk: bytes) -> None:
        if self.is_file:
            self.pending_file_data.append(chunk)
            return
        self.text += chunk
        if len(self.text) > MAX_TEXT_FIELD_BYTES:
            raise InvalidRequest(f"form field {self.name!r} is too long", field=self.name)

    def end(self) -> None:
        if self.is_file or self.name is None:
            return
        try:
            self.fields[self.name] = self.text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(
                f"form field {self.name!r} is not UTF-8", field=self.name
            ) from None

    def drain(self) -> Iterator[bytes]:
        while self.pending_file_data:
            yield self.pending_file_data.pop(0)


def read_deploy_form(
    next_chunk: NextChunk, *, content_type: str, blob_store: BlobStore, max_bytes: int
) -> DeployForm:
    """Parse the body as it arrives; the bundle is staged in ``blob_store``, not stored."""
    mime, params = parse_options_header(content_type)
    if mime == b"application/x-www-form-urlencoded":
        return DeployForm(fields=_urlencoded_fields(next_chunk), staged=None)
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise InvalidRequest("send a deploy as multipart/form-data (fields and a dags file)")
    parts = _Parts()
    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": parts.begin,
            "on_header_field": lambda d, s, e: parts.header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: parts.header_value.extend(d[s:e]),
            "on_header_end": parts.header_end,
            "on_headers_finished": parts.headers_finished,
            "on_part_data": lambda d, s, e: parts.data(bytes(d[s:e])),
            "on_part_end": parts.end,
        },
    )

    def file_data() -> Iterator[bytes]:
        try:
            while (chunk := next_chunk()) is not None:
                parser.write(chunk)
                yield from parts.drain()
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidRequest(f"the multipart body is malformed: {exc}") from None
        # The parser does not check that the body ended where it should: a body cut off
        # before its closing boundary would otherwise count as a complete form.
        if parser.state != MultipartState.END:
            raise InvalidRequest("the multipart body ends before its closing boundary")
        yield from parts.drain()

    staged = blob_store.stage(file_data(), max_bytes=max_bytes)
    if not parts.saw_file:
        staged.discard()
        return DeployForm(fields=parts.fields, staged=None)
    return DeployForm(fields=parts.fields, staged=staged)


def _urlencoded_fields(next_chunk: NextChunk) -> dict[str, str]:
    """An image-only deploy may come as a plain form (no file, so no multipart)."""
    body = bytearray()
    while (chunk := next_chunk()) is not None:
        body += chunk
        if len(body) > MAX_TEXT_FIELD_BYTES * len(TEXT_FIELDS):
            raise InvalidRequest("the form is too long")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidRequest("the form is not UTF-8") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name == FILE_FIELD:
            raise InvalidRequest("send the dags bundle as a file, in multipart/form-data")
        if name not in TEXT_FIELDS:
            raise InvalidRequest(f"unknown form field {name[:100]!r}", field=name[:100])
        if name in fields:
            raise InvalidRequest(f"form field {name!r} is given twice", field=name)
        fields[name] = value
    return fields
