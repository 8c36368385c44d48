"""The rollback policy: a pure function from facts to a plan or the reasons to refuse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tarmac.bundles.manifest import BundleManifest
from tarmac.deployments.schemas import DagDeployMode
from tarmac.deploys.descriptions import MAX_DESCRIPTION_LENGTH
from tarmac.deploys.schemas import DeployStatus
from tarmac.errors import ERROR_BY_CODE
from tarmac.installation.flags import InstallationFlags
from tarmac.rollbacks.facts import DeployFacts, DeploymentFacts
from tarmac.rollbacks.plan import ACKNOWLEDGEABLE_WARNINGS, RollbackPlan, build_plan
from tarmac.runtimes.catalog import RuntimeCatalog

PUSH_PERMISSIONS = frozenset({"deployment.images.push", "system.deployments.images.push"})
"""Rule 1: either one lets an actor roll a Deployment back."""

ROLLBACK_DEPLOY_MODES = frozenset({DagDeployMode.IMAGE, DagDeployMode.DAG_DEPLOY})
"""Rule 6: nfs and git_sync Deployments cannot roll back."""

MARKED_BAD = "marked_bad"
"""The acknowledgement that lets a rollback land on a deploy marked bad."""


@dataclass(frozen=True)
class Refusal:
    """One reason a rollback cannot go ahead; ``code`` is a ``tarmac.errors`` code."""

    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RollbackDecision:
    """The plan (when one can be shown) and every refusal, most important first."""

    plan: RollbackPlan | None
    refusals: tuple[Refusal, ...]
    description: str | None  # trimmed; None when missing or blank

    @property
    def allowed(self) -> bool:
        return self.plan is not None and not self.refusals


def decide_rollback(
    *,
    deployment: DeploymentFacts,
    target: DeployFacts,
    live: DeployFacts | None,
    flags: InstallationFlags,
    permissions: frozenset[str],
    catalog: RuntimeCatalog,
    now: datetime,
    description: str | None,
    acknowledged: frozenset[str],
    dry_run: bool,
    target_manifest: BundleManifest | None,
    live_manifest: BundleManifest | None,
) -> RollbackDecision:
    """Decide whether ``deployment`` may roll back to ``target`` (DESIGN §3, §4)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    trimmed = (description or "").strip() or None
    if target.deployment_id != deployment.id:
        # Nothing else about a deploy of another Deployment is this caller's business.
        refusal = Refusal(
            "not_found",
            f"Deploy {target.id} not found in Deployment {deployment.name}.",
            {"deploy_id": target.id, "deployment_id": deployment.id},
        )
        return RollbackDecision(plan=None, refusals=(refusal,), description=trimmed)

    found = [
        _permission_refusal(permissions),
        _installation_refusal(flags),
        _toggle_refusal(deployment),
        _mechanism_refusal(deployment),
        _status_refusal(target),
        _marked_bad_refusal(target=target, acknowledged=acknowledged),
        _age_refusal(target=target, flags=flags, now=now),
        _runtime_refusal(deployment=deployment, target=target, live=live, catalog=catalog),
        *_request_refusals(description=trimmed, acknowledged=acknowledged, dry_run=dry_run),
        _already_current_refusal(target=target, live=live),
    ]
    refusals = [r for r in found if r is not None]
    plan = None
    live_runtime = live.runtime_version if live else deployment.runtime_version
    if catalog.find(live_runtime) and catalog.find(target.runtime_version):
        plan = build_plan(
            deployment=deployment,
            target=target,
            live=live,
            catalog=catalog,
            target_manifest=target_manifest,
            live_manifest=live_manifest,
        )
        if not dry_run:
            refusals.extend(_acknowledgement_refusals(plan=plan, acknowledged=acknowledged))
    return RollbackDecision(plan=plan, refusals=tuple(refusals), description=trimmed)


def raise_first_refusal(decision: RollbackDecision) -> None:
    """Raise the error of the first refusal, listing all of them; return if there is none."""
    if not decision.refusals:
        return
    first = decision.refusals[0]
    details = dict(first.details)
    details["refusals"] = [{"code": r.code, "message": r.message} for r in decision.refusals]
    if first.code == "acknowledgement_required" and decision.plan is not None:
        missing = set(first.details.get("missing_acknowledgements", ()))
        details["plan"] = decision.plan.to_json()
        details["warnings"] = [w.to_json() for w in decision.plan.warnings if w.code in missing]
    raise ERROR_BY_CODE[first.code](first.message, **details)


def _permission_refusal(permissions: frozenset[str]) -> Refusal | None:
    if permissions & PUSH_PERMISSIONS:
        return None
    return Refusal(
        "permission_denied",
        "Rolling back needs the deployment.images.push permission (Deployment Editor or"
        " Admin) or system.deployments.images.push (System Admin).",
        {"required_permissions": sorted(PUSH_PERMISSIONS)},
    )


def _installation_refusal(flags: InstallationFlags) -> Refusal | None:
    if flags.rollbacks_allowed:
        return None
    missing = flags.missing_rollback_flags()
    return Refusal(
        "rollback_disabled",
        "Deploy rollbacks are disabled for this installation; set "
        + ", ".join(missing)
        + " to true in values.yaml.",
        {"missing_flags": missing},
    )


def _toggle_refusal(deployment: DeploymentFacts) -> Refusal | None:
    if deployment.rollback_enabled:
        return None
    return Refusal(
        "rollback_not_enabled",
        f"Deploy rollbacks are not enabled for Deployment {deployment.name}; turn on"
        " Rollback Deploy in its settings.",
        {"deployment_id": deployment.id},
    )


