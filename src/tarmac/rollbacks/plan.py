"""The rollback plan: what a rollback changes, what it keeps, and what it warns about."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tarmac.bundles.manifest import BundleManifest, ManifestDiff
from tarmac.bundles.manifest_cache import cached_diff
from tarmac.deployments.schemas import DagDeployMode
from tarmac.rollbacks.dag_changes import (
    DagChanges,
    affected_dags,
    dag_changes,
    runs_in_flight_message,
)
from tarmac.rollbacks.downgrade_risks import upgrade_risks
from tarmac.rollbacks.facts import DeployFacts, DeploymentFacts
from tarmac.rollbacks.plan_warnings import PlanWarning, data_loss_warning
from tarmac.runtimes.catalog import RuntimeCatalog

ACKNOWLEDGEABLE_WARNINGS = frozenset({"data_loss", "restricted_runtime"})
"""Warning codes a caller may acknowledge (DESIGN §6)."""

_KEPT_OTHER_SETTINGS = (
    "All other Deployment settings (scheduler, workers, alerts, members) stay as they are."
)


@dataclass(frozen=True)
class Change:
    """One rolled-back value: ``before`` is live now, ``after`` is the target's."""

    before: str | bool | None
    after: str | bool | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def to_json(self) -> dict[str, Any]:
        return {"from": self.before, "to": self.after, "changed": self.changed}


@dataclass(frozen=True)
class KeptSettings:
    """Rule 8: Deployment settings a rollback does not touch."""

    name: str
    description: str | None
    executor: str
    resources: Mapping[str, Any]
    env_var_keys: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "executor": self.executor,
            "resources": _plain(self.resources),
            "env_var_keys": list(self.env_var_keys),
            "other_settings": _KEPT_OTHER_SETTINGS,
        }


@dataclass(frozen=True)
class RollbackPlan:
    """Everything a rollback to ``target_deploy_id`` would do, for preview and confirmation."""

    deployment_name: str
    target_deploy_id: str
    target_seq: int
    live_deploy_id: str | None
    live_seq: int | None
    image: Change
    runtime_version: Change
    runtime_direction: str  # upgrade | downgrade | none
    airflow_version: Change
    dag_deploy_enabled: Change
    bundle_sha256: Change
    dag_files: ManifestDiff
    dags: DagChanges
    kept: KeptSettings
    warnings: tuple[PlanWarning, ...]

    @property
    def required_acknowledgements(self) -> tuple[str, ...]:
        return tuple(w.code for w in self.warnings if w.requires_acknowledgement)

    @property
    def summary(self) -> str:
        """One line for a CLI, a confirmation dialog or an event message."""
        live = f"deploy #{self.live_seq}" if self.live_seq is not None else "no live deploy"
        changes = []
        if self.runtime_version.changed:
            changes.append(
                f"runtime {self.runtime_version.before} -> {self.runtime_version.after}"
                f" ({self.runtime_direction})"
            )
        if self.image.changed:
            changes.append(f"image {self.image.before} -> {self.image.after}")
        if self.dag_deploy_enabled.changed:
            changes.append("DAG deploys " + ("on" if self.dag_deploy_enabled.after else "off"))
        if self.bundle_sha256.changed:
            files = self.dag_files
            changes.append(
                "DAG bundle changed"
                if files.is_empty
                else f"DAG files {len(files.added)} added, {len(files.removed)} removed,"
                f" {len(files.changed)} changed"
            )
        what = "; ".join(changes) or "no code change"
        return (
            f"Roll back {self.deployment_name} from {live} to deploy #{self.target_seq}: "
            f"{what}; resources, environment variables and settings are kept."
        )

    def to_json(self) -> dict[str, Any]:
        """The plan as the API, UI and CLI show it; key names are a stable contract."""
        return {
            "target_deploy_id": self.target_deploy_id,
            "target_seq": self.target_seq,
            "live_deploy_id": self.live_deploy_id,
            "live_seq": self.live_seq,
            "rolled_back": {
                "image": self.image.to_json(),
                "runtime_version": {
                    "from": self.runtime_version.before,
                    "to": self.runtime_version.after,
                    "direction": self.runtime_direction,
                },
                "airflow_version": {
                    "from": self.airflow_version.before,
                    "to": self.airflow_version.after,
                },
                "dag_deploy_enabled": self.dag_deploy_enabled.to_json(),
                "bundle_sha256": self.bundle_sha256.to_json(),
                "dag_files": {
                    "added": list(self.dag_files.added),
                    "removed": list(self.dag_files.removed),
                    "changed": list(self.dag_files.changed),
                },
                "dags": self.dags.to_json(),
            },
            "kept": self.kept.to_json(),
            "warnings": [w.to_json() for w in self.warnings],
            "required_acknowledgements": list(self.required_acknowledgements),
            "summary": self.summary,
        }


