"""A deploy body cut off before its closing boundary is refused; blobs are never shared-cached."""

from __future__ import annotations

import pytest

from tests.integration.test_bundle_uploads import _stored_state
from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api

BOUNDARY = "tarmacboundary"


def _multipart(bundle: bytes) -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="type"\r\n\r\nDAG_ONLY\r\n'
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="dags"; filename="dags.tar.gz"\r\n'
        "Content-Type: application/gzip\r\n\r\n"
    ).encode() + bundle


@pytest.mark.parametrize(
    "ending",
    ["", "\r\n", f"\r\n--{BOUNDARY}", f"\r\n--{BOUNDARY}-"],
    ids=["no boundary", "crlf only", "boundary without dashes", "one dash"],
)
def test_a_body_without_its_closing_boundary_is_refused(api: Api, ending: str) -> None:
    dep = api.new_deployment()
    bundle = make_bundle({"a.py": dag_file("a")})
    before = (_stored_state(api), api.history(dep["id"]))
    response = api.post(
        f"/api/v1/deployments/{dep['id']}/deploys",
        content=_multipart(bundle) + ending.encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert (_stored_state(api), api.history(dep["id"])) == before


def test_the_same_body_with_its_closing_boundary_is_a_deploy(api: Api) -> None:
    dep = api.new_deployment()
    body = _multipart(make_bundle({"a.py": dag_file("a")})) + f"\r\n--{BOUNDARY}--\r\n".encode()
    response = api.post(
        f"/api/v1/deployments/{dep['id']}/deploys",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 201, response.text


def test_blob_downloads_are_private_to_the_caller(api: Api) -> None:
    dep = api.new_deployment()
    deploy = api.ok(api.deploy(dep["id"], dags=make_bundle({"a.py": dag_file("a")})), 201)
    response = api.get(f"/api/v1/blobs/{deploy['bundle_sha256']}")
    assert response.status_code == 200
    directives = {d.strip() for d in response.headers["cache-control"].split(",")}
    assert "private" in directives and "immutable" in directives
    assert "public" not in directives