def _mechanism_refusal(deployment: DeploymentFacts) -> Refusal | None:
    if deployment.dag_deploy_mode in ROLLBACK_DEPLOY_MODES:
        return None
    return Refusal(
        "deploy_mechanism_unsupported",
        f"Deployment {deployment.name} uses {deployment.dag_deploy_mode} deploys; rollbacks"
        " need image or DAG-only deploys.",
        {"dag_deploy_mode": deployment.dag_deploy_mode, "supported": sorted(ROLLBACK_DEPLOY_MODES)},
    )


def _status_refusal(target: DeployFacts) -> Refusal | None:
    if target.status == DeployStatus.DEPLOYED:
        return None
    return Refusal(
        "target_not_deployed",
        f"Deploy #{target.seq} is {target.status}: its code never went live, so it is not a"
        " known-good state to roll back to.",
        {"deploy_id": target.id, "status": target.status},
    )


def _marked_bad_refusal(*, target: DeployFacts, acknowledged: frozenset[str]) -> Refusal | None:
    if target.marked_bad is None or MARKED_BAD in acknowledged:
        return None
    mark = target.marked_bad
    return Refusal(
        "deploy_marked_bad",
        f"Deploy #{target.seq} was marked bad by {mark.by or 'unknown'}: {mark.reason}."
        f" Acknowledge {MARKED_BAD} to roll back to it anyway.",
        {
            "deploy_id": target.id,
            "marked_bad": mark.to_json(),
            "acknowledge": MARKED_BAD,
        },
    )


def _age_refusal(*, target: DeployFacts, flags: InstallationFlags, now: datetime) -> Refusal | None:
    max_age = timedelta(days=flags.cleanup_older_than_days)
    # Strict: with olderThan 0 every existing deploy is too old (rule 4).
    if target.pinned or now - target.created_at < max_age:
        return None
    return Refusal(
        "deploy_too_old",
        f"Deploy #{target.seq} is older than {flags.cleanup_older_than_days} days; only"
        " deploys of that period (or pinned ones) can be rolled back to.",
        {
            "deploy_id": target.id,
            "created_at": target.created_at.isoformat(),
            "older_than_days": flags.cleanup_older_than_days,
        },
    )


def _runtime_refusal(
    *,
    deployment: DeploymentFacts,
    target: DeployFacts,
    live: DeployFacts | None,
    catalog: RuntimeCatalog,
) -> Refusal | None:
    current = [deployment.runtime_version]
    if live is not None and live.runtime_version != deployment.runtime_version:
        current.append(live.runtime_version)
    problems = [("current", v) for v in current if not _supports_rollback(catalog, v)]
    if not _supports_rollback(catalog, target.runtime_version):
        problems.append(("target", target.runtime_version))
    if not problems:
        return None
    reasons = "; ".join(
        f"the {side} runtime {version} {_why_unsupported(catalog, version)}"
        for side, version in problems
    )
    return Refusal(
        "runtime_unsupported",
        f"Rollbacks need runtime 5.0.0 (Airflow 2.3.0) or later on both sides: {reasons}.",
        {
            "sides": sorted({side for side, _ in problems}),
            "current_runtime_version": deployment.runtime_version,
            "target_runtime_version": target.runtime_version,
            "minimum_runtime_version": "5.0.0",
        },
    )


def _supports_rollback(catalog: RuntimeCatalog, version: str) -> bool:
    runtime = catalog.find(version)
    return runtime is not None and runtime.supports_rollback


def _why_unsupported(catalog: RuntimeCatalog, version: str) -> str:
    runtime = catalog.find(version)
    if runtime is None:
        return "is not in the runtime catalog"
    return f"runs Airflow {runtime.airflow_version}"


def _request_refusals(
    *, description: str | None, acknowledged: frozenset[str], dry_run: bool
) -> list[Refusal]:
    refusals = []
    if description is None and not dry_run:
        refusals.append(
            Refusal(
                "description_required",
                "Describe why you are rolling back.",
                {"field": "description"},
            )
        )
    if description is not None and "\x00" in description:
        refusals.append(
            Refusal(
                "invalid_request",
                "The description must not contain NUL characters.",
                {"field": "description"},
            )
        )
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        refusals.append(
            Refusal(
                "invalid_request",
                f"The description is longer than {MAX_DESCRIPTION_LENGTH} characters.",
                {"field": "description", "max_length": MAX_DESCRIPTION_LENGTH},
            )
        )
    unknown = sorted(acknowledged - ACKNOWLEDGEABLE_WARNINGS - {MARKED_BAD})
    if unknown:
        refusals.append(
            Refusal(
                "invalid_request",
                f"Unknown warning codes to acknowledge: {', '.join(unknown)}.",
                {
                    "field": "acknowledge",
                    "unknown": unknown,
                    "allowed": sorted(ACKNOWLEDGEABLE_WARNINGS | {MARKED_BAD}),
                },
            )
        )
    return refusals


def _already_current_refusal(*, target: DeployFacts, live: DeployFacts | None) -> Refusal | None:
    if live is None or target.code_state != live.code_state:
        return None
    return Refusal(
        "already_current",
        f"Deploy #{target.seq} has the code that is live now (deploy #{live.seq}).",
        {"deploy_id": target.id, "live_deploy_id": live.id},
    )


def _acknowledgement_refusals(*, plan: RollbackPlan, acknowledged: frozenset[str]) -> list[Refusal]:
    missing = [c for c in plan.required_acknowledgements if c not in acknowledged]
    if not missing:
        return []
    return [
        Refusal(
            "acknowledgement_required",
            f"Acknowledge these warnings to roll back: {', '.join(missing)}.",
            {
                "missing_acknowledgements": missing,
                "required_acknowledgements": list(plan.required_acknowledgements),
            },
        )
    ]
