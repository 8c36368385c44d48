"""Compare what is live on disk with what the records say."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import httpx


def folder_files(root: Path) -> dict[str, bytes]:
    """The files of one tree; ``root``'s link is followed once, so a swap mid-walk is not mixed."""
    tree = Path(os.path.realpath(root))
    found = {}
    for folder, _dirs, files in os.walk(tree, followlinks=True):
        for name in files:
            path = Path(folder) / name
            found[str(path.relative_to(tree))] = path.read_bytes()
    return found


def bundle_files(bundle: bytes) -> dict[str, bytes]:
    files = {}
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                files[member.name] = extracted.read()
    return files


def assert_live_matches_records(
    client: httpx.Client,
    *,
    data_dir: Path,
    deployment: dict[str, Any],
    bundles_by_sha: dict[str, bytes],
) -> dict[str, Any]:
    """Files, runtime spec and records agree on one deploy; returns that deploy."""
    dep = client.get(f"/api/v1/deployments/{deployment['id']}").json()
    current_id = dep["current_deploy_id"]
    assert current_id is not None
    current = client.get(f"/api/v1/deployments/{deployment['id']}/deploys/{current_id}").json()
    assert current["status"] == "DEPLOYED"
    live_dir = data_dir / "deployments" / dep["release_name"]
    spec = json.loads((live_dir / "runtime.json").read_text())
    assert spec["deploy_id"] == current_id
    assert os.path.basename(os.readlink(live_dir / "dags")) == current["bundle_sha256"]
    assert folder_files(live_dir / "dags") == bundle_files(bundles_by_sha[current["bundle_sha256"]])
    return current  # type: ignore[no-any-return]
