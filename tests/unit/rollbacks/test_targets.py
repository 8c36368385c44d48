"""Which history rows can be rollback targets: the rollback policy asked once per row."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tarmac.installation.flags import InstallationFlags
from tarmac.rollbacks.facts import DeployFacts, DeploymentFacts
from tarmac.rollbacks.targets import HistoryTargets, check_targets
from tarmac.runtimes.catalog import load_runtime_catalog

CATALOG = load_runtime_catalog()
NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
FLAGS = InstallationFlags(
    deploy_rollback_enabled=True,
    update_deployment_image_endpoint_enabled=True,
    dag_only_deployment_enabled=True,
)
EDITOR = frozenset({"deployment.images.push"})
DEPLOYMENT = DeploymentFacts(
    id="dpl",
    name="etl",
    description=None,
    executor="CeleryExecutor",
    resources={},
    env_var_keys=(),
    dag_deploy_mode="dag_deploy",
    rollback_enabled=True,
    runtime_version="12.4.0",
)


def deploy(seq: int, *, runtime: str = "12.4.0", days: int = 1) -> DeployFacts:
    return DeployFacts(
        id=f"d{seq}",
        deployment_id="dpl",
        seq=seq,
        image=f"img:{seq}",
        runtime_version=runtime,
        airflow_version=CATALOG.get(runtime).airflow_version,
        dag_deploy_enabled=True,
        bundle_sha256=None,
        created_at=NOW - timedelta(days=days),
    )


def check(
    rows: list[DeployFacts],
    *,
    deployment: DeploymentFacts = DEPLOYMENT,
    flags: InstallationFlags = FLAGS,
    permissions: frozenset[str] = EDITOR,
) -> HistoryTargets:
    return check_targets(
        deployment=deployment,
        targets=rows,
        live=rows[0],
        flags=flags,
        permissions=permissions,
        catalog=CATALOG,
        now=NOW,
    )


def codes(targets: HistoryTargets, deploy_id: str) -> list[str]:
    return [r.code for r in targets.rows[deploy_id].refusals]


def test_each_row_gets_its_own_reasons() -> None:
    rows = [deploy(4), deploy(3, days=100), deploy(2, runtime="4.4.0"), deploy(1)]
    targets = check(rows)
    assert targets.deployment_refusals == ()
    assert codes(targets, "d4") == ["already_current"]
    assert codes(targets, "d3") == ["deploy_too_old"]
    assert codes(targets, "d2") == ["runtime_unsupported"]
    assert codes(targets, "d1") == []
    assert [targets.can_target(r.id) for r in rows] == [False, False, False, True]


def test_deployment_wide_refusals_are_reported_once_and_block_every_row() -> None:
    off = replace(DEPLOYMENT, rollback_enabled=False)
    targets = check([deploy(2), deploy(1)], deployment=off, permissions=frozenset())
    assert [r.code for r in targets.deployment_refusals] == [
        "permission_denied",
        "rollback_not_enabled",
    ]
    assert codes(targets, "d1") == []
    assert not targets.can_target("d1")
    assert not targets.only_blocked_by(frozenset({"rollback_not_enabled"}))


def test_only_the_toggle_blocks() -> None:
    off = replace(DEPLOYMENT, rollback_enabled=False)
    targets = check([deploy(2), deploy(1)], deployment=off)
    assert targets.only_blocked_by(frozenset({"rollback_not_enabled"}))


def test_installation_flags_and_mechanism_are_deployment_wide() -> None:
    nfs = replace(DEPLOYMENT, dag_deploy_mode="nfs")
    targets = check([deploy(2), deploy(1)], deployment=nfs, flags=InstallationFlags())
    assert {r.code for r in targets.deployment_refusals} == {
        "rollback_disabled",
        "deploy_mechanism_unsupported",
    }


def test_a_current_runtime_below_5_is_deployment_wide() -> None:
    old = replace(DEPLOYMENT, runtime_version="4.4.0")
    rows = [deploy(2, runtime="4.4.0"), deploy(1, runtime="4.3.0")]
    targets = check(rows, deployment=old)
    assert [r.code for r in targets.deployment_refusals] == ["runtime_unsupported"]
    assert codes(targets, "d1") == ["runtime_unsupported"]  # the target side too
