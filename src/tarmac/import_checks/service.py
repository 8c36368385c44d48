"""The import gate of one deploy, run before the Deployment is locked (it takes seconds).

What it decides is bound to the bundle and Airflow version it checked: under the lock,
``create_deploy`` refuses to record the deploy if either changed meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.bundles.materialiser import Materialiser
from tarmac.deployments.models import Deployment
from tarmac.deployments.secret_values import decrypted_env
from tarmac.deploys.models import Deploy
from tarmac.errors import PermissionDenied
from tarmac.import_checks.checker import ImportChecker
from tarmac.import_checks.gate import CheckStatus, DagImportCheck, GateResult, decide
from tarmac.import_checks.reports import ImportReport
from tarmac.installation.context import Installation
from tarmac.local_runtime.environments import EnvironmentCache, default_cache_root


@dataclass(frozen=True)
class DeployGate:
    """The gate's verdict on one deploy, and the code it was about."""

    bundle_sha256: str | None
    airflow_version: str
    dags: dict[str, str] | None
    import_check: dict[str, Any]


@dataclass(frozen=True)
class _Target:
    bundle_sha256: str | None
    airflow_version: str
    mode: DagImportCheck
    live: Deploy | None
    # The Deployment's env vars, secrets decrypted: given to the probe, never shown.
    env: dict[str, str] = field(default_factory=dict, repr=False)


def check_override_allowed(principal: Principal, *, deployment_id: str) -> None:
    """``allow_import_errors`` is for System Admins and this Deployment's Admins only."""
    if not principal.has(roles.MEMBERS_UPDATE, deployment_id=deployment_id):
        raise PermissionDenied(
            f"{principal.username} may not override the import check "
            "(allow_import_errors needs the Deployment Admin or System Admin role)",
            field="allow_import_errors",
        )


def gate_deploy(
    installation: Installation,
    *,
    principal: Principal,
    deployment_id: str,
    bundle_sha256: str | None,
    runtime_version: str | None,
    allow_import_errors: bool,
) -> DeployGate:
    """Parse the deploy's DAGs with the target Airflow; raise ``DagImportErrors`` to refuse."""
    if allow_import_errors:
        check_override_allowed(principal, deployment_id=deployment_id)
    with installation.database.session() as session:
        target = _target(
            session,
            deployment_id=deployment_id,
            bundle_sha256=bundle_sha256,
            runtime_version=runtime_version,
            installation=installation,
        )
        live_record = _record_of(target.live)
    live = target.live
    if (
        target.mode is not DagImportCheck.OFF
        and live is not None
        and live_record is not None
        and (live.bundle_sha256, live.airflow_version)
        == (target.bundle_sha256, target.airflow_version)
    ):
        # Same code on the same Airflow (an image-only deploy): what was found still holds.
        return DeployGate(
            bundle_sha256=target.bundle_sha256,
            airflow_version=target.airflow_version,
            dags=live_record[0],
            import_check={**live_record[1], "status": CheckStatus.INHERITED.value},
        )
    checker = import_checker(installation)
    checked = None
    if target.mode is not DagImportCheck.OFF and target.bundle_sha256 is not None:
        checked = checker.check(
            bundle_sha256=target.bundle_sha256,
            airflow_version=target.airflow_version,
            folder=lambda: _unpacked(installation, target.bundle_sha256),
            deployment_env=target.env,
        )
    # The live deploy's errors matter only to tell new errors from known ones: with the
    # check off, skipped, or clean, nothing runs Airflow on the live bundle.
    needs_baseline = isinstance(checked, ImportReport) and bool(checked.errors)
    result = decide(
        mode=target.mode,
        checked=checked,
        baseline=(
            _baseline(installation, checker, live, target.env) if live and needs_baseline else None
        ),
        allow_import_errors=allow_import_errors,
    )
    return _gate(target, result)


def import_checker(installation: Installation) -> ImportChecker:
    settings = installation.settings
    return ImportChecker(
        environments=EnvironmentCache(settings.runtime_env_dir or default_cache_root()),
        results_dir=installation.data_dir / "import-checks",
        build_environments=settings.import_check_build_environments,
        timeout_seconds=settings.import_check_timeout_seconds,
        file_timeout_seconds=settings.import_check_file_timeout_seconds,
    )


def inherited_check(target: Deploy) -> tuple[dict[str, str] | None, dict[str, Any] | None]:
    """A rollback's record: the target's DAGs and check (same bundle, same Airflow)."""
    if target.import_check is None:
        return target.dags, None
    return target.dags, {**target.import_check, "status": CheckStatus.INHERITED.value}


def _target(
    session: Session,
    *,
    deployment_id: str,
    bundle_sha256: str | None,
    runtime_version: str | None,
    installation: Installation,
) -> _Target:
    deployment = session.get(Deployment, deployment_id)
    assert deployment is not None  # the caller read it with the principal's permission
    live = (
        session.get(Deploy, deployment.current_deploy_id) if deployment.current_deploy_id else None
    )
    airflow_version = (
        installation.catalog.get(runtime_version).airflow_version
        if runtime_version
        else deployment.airflow_version
    )
    if live is not None:
        session.expunge(live)
    secrets = installation.secrets
    return _Target(
        bundle_sha256=bundle_sha256 or (live.bundle_sha256 if live else None),
        airflow_version=airflow_version,
        mode=DagImportCheck(deployment.dag_import_check or DagImportCheck.BLOCK.value),
        live=live,
        env=decrypted_env(deployment.env_vars, secrets),
    )


def _record_of(deploy: Deploy | None) -> tuple[dict[str, str] | None, dict[str, Any]] | None:
    if deploy is None or deploy.import_check is None:
        return None
    if deploy.import_check.get("status") in (CheckStatus.SKIPPED.value, CheckStatus.OFF.value):
        return None
    return deploy.dags, deploy.import_check


def _baseline(
    installation: Installation, checker: ImportChecker, live: Deploy, env: dict[str, str]
) -> ImportReport:
    """The live deploy's import errors: as recorded, cached, or checked now without building."""
    recorded = _record_of(live)
    if recorded is not None:
        files = [str(item["file"]) for item in recorded[1].get("errors") or []]
        return ImportReport(airflow_version=live.airflow_version, errors=dict.fromkeys(files, ""))
    if live.bundle_sha256 is None:
        return ImportReport(airflow_version=live.airflow_version)
    sha = live.bundle_sha256
    found = checker.check(
        bundle_sha256=sha,
        airflow_version=live.airflow_version,
        folder=lambda: _unpacked(installation, sha),
        build=False,
        deployment_env=env,
    )
    # Unknown: compare with nothing, so every error of the new deploy counts.
    return found if isinstance(found, ImportReport) else ImportReport(live.airflow_version)


def _unpacked(installation: Installation, bundle_sha256: str | None) -> Path:
    assert bundle_sha256 is not None
    materialiser = Materialiser(installation.data_dir / "bundles")
    return materialiser.ensure_unpacked(
        bundle_sha256,
        open_blob=lambda: installation.blob_store.open(bundle_sha256),
        limits=installation.bundle_limits,
    )


def _gate(target: _Target, result: GateResult) -> DeployGate:
    return DeployGate(
        bundle_sha256=target.bundle_sha256,
        airflow_version=target.airflow_version,
        dags=result.dags,
        import_check=result.to_json(),
    )
