"""The plan names the DAGs a rollback adds and removes, and says what runs in flight do."""

from __future__ import annotations

from dataclasses import replace

from tarmac.bundles.manifest import BundleManifest, ManifestEntry
from tests.unit.rollbacks.test_policy import CATALOG, LIVE, TARGET, decide, deploy


def _manifest(**files: str) -> BundleManifest:
    return BundleManifest(
        entries=tuple(
            ManifestEntry(path=path, size=1, sha256=tag * 64) for path, tag in files.items()
        )
    )


def _plan(**overrides: object) -> dict[str, object]:
    decision = decide(dry_run=True, **overrides)
    assert decision.plan is not None
    return decision.plan.to_json()


def test_dags_that_appear_and_disappear_are_listed() -> None:
    live = replace(LIVE, dags={"etl": "etl.py", "ml": "ml.py"})
    target = replace(TARGET, dags={"etl": "etl.py", "report": "report.py"})
    dags = _plan(live=live, target=target)["rolled_back"]["dags"]  # type: ignore[index]
    assert dags == {"known": True, "appear": ["report"], "disappear": ["ml"]}


def test_unchecked_deploys_say_the_dags_are_unknown() -> None:
    dags = _plan()["rolled_back"]["dags"]  # type: ignore[index]
    assert dags == {"known": False, "appear": [], "disappear": []}


def test_airflow_2_warns_that_runs_in_flight_continue_on_the_rolled_back_code() -> None:
    live = replace(LIVE, dags={"etl": "etl.py", "report": "report.py"})
    plan = _plan(
        live=live,
        live_manifest=_manifest(**{"etl.py": "a", "report.py": "b"}),
        target_manifest=_manifest(**{"etl.py": "c", "report.py": "b"}),
    )
    warning = next(w for w in plan["warnings"] if w["code"] == "runs_in_flight")  # type: ignore[attr-defined]
    assert warning["requires_acknowledgement"] is False
    assert warning["bundle_versioning"] is False
    assert warning["dag_ids"] == ["etl"]
    assert "continue on the rolled-back code" in warning["message"]
    assert "runs_in_flight" not in plan["required_acknowledgements"]  # type: ignore[operator]


def test_airflow_3_says_runs_in_flight_finish_on_their_own_version() -> None:
    live = deploy(5, runtime="3.1-1")
    target = replace(deploy(3, runtime="3.1-1"), created_at=TARGET.created_at)
    plan = _plan(live=live, target=target)
    warning = next(w for w in plan["warnings"] if w["code"] == "runs_in_flight")  # type: ignore[attr-defined]
    assert warning["bundle_versioning"] is True
    assert "finish on the version they started with" in warning["message"]
    assert CATALOG.get("3.1-1").airflow_version in warning["message"]


def test_no_warning_when_the_dag_bundle_does_not_change() -> None:
    target = replace(TARGET, bundle_sha256=LIVE.bundle_sha256)
    plan = _plan(target=target)
    assert all(w["code"] != "runs_in_flight" for w in plan["warnings"])  # type: ignore[attr-defined]
