"""DORA stats from a seeded history match figures worked out by hand.

The history (T = now; times rewritten in the database after the deploys were made):

    seq  kind                 live at       commit at    notes
    1    deploy               T-40d                      before both periods
    2    deploy               T-31d                      before the 30-day period
    3    rollback (to 1)      T-29d                      replaces 2: restore 2 days
    4    deploy               T-20d         T-20d-2h     rolled back by 5; lead 2 h
    5    rollback (to 2)      T-20d+30min                replaces 4: restore 30 min
    6    deploy               T-10d         T-10d-4h     lead 4 h
    7    deploy               T-5d                       rolled back by 8
    8    rollback (to 6)      T-5d+1h                    replaces 7: restore 1 h
    9    deploy               T-1d          T-1d-1h      lead 1 h

30 days: deploys 4, 6, 7, 9 (4); rollbacks 3, 5, 8 (3); rolled back 4 and 7, so the
change failure rate is 2/4 = 0.5; restore times 2 d, 30 min, 1 h: median 3600 s;
frequency 4/30 per day; lead times 2 h, 4 h, 1 h: median 7200 s.
7 days: deploys 7, 9; rollback 8; rolled back 7: rate 0.5; restore 3600 s; lead 3600 s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from tarmac.db.engine import make_engine
from tarmac.deploys.models import Deploy
from tests.support.bundles import make_bundle
from tests.support.server import Api

H = timedelta(hours=1)
D = timedelta(days=1)
LIVE_AGO = {
    1: 40 * D,
    2: 31 * D,
    3: 29 * D,
    4: 20 * D,
    5: 20 * D - H / 2,
    6: 10 * D,
    7: 5 * D,
    8: 5 * D - H,
    9: 1 * D,
}
COMMIT_AGO = {4: 20 * D + 2 * H, 6: 10 * D + 4 * H, 9: 1 * D + H}
ROLLBACK_TO = {3: 1, 5: 2, 8: 6}


def seed(api: Api, database_url: str, now: datetime) -> str:
    dep = api.new_deployment()
    api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True}))
    ids: dict[int, str] = {}
    for seq in range(1, 10):
        if seq in ROLLBACK_TO:
            made = api.ok(
                api.post(
                    f"/api/v1/deployments/{dep['id']}/deploys/{ids[ROLLBACK_TO[seq]]}/rollback",
                    json={"description": f"undo {seq - 1}"},
                ),
                201,
            )
        else:
            form = {"type": "DAG_ONLY", "clear_hold": "true"}  # a rollback holds the Deployment
            if seq in COMMIT_AGO:
                form["git_commit"] = f"{seq:07x}"
                form["git_committed_at"] = (now - COMMIT_AGO[seq]).isoformat()
            made = api.ok(
                api.post(
                    f"/api/v1/deployments/{dep['id']}/deploys",
                    data=form,
                    files={"dags": ("d.tgz", make_bundle({"d.py": f"# {seq}\n"}), "x")},
                ),
                201,
            )
        assert made["seq"] == seq
        ids[seq] = made["id"]
    engine = make_engine(database_url)
    with engine.begin() as connection:
        for seq, ago in LIVE_AGO.items():
            connection.execute(
                update(Deploy)
                .where(Deploy.id == ids[seq])
                .values(created_at=now - ago - timedelta(seconds=5), finished_at=now - ago)
            )
    engine.dispose()
    return str(dep["id"])


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


def test_thirty_day_figures_match_the_hand_worked_ones(
    api: Api, database_url: str, now: datetime
) -> None:
    dep_id = seed(api, database_url, now)
    stats = api.ok(api.get(f"/api/v1/deployments/{dep_id}/stats", params={"days": 30}))
    assert stats["deploys"] == 4
    assert stats["rollbacks"] == 3
    assert stats["rolled_back_deploys"] == 2
    assert stats["change_failure_rate"] == 0.5
    assert stats["median_time_to_restore_seconds"] == 3600.0
    assert stats["deploy_frequency_per_day"] == pytest.approx(4 / 30)
    assert stats["median_lead_time_seconds"] == 7200.0
    assert stats["lead_time_samples"] == 3
    assert sum(day["deploys"] for day in stats["daily"]) == 4
    assert sum(day["rollbacks"] for day in stats["daily"]) == 3


def test_seven_day_figures_and_the_installation_wide_ones(
    api: Api, database_url: str, now: datetime
) -> None:
    dep_id = seed(api, database_url, now)
    week = api.ok(api.get(f"/api/v1/deployments/{dep_id}/stats", params={"days": 7}))
    assert (week["deploys"], week["rollbacks"], week["change_failure_rate"]) == (2, 1, 0.5)
    assert week["median_time_to_restore_seconds"] == 3600.0
    assert week["median_lead_time_seconds"] == 3600.0
    other = api.new_deployment("other")
    api.ok(api.deploy(other["id"], dags=make_bundle({"o.py": "# o\n"})), 201)
    everything = api.ok(api.get("/api/v1/stats", params={"days": 30}))
    assert (everything["deploys"], everything["rollbacks"]) == (5, 3)
    assert everything["change_failure_rate"] == 0.4


def test_stats_of_an_empty_history_and_bad_periods(api: Api) -> None:
    dep = api.new_deployment()
    empty = api.ok(api.get(f"/api/v1/deployments/{dep['id']}/stats"))
    assert empty["days"] == 30
    assert (empty["deploys"], empty["change_failure_rate"]) == (0, None)
    assert empty["median_time_to_restore_seconds"] is None
    for days in (0, 366, "x"):
        response = api.get(f"/api/v1/deployments/{dep['id']}/stats", params={"days": days})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_request"


def test_prometheus_shows_each_deployments_thirty_day_figures(
    api: Api, database_url: str, now: datetime
) -> None:
    dep_id = seed(api, database_url, now)
    release = api.ok(api.get(f"/api/v1/deployments/{dep_id}"))["release_name"]
    text = api.as_token(None).get("/metrics").text
    samples = {
        (s.name, s.labels.get("deployment")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("tarmac_dora_")
    }
    assert samples[("tarmac_dora_deploys", release)] == 4
    assert samples[("tarmac_dora_rollbacks", release)] == 3
    assert samples[("tarmac_dora_change_failure_rate", release)] == 0.5
    assert samples[("tarmac_dora_time_to_restore_median_seconds", release)] == 3600.0
    assert samples[("tarmac_dora_lead_time_median_seconds", release)] == 7200.0


def test_a_deploy_marked_bad_counts_as_a_failed_change(api: Api) -> None:
    dep = api.new_deployment()
    first = api.ok(api.deploy(dep["id"], dags=make_bundle({"a.py": "# 1\n"})), 201)
    api.ok(api.deploy(dep["id"], dags=make_bundle({"a.py": "# 2\n"})), 201)
    api.ok(
        api.post(
            f"/api/v1/deployments/{dep['id']}/deploys/{first['id']}/mark-bad",
            json={"reason": "drops late orders"},
        )
    )
    stats = api.ok(api.get(f"/api/v1/deployments/{dep['id']}/stats"))
    assert (stats["deploys"], stats["rolled_back_deploys"], stats["change_failure_rate"]) == (
        2,
        1,
        0.5,
    )
