"""A bundle's tree and its files by digest: what agents fetch instead of whole bundles."""

from __future__ import annotations

import hashlib

from tests.support.bundles import make_bundle
from tests.support.server import Api

FILES = {"dags/a.py": "a = 1\n", "dags/b.py": "b = 2\n", "dags/copy_of_a.py": "a = 1\n"}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def deployed(api: Api) -> tuple[dict[str, object], str]:
    deployment = api.new_deployment()
    deploy = api.ok(api.deploy(deployment["id"], dags=make_bundle(dict(FILES))), 201)
    return deployment, deploy["bundle_sha256"]


def test_the_tree_lists_every_file_with_its_digest(api: Api) -> None:
    _deployment, sha = deployed(api)
    tree = api.ok(api.get(f"/api/v1/blobs/{sha}/tree"))
    files = {e["path"]: e for e in tree["entries"] if e["type"] == "file"}
    assert {p: e["sha256"] for p, e in files.items()} == {p: digest(t) for p, t in FILES.items()}
    assert {"path": "dags", "type": "dir"} in tree["entries"]
    assert all(e["executable"] is False and e["size"] == 6 for e in files.values())


def test_files_come_back_to_back_in_the_order_asked(api: Api) -> None:
    _deployment, sha = deployed(api)
    wanted = [digest("b = 2\n"), digest("a = 1\n"), digest("b = 2\n")]
    response = api.post(f"/api/v1/blobs/{sha}/files", json={"sha256": wanted})
    assert response.status_code == 200, response.text
    assert response.content == b"b = 2\na = 1\nb = 2\n"


def test_a_digest_the_bundle_lacks_is_not_found_and_sends_nothing(api: Api) -> None:
    _deployment, sha = deployed(api)
    response = api.post(f"/api/v1/blobs/{sha}/files", json={"sha256": [digest("nope\n")]})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    too_many = {"sha256": [digest("a = 1\n")] * 4}
    response = api.post(f"/api/v1/blobs/{sha}/files", json=too_many)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_callers_who_may_not_read_the_bundle_see_nothing(api: Api) -> None:
    _deployment, sha = deployed(api)
    _user, stranger = api.new_user("stranger")
    assert stranger.get(f"/api/v1/blobs/{sha}/tree").status_code == 404
    response = stranger.post(f"/api/v1/blobs/{sha}/files", json={"sha256": [digest("a = 1\n")]})
    assert response.status_code == 404
    assert api.get(f"/api/v1/blobs/{'0' * 64}/tree").status_code == 404


def test_an_agent_may_ask_for_a_thousand_files_in_one_request(api: Api) -> None:
    """A delta names every file it lacks; a body limit sized for small JSON refused any
    delta of more than about 120 files, and the agent fell back to the whole bundle."""
    many = {f"dags/module_{n:04d}.py": f"n = {n}\n" for n in range(1000)}
    deployment = api.new_deployment()
    sha = api.ok(api.deploy(deployment["id"], dags=make_bundle(many)), 201)["bundle_sha256"]
    wanted = [digest(text) for text in many.values()]
    response = api.post(f"/api/v1/blobs/{sha}/files", json={"sha256": wanted})
    assert response.status_code == 200, response.text
    assert response.content == "".join(many.values()).encode()
