"""Compare any two deploys of a Deployment: code state, DAG files and text diffs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.bundles.blob_store import BlobStore
from tarmac.bundles.manifest import BundleManifest, diff_manifests
from tarmac.deployments.service import get_deployment
from tarmac.deploys.git_metadata import git_of, git_out
from tarmac.deploys.models import BundleRecord, Deploy
from tarmac.deploys.refs import find_deploy
from tarmac.errors import NotFound
from tarmac.insight.dag_ids import dag_id_changes, python_files
from tarmac.insight.file_diff import diff_files, read_files


def compare_deploys(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    from_ref: str,
    to_ref: str,
    blob_store: BlobStore,
) -> dict[str, Any]:
    """What changes going from deploy ``from_ref`` to deploy ``to_ref`` (ids or numbers)."""
    get_deployment(
        session,
        principal=principal,
        deployment_id=deployment_id,
        permission=roles.DEPLOY_REVISIONS_GET,
    )
    a = _deploy(session, deployment_id, from_ref)
    b = _deploy(session, deployment_id, to_ref)
    files = diff_manifests(_manifest(session, a), _manifest(session, b))
    # One pass over each bundle: the changed files (for diffs), and the Python files that
    # leave or arrive (for the DAG ids that disappear or appear).
    leaving = python_files(files.removed)
    arriving = python_files(files.added)
    before = _read(blob_store, a.bundle_sha256, [*files.changed, *leaving])
    after = _read(blob_store, b.bundle_sha256, [*files.changed, *arriving])
    changed_py = python_files(files.changed)
    return {
        "from": _summary(a),
        "to": _summary(b),
        "image": _pair(a.image, b.image),
        "runtime_version": _pair(a.runtime_version, b.runtime_version),
        "airflow_version": _pair(a.airflow_version, b.airflow_version),
        "dag_deploy_enabled": _pair(a.dag_deploy_enabled, b.dag_deploy_enabled),
        "bundle_sha256": _pair(a.bundle_sha256, b.bundle_sha256),
        "git": _pair(_git_json(a), _git_json(b)),
        "dag_files": {
            "added": list(files.added),
            "removed": list(files.removed),
            "changed": list(files.changed),
        },
        "dag_ids": dag_id_changes(
            before={p: before.get(p) for p in [*changed_py, *leaving]},
            after={p: after.get(p) for p in [*changed_py, *arriving]},
        ),
        "file_diffs": [d.to_json() for d in diff_files(files.changed, before=before, after=after)],
    }


def _read(blob_store: BlobStore, sha256: str | None, paths: list[str]) -> dict[str, bytes | None]:
    if sha256 is None or not paths:
        return {}
    return read_files(blob_store.open, sha256, paths)


def _deploy(session: Session, deployment_id: str, ref: str) -> Deploy:
    deploy = find_deploy(session, deployment_id=deployment_id, ref=ref)
    if deploy is None or deploy.deployment_id != deployment_id:
        raise NotFound("no such deploy in this deployment", deploy_id=ref)
    return deploy


def _manifest(session: Session, deploy: Deploy) -> BundleManifest | None:
    if deploy.bundle_sha256 is None:
        return None
    record = session.get(BundleRecord, deploy.bundle_sha256)
    return BundleManifest.from_json(record.manifest) if record is not None else None


def _pair(before: object, after: object) -> dict[str, object]:
    return {"from": before, "to": after, "changed": before != after}


def _summary(deploy: Deploy) -> dict[str, object]:
    return {"id": deploy.id, "seq": deploy.seq, "created_at": deploy.created_at.isoformat()}


def _git_json(deploy: Deploy) -> dict[str, Any] | None:
    out = git_out(git_of(deploy))
    return out.model_dump(mode="json") if out else None
