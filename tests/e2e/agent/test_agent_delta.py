"""An agent holding an earlier bundle fetches only the files it lacks, and links the rest."""

from __future__ import annotations

import io
import os
import random
import re
import tarfile
from pathlib import Path

from tests.e2e.agent.agent_process import AgentProcess, agent_token, deploy_dags
from tests.e2e.live_state import bundle_files
from tests.support.process import ServerProcess

FILES = 200


def tree(version: int) -> dict[str, bytes]:
    """200 files of 2 kB; each version changes 20 of the previous version's (10 %)."""
    rng = random.Random(7)
    files = {f"dags/team_{i % 5}/dag_{i:03d}.py": rng.randbytes(2000) for i in range(FILES)}
    for step in range(1, version + 1):
        for i in range(step % 10, FILES, 10):
            files[f"dags/team_{i % 5}/dag_{i:03d}.py"] = rng.randbytes(2000)
    return files


def shown(version: int) -> dict[str, bytes]:
    """What the DAGs folder holds, the symlink read through."""
    files = bundle_files(bundle(version))
    return {**files, "dags/latest.py": files["dags/team_0/dag_000.py"]}


def bundle(version: int) -> bytes:
    """The tree, plus an executable script, a symlink and an empty directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in sorted(tree(version).items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        script = b"#!/bin/sh\necho hi\n"
        info = tarfile.TarInfo("bin/run.sh")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
        link = tarfile.TarInfo("dags/latest.py")
        link.type, link.linkname = tarfile.SYMTYPE, "team_0/dag_000.py"
        tar.addfile(link)
        empty = tarfile.TarInfo("plugins")
        empty.type = tarfile.DIRTYPE
        tar.addfile(empty)
    return buffer.getvalue()


def test_a_ten_percent_change_fetches_ten_percent_of_the_files(
    server: ServerProcess, tmp_path: Path
) -> None:
    client = server.client()
    dep_id = client.post(
        "/api/v1/deployments",
        json={"name": "delta", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
    ).json()["id"]
    v1, v2 = bundle(1), bundle(2)
    first = deploy_dags(client, dep_id, v1)
    agent = AgentProcess(
        server_url=server.url,
        token=agent_token(server, dep_id),
        deployment_id=dep_id,
        root=tmp_path / "agent",
    )
    done = agent.run_once()
    assert done.returncode == 0, done.stderr
    assert agent.files() == shown(1)

    second = deploy_dags(client, dep_id, v2)
    done = agent.run_once()
    assert done.returncode == 0, done.stderr
    assert agent.files() == shown(2)  # every byte, link and file of v2
    fetched = re.search(r"(\d+) of (\d+) files fetched \((\d+) bytes\)", done.stderr)
    assert fetched, done.stderr
    assert (int(fetched[1]), int(fetched[2])) == (20, FILES + 1)  # + the unchanged script
    assert int(fetched[3]) == 20 * 2000

    bundles = agent.dags_folder.parent / ".dags.tarmac-cache" / "bundles"
    old, new = bundles / first["bundle_sha256"], bundles / second["bundle_sha256"]
    unchanged = "dags/team_3/dag_013.py"  # changed by neither version
    assert os.stat(old / unchanged).st_ino == os.stat(new / unchanged).st_ino  # linked
    assert os.access(new / "bin" / "run.sh", os.X_OK)
    assert os.readlink(new / "dags" / "latest.py") == "team_0/dag_000.py"
    assert (new / "plugins").is_dir() and not any((new / "plugins").iterdir())


def test_an_agent_without_earlier_bundles_downloads_the_whole_bundle(
    server: ServerProcess, tmp_path: Path
) -> None:
    client = server.client()
    dep_id = client.post(
        "/api/v1/deployments",
        json={"name": "whole", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
    ).json()["id"]
    deploy_dags(client, dep_id, bundle(1))
    deploy_dags(client, dep_id, bundle(2))
    agent = AgentProcess(
        server_url=server.url,
        token=agent_token(server, dep_id),
        deployment_id=dep_id,
        root=tmp_path / "agent",
    )
    done = agent.run_once()
    assert done.returncode == 0, done.stderr
    assert agent.files() == shown(2)
    assert "files fetched" not in done.stderr
