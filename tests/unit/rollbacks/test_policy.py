"""The rollback policy, rule by rule (DESIGN §3, §4): pure facts in, plan or refusals out."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tarmac.bundles.manifest import BundleManifest, ManifestEntry
from tarmac.errors import AcknowledgementRequired, PermissionDenied, RollbackDisabled
from tarmac.installation.flags import InstallationFlags
from tarmac.rollbacks.facts import DeployFacts, DeploymentFacts
from tarmac.rollbacks.policy import RollbackDecision, decide_rollback, raise_first_refusal
from tarmac.runtimes.catalog import load_runtime_catalog

CATALOG = load_runtime_catalog()
NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
FLAGS_ON = InstallationFlags(
    deploy_rollback_enabled=True,
    update_deployment_image_endpoint_enabled=True,
    dag_only_deployment_enabled=True,
    cleanup_enabled=True,
    cleanup_older_than_days=90,
)
EDITOR = frozenset({"deployment.images.read", "deployment.images.push"})
SYSTEM_ADMIN = frozenset({"system.deployments.images.push"})
VIEWER = frozenset({"deployment.images.read"})

DEPLOYMENT = DeploymentFacts(
    id="dpl-1",
    name="etl-prod",
    description="Nightly ETL",
    executor="CeleryExecutor",
    resources={"scheduler": {"cpu": 1, "memory_mb": 2048}, "workers": {"replicas": 3}},
    env_var_keys=("AWS_REGION", "SLACK_TOKEN"),
    dag_deploy_mode="dag_deploy",
    rollback_enabled=True,
    runtime_version="12.4.0",
)


def deploy(
    seq: int, *, runtime: str = "12.4.0", age: timedelta = timedelta(days=1), **kw: Any
) -> DeployFacts:
    known = CATALOG.find(runtime)
    fields: dict[str, Any] = {
        "id": f"dep-{seq}",
        "deployment_id": DEPLOYMENT.id,
        "seq": seq,
        "image": f"registry.local/etl-prod:v{seq}",
        "runtime_version": runtime,
        "airflow_version": known.airflow_version if known else "9.9.9",
        "dag_deploy_enabled": True,
        "bundle_sha256": f"{seq:064x}",
        "created_at": NOW - age,
    }
    fields.update(kw)
    return DeployFacts(**fields)


LIVE = deploy(5)
TARGET = deploy(3, age=timedelta(days=10))


def decide(**overrides: Any) -> RollbackDecision:
    args: dict[str, Any] = {
        "deployment": DEPLOYMENT,
        "target": TARGET,
        "live": LIVE,
        "flags": FLAGS_ON,
        "permissions": EDITOR,
        "catalog": CATALOG,
        "now": NOW,
        "description": "dag bar broke after deploy 5",
        "acknowledged": frozenset(),
        "dry_run": False,
        "target_manifest": None,
        "live_manifest": None,
    }
    args.update(overrides)
    return decide_rollback(**args)


def codes(decision: RollbackDecision) -> list[str]:
    return [refusal.code for refusal in decision.refusals]


def manifest(**files: str) -> BundleManifest:
    """Files by name (dots as underscores) → content tag, digested as a fake sha256."""
    return BundleManifest(
        entries=tuple(
            ManifestEntry(path=f"dags/{name.replace('_py', '.py')}", size=1, sha256=tag * 64)
            for name, tag in files.items()
        )
    )


def test_baseline_rollback_is_allowed() -> None:
    decision = decide()
    assert decision.allowed, decision.refusals
    assert decision.plan is not None
    # Only the note on DAG runs in flight (the DAG bundle changes); nothing to acknowledge.
    assert [w.code for w in decision.plan.warnings] == ["runs_in_flight"]
    assert decision.plan.required_acknowledgements == ()


# Rule 1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("permissions", "allowed"),
    [
        (VIEWER, False),
        (frozenset(), False),
        (frozenset({"deployment.images.push"}), True),
        (EDITOR, True),
        (SYSTEM_ADMIN, True),
    ],
    ids=["viewer", "nobody", "push-only", "editor", "system-admin"],
)
def test_rule_01_needs_images_push_permission(permissions: frozenset[str], allowed: bool) -> None:
    decision = decide(permissions=permissions)
    assert decision.allowed is allowed
    assert codes(decision) == ([] if allowed else ["permission_denied"])


# Rule 2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "values_key"),
    [
        ("deploy_rollback_enabled", "global.deployRollbackEnabled"),
        (
            "update_deployment_image_endpoint_enabled",
            "astronomer.houston.config.deployments.enableUpdateDeploymentImageEndpoint",
        ),
        ("dag_only_deployment_enabled", "global.dagOnlyDeployment.enabled"),
    ],
)
def test_rule_02_each_installation_flag_off_disables_rollbacks(flag: str, values_key: str) -> None:
    decision = decide(flags=replace(FLAGS_ON, **{flag: False}))
    assert codes(decision) == ["rollback_disabled"]
    refusal = decision.refusals[0]
    assert refusal.details["missing_flags"] == [values_key]
    assert values_key in refusal.message


def test_rule_02_cleanup_flag_is_not_needed_for_rollbacks() -> None:
    assert decide(flags=replace(FLAGS_ON, cleanup_enabled=False)).allowed


def test_rule_02_default_installation_names_every_missing_key() -> None:
    decision = decide(flags=InstallationFlags())
    assert codes(decision) == ["rollback_disabled"]
    assert len(decision.refusals[0].details["missing_flags"]) == 3


# Rule 3 ---------------------------------------------------------------------------------


def test_rule_03_deployment_toggle_off_refuses() -> None:
    decision = decide(deployment=replace(DEPLOYMENT, rollback_enabled=False))
    assert codes(decision) == ["rollback_not_enabled"]


# Rule 4 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "older_than", "pinned", "too_old"),
    [
        (timedelta(days=89), 90, False, False),
        (timedelta(days=90) - timedelta(seconds=1), 90, False, False),
        (timedelta(days=90), 90, False, True),
        (timedelta(days=400), 90, False, True),
        (timedelta(days=400), 90, True, False),
        (timedelta(0), 0, False, True),
        (timedelta(days=5), 0, True, False),
        (timedelta(days=29), 30, False, False),
        (timedelta(days=31), 30, False, True),
    ],
    ids=[
        "89d",
        "90d-1s",
        "90d",
        "400d",
        "400d-pinned",
        "olderThan0",
        "olderThan0-pinned",
        "29of30",
        "31of30",
    ],
)
def test_rule_04_target_must_be_younger_than_older_than_days(
    age: timedelta, older_than: int, pinned: bool, too_old: bool
) -> None:
    target = deploy(3, age=age, pinned=pinned)
    decision = decide(target=target, flags=replace(FLAGS_ON, cleanup_older_than_days=older_than))
    assert codes(decision) == (["deploy_too_old"] if too_old else [])


def test_rule_04_default_flags_allow_90_days() -> None:
    assert InstallationFlags().cleanup_older_than_days == 90


# Rule 5 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "sides"),
    [
        ("4.4.0", "12.4.0", ["current"]),
        ("12.4.0", "4.4.0", ["target"]),
        ("4.0.0", "4.4.0", ["current", "target"]),
        ("12.4.0", "99.0.0", ["target"]),
        ("5.0.0", "12.4.0", []),
        ("12.4.0", "5.0.0", []),
    ],
)
def test_rule_05_both_runtimes_must_be_5_0_0_or_later(
    current: str, target: str, sides: list[str]
) -> None:
    decision = decide(
        deployment=replace(DEPLOYMENT, runtime_version=current),
        live=deploy(5, runtime=current),
        target=deploy(3, runtime=target),
        acknowledged=frozenset({"data_loss"}),
    )
    if not sides:
        assert decision.allowed, decision.refusals
        return
    assert codes(decision) == ["runtime_unsupported"]
    refusal = decision.refusals[0]
    assert refusal.details["sides"] == sides
    for side in sides:
        assert f"the {side} runtime" in refusal.message


def test_rule_05_plan_is_still_shown_for_a_known_old_runtime() -> None:
    decision = decide(target=deploy(3, runtime="4.4.0"))
    assert decision.plan is not None
    assert decision.plan.runtime_direction == "downgrade"
    assert codes(decision)[0] == "runtime_unsupported"


# Rule 6 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "allowed"),
    [("image", True), ("dag_deploy", True), ("nfs", False), ("git_sync", False)],
)
def test_rule_06_only_image_and_dag_deploy_modes_roll_back(mode: str, allowed: bool) -> None:
    decision = decide(deployment=replace(DEPLOYMENT, dag_deploy_mode=mode))
    assert codes(decision) == ([] if allowed else ["deploy_mechanism_unsupported"])


# Rule 7 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("description", [None, "", "   ", "\n\t "])
def test_rule_07_description_is_required(description: str | None) -> None:
    decision = decide(description=description)
    assert codes(decision) == ["description_required"]
    assert decision.description is None


def test_rule_07_description_is_trimmed() -> None:
    decision = decide(description="  scheduler crash loop \n")
    assert decision.allowed
    assert decision.description == "scheduler crash loop"


def test_rule_07_description_up_to_500_characters_after_trimming() -> None:
    assert decide(description="  " + "x" * 500 + "  ").allowed
    decision = decide(description="x" * 501)
    assert codes(decision) == ["invalid_request"]
    assert decision.refusals[0].details["field"] == "description"


def test_rule_07_dry_run_needs_no_description() -> None:
    decision = decide(description=None, dry_run=True)
    assert decision.allowed
    assert decision.plan is not None


# Rule 8 ---------------------------------------------------------------------------------


def test_rule_08_plan_rolls_back_code_runtime_and_dag_setting_and_keeps_settings() -> None:
    target = deploy(
        3, runtime="12.1.0", image="registry.local/etl-prod:v3", dag_deploy_enabled=False
    )
    decision = decide(target=target, dry_run=True)
    assert decision.plan is not None
    plan = decision.plan.to_json()
    assert json.loads(json.dumps(plan)) == plan  # JSON-safe
    assert plan["target_deploy_id"] == "dep-3"
    assert plan["target_seq"] == 3
    assert plan["live_deploy_id"] == "dep-5"
    assert plan["live_seq"] == 5
    rolled_back = plan["rolled_back"]
    assert rolled_back["image"] == {
        "from": "registry.local/etl-prod:v5",
        "to": "registry.local/etl-prod:v3",
        "changed": True,
    }
    assert rolled_back["runtime_version"] == {
        "from": "12.4.0",
        "to": "12.1.0",
        "direction": "downgrade",
    }
    assert rolled_back["airflow_version"] == {"from": "2.10.4", "to": "2.10.1"}
    assert rolled_back["dag_deploy_enabled"] == {"from": True, "to": False, "changed": True}
    assert rolled_back["bundle_sha256"]["changed"] is True
    assert plan["kept"] == {
        "name": "etl-prod",
        "description": "Nightly ETL",
        "executor": "CeleryExecutor",
        "resources": {"scheduler": {"cpu": 1, "memory_mb": 2048}, "workers": {"replicas": 3}},
        "env_var_keys": ["AWS_REGION", "SLACK_TOKEN"],
        "other_settings": plan["kept"]["other_settings"],
    }
    assert isinstance(plan["kept"]["other_settings"], str)
    assert "runtime 12.4.0 -> 12.1.0 (downgrade)" in plan["summary"]
    assert "\n" not in plan["summary"]


def test_rule_08_plan_without_live_deploy_starts_from_the_deployment() -> None:
    decision = decide(live=None)
    assert decision.allowed
    assert decision.plan is not None
    rolled_back = decision.plan.to_json()["rolled_back"]
    assert decision.plan.live_deploy_id is None
    assert rolled_back["runtime_version"] == {"from": "12.4.0", "to": "12.4.0", "direction": "none"}
    assert rolled_back["image"]["from"] is None


def test_rule_08_dag_file_diff_lists_added_removed_and_changed() -> None:
    live_manifest = manifest(etl_py="a", report_py="b", old_py="c")
    target_manifest = manifest(etl_py="a", report_py="d", new_py="e")
    decision = decide(live_manifest=live_manifest, target_manifest=target_manifest)
    assert decision.plan is not None
    assert decision.plan.to_json()["rolled_back"]["dag_files"] == {
        "added": ["dags/new.py"],
        "removed": ["dags/old.py"],
        "changed": ["dags/report.py"],
    }


def test_rule_08_same_bundle_has_no_dag_file_changes() -> None:
    target = deploy(3, bundle_sha256=LIVE.bundle_sha256)
    decision = decide(target=target, live_manifest=manifest(a_py="a"), target_manifest=None)
    assert decision.plan is not None
    assert decision.plan.dag_files.is_empty


def test_rule_08_target_with_live_code_state_is_already_current() -> None:
    same_code = deploy(3, image=LIVE.image, bundle_sha256=LIVE.bundle_sha256)
    assert codes(decide(target=same_code)) == ["already_current"]
    assert codes(decide(target=LIVE)) == ["already_current"]


# Rule 9 ---------------------------------------------------------------------------------


def test_rule_09_any_deploy_in_history_can_be_the_target() -> None:
    # After rolling back 5 -> 3 (new deploy 6 with deploy 3's code), deploy 5 is still there.
    rollback_deploy = deploy(6, image=TARGET.image, bundle_sha256=TARGET.bundle_sha256)
    decision = decide(live=rollback_deploy, target=LIVE)
    assert decision.allowed
    assert decision.plan is not None
    assert (decision.plan.live_seq, decision.plan.target_seq) == (6, 5)
    assert decision.plan.image.before == TARGET.image


# Rule 10 --------------------------------------------------------------------------------


def test_rule_10_restricted_runtime_warns_with_reason_and_needs_acknowledgement() -> None:
    live = deploy(5, runtime="7.6.0")
    target = deploy(3, runtime="8.0.0")
    decision = decide(
        deployment=replace(DEPLOYMENT, runtime_version="7.6.0"), live=live, target=target
    )
    assert codes(decision) == ["acknowledgement_required"]
    assert decision.plan is not None
    warning, in_flight = decision.plan.to_json()["warnings"]
    assert in_flight["code"] == "runs_in_flight"
    assert warning["code"] == "restricted_runtime"
    assert warning["requires_acknowledgement"] is True
    assert warning["runtime_version"] == "8.0.0"
    assert warning["reason"] == "Cluster policies defined through pluggy are not applied."
    assert warning["message"] == (
        "Runtime 8.0.0 is restricted: Cluster policies defined through pluggy are not applied."
        " Restricted runtime versions can include major bugs and performance issues."
    )
    acknowledged = decide(
        deployment=replace(DEPLOYMENT, runtime_version="7.6.0"),
        live=live,
        target=target,
        acknowledged=frozenset({"restricted_runtime"}),
    )
    assert acknowledged.allowed


# Rule 11 --------------------------------------------------------------------------------


def _downgrade_from_airflow_3(**overrides: Any) -> RollbackDecision:
    return decide(
        deployment=replace(DEPLOYMENT, runtime_version="3.1-1"),
        live=deploy(5, runtime="3.1-1"),
        target=deploy(3, runtime="12.4.0"),
        **overrides,
    )


def test_rule_11_downgrade_lists_the_tables_whose_data_is_erased() -> None:
    decision = _downgrade_from_airflow_3()
    assert decision.plan is not None
    warnings = {w["code"]: w for w in decision.plan.to_json()["warnings"]}
    data_loss = warnings["data_loss"]
    assert data_loss["requires_acknowledgement"] is True
    assert (data_loss["from_airflow"], data_loss["to_airflow"]) == ("3.1.0", "2.10.4")
    tables = {t["name"]: t["columns"] for t in data_loss["tables"]}
    assert "dag_version" in tables
    assert tables["dag_version"]
    assert "dag_version" in data_loss["message"]
    assert "cannot be recovered" in data_loss["message"]
    assert all(set(c) == {"table", "column"} for c in data_loss["columns"])
    assert warnings["running_tasks"] == {
        "code": "running_tasks",
        "message": "Tasks running during the downgrade fail and are retried.",
        "requires_acknowledgement": False,
    }
    assert decision.plan.required_acknowledgements == ("data_loss",)


def test_rule_11_renamed_asset_tables_are_kept_not_counted_as_erased() -> None:
    """Airflow's downgrade renames asset tables back to dataset: rows kept, not lost."""
    facts = {
        "dialect": "sqlite",
        "row_counts": {"asset_event": 4, "asset": 1, "backfill": 1, "backfill_dag_run": 3},
        "measured_at": "2026-11-30T07:00:00+00:00",
    }
    decision = decide(
        deployment=replace(DEPLOYMENT, runtime_version="3.1-1", metadata_facts=facts),
        live=deploy(5, runtime="3.1-1"),
        target=deploy(3, runtime="12.4.0"),
    )
    assert decision.plan is not None
    data_loss = {w["code"]: w for w in decision.plan.to_json()["warnings"]}["data_loss"]
    assert data_loss["row_counts"] == {"backfill": 1, "backfill_dag_run": 3}
    renamed = {r["name"]: r["renamed_to"] for r in data_loss["renamed_tables"]}
    assert renamed["asset_event"] == "dataset_event"
    assert "asset_event" not in {t["name"] for t in data_loss["tables"]}
    assert "asset_event as dataset_event" in data_loss["message"]


