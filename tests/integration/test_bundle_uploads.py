"""Malicious and broken bundles are refused with invalid_bundle; nothing is stored."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.bundles import make_bundle
from tests.support.reliability_stats import record
from tests.support.server import Api


def _tar(add: Callable[[tarfile.TarFile], None], *, encoding: str = "utf-8") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer,
        mode="w:gz",
        format=tarfile.GNU_FORMAT,
        encoding=encoding,
        errors="surrogateescape",
    ) as tar:
        add(tar)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"x") -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    return add


def _special(name: str, kind: bytes, linkname: str = "") -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        tar.addfile(info)

    return add


def _gzip_bomb() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("bomb.py")
        info.size = 64 * 1024 * 1024
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    return buffer.getvalue()


CORPUS: dict[str, bytes] = {
    "traversal": _tar(_file("../escape.py")),
    "nested traversal": _tar(_file("a/../../escape.py")),
    "absolute path": _tar(_file("/etc/cron.d/evil")),
    "symlink escaping": _tar(_special("link", tarfile.SYMTYPE, "../../etc/passwd")),
    "absolute symlink": _tar(_special("link", tarfile.SYMTYPE, "/etc/passwd")),
    "hard link outside": _tar(_special("hard", tarfile.LNKTYPE, "../outside")),
    "char device": _tar(_special("dev", tarfile.CHRTYPE)),
    "block device": _tar(_special("blk", tarfile.BLKTYPE)),
    "fifo": _tar(_special("pipe", tarfile.FIFOTYPE)),
    "gzip bomb": _gzip_bomb(),
    "truncated": make_bundle({"a.py": os.urandom(50_000).hex()})[:-200],
    "not gzip": b"PK\x03\x04 this is a zip, not a tar.gz",
    "gzip of not a tar": gzip.compress(b"just some text, no tar headers here" * 20),
    "empty upload": b"",
    "invalid utf-8 name": _tar(_file("bad-\udcff-name.py"), encoding="utf-8"),
    "control character in name": _tar(_file("bad\x07name.py")),
}


def _stored_state(api: Api) -> tuple[list[str], int, list[dict[str, object]]]:
    data = Path(api.client.app.state.installation.data_dir)  # type: ignore[attr-defined]
    blobs = sorted(str(p.relative_to(data)) for p in (data / "blobs").rglob("*") if p.is_file())
    unpacked = len(list((data / "bundles").glob("*"))) if (data / "bundles").exists() else 0
    return blobs, unpacked, []


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_bundle_is_refused_and_nothing_is_stored(api: Api, name: str) -> None:
    dep = api.new_deployment()
    api.ok(api.deploy(dep["id"], dags=make_bundle({"ok.py": "print(1)"})), 201)
    before = (
        _stored_state(api),
        api.history(dep["id"]),
        api.get(f"/api/v1/deployments/{dep['id']}").json(),
    )
    response = api.deploy(dep["id"], dags=CORPUS[name])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_bundle"
    assert error["message"]
    after = (
        _stored_state(api),
        api.history(dep["id"]),
        api.get(f"/api/v1/deployments/{dep['id']}").json(),
    )
    assert after == before
    record("hostile_bundle", name=name)


def test_refusal_names_the_member(api: Api) -> None:
    dep = api.new_deployment()
    response = api.deploy(dep["id"], dags=CORPUS["traversal"])
    assert "../escape.py" in response.text


def test_size_limits_are_configurable(database_url: str, tmp_path: Path) -> None:
    from tests.support.server import running_tarmac

    with running_tarmac(
        data_dir=tmp_path / "d", database_url=database_url, max_bundle_members=3
    ) as api:
        dep = api.new_deployment()
        ok = make_bundle({f"{i}.py": "x" for i in range(3)})
        too_many = make_bundle({f"{i}.py": "x" for i in range(4)})
        assert api.deploy(dep["id"], dags=ok).status_code == 201
        response = api.deploy(dep["id"], dags=too_many)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_bundle"


def test_upload_over_the_limit_is_refused_while_streaming(
    database_url: str, tmp_path: Path
) -> None:
    from tests.support.server import running_tarmac

    limit = 64 * 1024
    with running_tarmac(
        data_dir=tmp_path / "d", database_url=database_url, max_bundle_upload_bytes=limit
    ) as api:
        dep = api.new_deployment()
        big = make_bundle({"big.py": os.urandom(3 * 1024 * 1024).hex()})
        response = api.deploy(dep["id"], dags=big)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_bundle"

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            boundary = b"--xyz"
            yield boundary + b'\r\nContent-Disposition: form-data; name="type"\r\n\r\nDAG_ONLY\r\n'
            yield boundary + (
                b'\r\nContent-Disposition: form-data; name="dags"; '
                b'filename="d.tgz"\r\nContent-Type: application/gzip\r\n\r\n'
            )
            for offset in range(0, len(big), 65536):
                yield big[offset : offset + 65536]
            yield b"\r\n" + boundary + b"--\r\n"

        response = api.post(
            f"/api/v1/deployments/{dep['id']}/deploys",
            content=chunked(),
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_bundle"
        assert api.history(dep["id"]) == []
