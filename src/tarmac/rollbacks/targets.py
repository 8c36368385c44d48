"""Which deploys of a history page can be rollback targets, and why the others cannot.

Asks the same pure policy as a rollback (``decide_rollback`` as a dry run), once per row,
so a history view never words a rule of its own. Refusals that hold for the whole
Deployment (permissions, installation flags, the toggle, the deploy mechanism, a current
runtime below 5.0.0) are reported once; the rest belong to the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tarmac.installation.flags import InstallationFlags
from tarmac.rollbacks.facts import DeployFacts, DeploymentFacts
from tarmac.rollbacks.policy import Refusal, decide_rollback
from tarmac.runtimes.catalog import RuntimeCatalog

DEPLOYMENT_WIDE_CODES = frozenset(
    {
        "permission_denied",
        "rollback_disabled",
        "rollback_not_enabled",
        "deploy_mechanism_unsupported",
    }
)
"""Refusals about the Deployment or the caller, the same for every row."""


@dataclass(frozen=True)
class TargetCheck:
    """One row: the refusals that are about this deploy itself (none: a possible target)."""

    deploy_id: str
    refusals: tuple[Refusal, ...]

    @property
    def row_allows(self) -> bool:
        return not self.refusals


@dataclass(frozen=True)
class HistoryTargets:
    """Per-row checks and the Deployment-wide refusals, each code once, policy order."""

    rows: dict[str, TargetCheck]
    deployment_refusals: tuple[Refusal, ...]

    def can_target(self, deploy_id: str) -> bool:
        """Whether a rollback to this deploy would be allowed right now (given a description)."""
        check = self.rows.get(deploy_id)
        return check is not None and check.row_allows and not self.deployment_refusals

    def only_blocked_by(self, codes: frozenset[str]) -> bool:
        """Whether every Deployment-wide refusal has one of ``codes`` (e.g. the toggle)."""
        return all(r.code in codes for r in self.deployment_refusals)


def check_targets(
    *,
    deployment: DeploymentFacts,
    targets: Sequence[DeployFacts],
    live: DeployFacts | None,
    flags: InstallationFlags,
    permissions: frozenset[str],
    catalog: RuntimeCatalog,
    now: datetime,
) -> HistoryTargets:
    """Evaluate every deploy in ``targets`` as a rollback target with the rollback policy."""
    rows: dict[str, TargetCheck] = {}
    wide: dict[str, Refusal] = {}
    for target in targets:
        decision = decide_rollback(
            deployment=deployment,
            target=target,
            live=live,
            flags=flags,
            permissions=permissions,
            catalog=catalog,
            now=now,
            description=None,
            acknowledged=frozenset(),
            dry_run=True,
            # File lists do not decide eligibility; skip loading manifests per row.
            target_manifest=None,
            live_manifest=None,
        )
        own = []
        for refusal in decision.refusals:
            if _is_deployment_wide(refusal):
                wide.setdefault(refusal.code, refusal)
            if not _is_deployment_wide(refusal) or _also_about_target(refusal):
                own.append(refusal)
        rows[target.id] = TargetCheck(deploy_id=target.id, refusals=tuple(own))
    return HistoryTargets(rows=rows, deployment_refusals=tuple(wide.values()))


def _is_deployment_wide(refusal: Refusal) -> bool:
    if refusal.code == "runtime_unsupported":
        return "current" in refusal.details.get("sides", ())
    return refusal.code in DEPLOYMENT_WIDE_CODES


def _also_about_target(refusal: Refusal) -> bool:
    return refusal.code == "runtime_unsupported" and "target" in refusal.details.get("sides", ())