def test_rule_11_downgrade_needs_exactly_its_acknowledgements() -> None:
    assert codes(_downgrade_from_airflow_3()) == ["acknowledgement_required"]
    refusal = _downgrade_from_airflow_3().refusals[0]
    assert refusal.details["missing_acknowledgements"] == ["data_loss"]
    assert codes(_downgrade_from_airflow_3(acknowledged=frozenset({"restricted_runtime"}))) == [
        "acknowledgement_required"
    ]
    assert _downgrade_from_airflow_3(acknowledged=frozenset({"data_loss"})).allowed


def test_rule_11_downgrade_within_one_minor_still_needs_acknowledgement() -> None:
    decision = decide(target=deploy(3, runtime="12.1.0"))
    assert codes(decision) == ["acknowledgement_required"]
    assert decision.plan is not None
    data_loss = decision.plan.to_json()["warnings"][0]
    assert data_loss["code"] == "data_loss"
    assert (data_loss["tables"], data_loss["columns"]) == ([], [])
    assert "patch-level migrations" in data_loss["message"]


def test_rule_11_upgrade_has_no_data_loss() -> None:
    decision = decide(target=deploy(3, runtime="3.1-1"))
    assert decision.allowed
    assert decision.plan is not None
    assert decision.plan.runtime_direction == "upgrade"
    assert [w.code for w in decision.plan.warnings] == ["runs_in_flight"]