def build_plan(
    *,
    deployment: DeploymentFacts,
    target: DeployFacts,
    live: DeployFacts | None,
    catalog: RuntimeCatalog,
    target_manifest: BundleManifest | None,
    live_manifest: BundleManifest | None,
) -> RollbackPlan:
    """The plan from the live state to ``target``; raises ``UnknownRuntimeVersion``."""
    live_runtime = live.runtime_version if live else deployment.runtime_version
    live_airflow = live.airflow_version if live else catalog.get(live_runtime).airflow_version
    order = catalog.compare(target.runtime_version, live_runtime)
    direction = {1: "upgrade", -1: "downgrade"}.get(order, "none")
    bundle = Change(live.bundle_sha256 if live else None, target.bundle_sha256)
    dag_files = (
        cached_diff(live_manifest, target_manifest)
        if bundle.changed
        else ManifestDiff(added=(), removed=(), changed=())
    )
    return RollbackPlan(
        deployment_name=deployment.name,
        target_deploy_id=target.id,
        target_seq=target.seq,
        live_deploy_id=live.id if live else None,
        live_seq=live.seq if live else None,
        image=Change(live.image if live else None, target.image),
        runtime_version=Change(live_runtime, target.runtime_version),
        runtime_direction=direction,
        airflow_version=Change(live_airflow, target.airflow_version),
        dag_deploy_enabled=Change(
            live.dag_deploy_enabled
            if live
            else deployment.dag_deploy_mode == DagDeployMode.DAG_DEPLOY,
            target.dag_deploy_enabled,
        ),
        bundle_sha256=bundle,
        dag_files=dag_files,
        dags=dag_changes(live=live.dags if live else None, target=target.dags),
        kept=KeptSettings(
            name=deployment.name,
            description=deployment.description,
            executor=deployment.executor,
            resources=deployment.resources,
            env_var_keys=deployment.env_var_keys,
        ),
        warnings=_warnings(
            catalog=catalog,
            target=target,
            live_runtime=live_runtime,
            live_airflow=live_airflow,
            downgrade=direction == "downgrade",
            metadata_facts=deployment.metadata_facts,
        )
        + _in_flight_warnings(
            live=live, target=target, live_airflow=live_airflow, dag_files=dag_files
        ),
    )


def _warnings(
    *,
    catalog: RuntimeCatalog,
    target: DeployFacts,
    live_runtime: str,
    live_airflow: str,
    downgrade: bool,
    metadata_facts: Mapping[str, Any],
) -> tuple[PlanWarning, ...]:
    warnings = []
    if downgrade:
        warnings.append(
            data_loss_warning(
                from_runtime=live_runtime,
                from_airflow=live_airflow,
                to_runtime=target.runtime_version,
                to_airflow=target.airflow_version,
                metadata_facts=metadata_facts,
            )
        )
    runtime = catalog.get(target.runtime_version)
    if runtime.restricted:
        reason = (runtime.restricted_reason or "no reason recorded").rstrip(".")
        warnings.append(
            PlanWarning(
                code="restricted_runtime",
                message=(
                    f"Runtime {runtime.version} is restricted: {reason}. Restricted runtime"
                    " versions can include major bugs and performance issues."
                ),
                requires_acknowledgement=True,
                extra={"runtime_version": runtime.version, "reason": runtime.restricted_reason},
            )
        )
    upgrade_losses = upgrade_risks(
        dict(metadata_facts), from_airflow=live_airflow, to_airflow=target.airflow_version
    )
    warnings += [
        PlanWarning(
            code=r.code, message=r.message, requires_acknowledgement=False, extra={"rows": r.rows}
        )
        for r in upgrade_losses
    ]
    if downgrade:
        warnings.append(
            PlanWarning(
                code="running_tasks",
                message="Tasks running during the downgrade fail and are retried.",
                requires_acknowledgement=False,
            )
        )
    return tuple(warnings)


def _in_flight_warnings(
    *, live: DeployFacts | None, target: DeployFacts, live_airflow: str, dag_files: ManifestDiff
) -> tuple[PlanWarning, ...]:
    """What DAG runs in progress will run, when the rollback changes DAG code."""
    if live is None or live.bundle_sha256 == target.bundle_sha256:
        return ()
    dags = affected_dags(live=live.dags, files=dag_files)
    return (
        PlanWarning(
            code="runs_in_flight",
            message=runs_in_flight_message(
                live_airflow=live_airflow, target_seq=target.seq, dags=dags
            ),
            requires_acknowledgement=False,
            extra={
                "airflow_version": live_airflow,
                "bundle_versioning": not live_airflow.startswith("2."),
                "dag_ids": list(dags),
            },
        ),
    )


def _plain(value: Any) -> Any:
    """A JSON-safe copy: mappings become dicts, tuples and lists become lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