def test_rule_11_dry_run_shows_warnings_without_asking_for_acknowledgement() -> None:
    decision = _downgrade_from_airflow_3(dry_run=True)
    assert decision.allowed
    assert decision.plan is not None
    assert decision.plan.to_json()["required_acknowledgements"] == ["data_loss"]


def test_restricted_downgrade_needs_both_acknowledgements() -> None:
    deployment = replace(DEPLOYMENT, runtime_version="9.7.0")
    args: dict[str, Any] = {
        "deployment": deployment,
        "live": deploy(5, runtime="9.7.0"),
        "target": deploy(3, runtime="9.1.0"),
    }
    refusal = decide(**args, acknowledged=frozenset({"data_loss"})).refusals[0]
    assert refusal.details["missing_acknowledgements"] == ["restricted_runtime"]
    assert decide(**args, acknowledged=frozenset({"data_loss", "restricted_runtime"})).allowed


def test_unknown_acknowledgement_code_is_invalid() -> None:
    decision = decide(acknowledged=frozenset({"data_loss", "yolo"}))
    assert codes(decision) == ["invalid_request"]
    assert decision.refusals[0].details["unknown"] == ["yolo"]


# Priority, not_found and raising ------------------------------------------------------------


def test_refusals_are_all_listed_in_priority_order() -> None:
    deployment = replace(
        DEPLOYMENT, rollback_enabled=False, dag_deploy_mode="nfs", runtime_version="4.4.0"
    )
    live = deploy(5, runtime="4.4.0")
    target = replace(live, id="dep-3", seq=3, created_at=NOW - timedelta(days=200))
    decision = decide(
        deployment=deployment,
        live=live,
        target=target,
        permissions=VIEWER,
        flags=replace(FLAGS_ON, deploy_rollback_enabled=False),
        description=" ",
    )
    assert codes(decision) == [
        "permission_denied",
        "rollback_disabled",
        "rollback_not_enabled",
        "deploy_mechanism_unsupported",
        "deploy_too_old",
        "runtime_unsupported",
        "description_required",
        "already_current",
    ]


def test_acknowledgement_comes_after_other_refusals() -> None:
    assert codes(_downgrade_from_airflow_3(description=None)) == [
        "description_required",
        "acknowledgement_required",
    ]


def test_target_of_another_deployment_is_not_found() -> None:
    decision = decide(target=replace(TARGET, deployment_id="dpl-other"), permissions=VIEWER)
    assert codes(decision) == ["not_found"]
    assert decision.plan is None


def test_raise_first_refusal_raises_its_error_with_all_refusals() -> None:
    raise_first_refusal(decide())  # nothing to raise
    decision = decide(permissions=VIEWER, flags=InstallationFlags())
    with pytest.raises(PermissionDenied) as caught:
        raise_first_refusal(decision)
    listed = caught.value.details["refusals"]
    assert [r["code"] for r in listed] == ["permission_denied", "rollback_disabled"]
    with pytest.raises(RollbackDisabled):
        raise_first_refusal(decide(flags=InstallationFlags()))


def test_raise_acknowledgement_required_carries_plan_and_warnings() -> None:
    decision = _downgrade_from_airflow_3()
    with pytest.raises(AcknowledgementRequired) as caught:
        raise_first_refusal(decision)
    body = caught.value.to_body()["error"]
    assert body["code"] == "acknowledgement_required"
    assert body["missing_acknowledgements"] == ["data_loss"]
    assert [w["code"] for w in body["warnings"]] == ["data_loss"]
    assert body["plan"]["target_deploy_id"] == "dep-3"
    assert json.loads(json.dumps(body)) == body


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValueError):
        deploy(3, created_at=datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        decide(now=datetime(2025, 1, 1))


@pytest.mark.parametrize("status", ["FAILED", "INITIALIZED"])
def test_a_deploy_that_never_went_live_is_not_a_target(status: str) -> None:
    decision = decide(target=deploy(3, age=timedelta(days=10), status=status))
    assert codes(decision) == ["target_not_deployed"]
    assert not decision.allowed


def test_a_rollback_that_upgrades_to_airflow_3_on_sqlite_says_task_instances_are_not_kept() -> None:
    """Airflow 3.1.8's own upgrade from 2.x on SQLite leaves task_instance empty (seen here)."""
    facts = {"dialect": "sqlite", "row_counts": {"task_instance": 7, "dag_run": 3}}
    decision = decide(
        deployment=replace(DEPLOYMENT, runtime_version="12.4.0", metadata_facts=facts),
        live=deploy(5, runtime="12.4.0"),
        target=deploy(3, runtime="3.1-1"),
    )
    assert decision.allowed  # an upgrade needs no acknowledgement
    assert decision.plan is not None
    warnings = {w["code"]: w for w in decision.plan.to_json()["warnings"]}
    lost = warnings["task_instances_erased_by_upgrade"]
    assert lost["rows"] == 7 and lost["requires_acknowledgement"] is False
    assert "7 task instances" in lost["message"] and "snapshot" in lost["message"]
    assert "data_loss" not in warnings
