"""Is the Deployment's Airflow healthy? Asked of Airflow itself, never assumed.

Scheduler, DAG processor and triggerer: a recent heartbeat of their job in the metadata
database. API server / webserver: its HTTP health endpoint answers. "DAGs parsed": the
DAG processor recorded a parse of the live DAGs folder after the components started.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import create_engine, text

from tarmac.local_runtime.components import Supervisor

HEARTBEAT_GRACE = timedelta(seconds=60)

_JOB_TYPES = {
    "scheduler": "SchedulerJob",
    "dag-processor": "DagProcessorJob",
    "triggerer": "TriggererJob",
}


@dataclass(frozen=True)
class ComponentState:
    name: str
    healthy: bool
    detail: str = ""


@dataclass(frozen=True)
class Health:
    components: list[ComponentState]
    dags_parsed: bool
    airflow_version: str | None

    @property
    def healthy(self) -> bool:
        return bool(self.components) and all(c.healthy for c in self.components)

    def problems(self) -> str:
        bad = [f"{c.name}: {c.detail or 'unhealthy'}" for c in self.components if not c.healthy]
        if not self.dags_parsed:
            bad.append("DAGs not parsed yet")
        return "; ".join(bad) or "healthy"


def check_health(
    supervisor: Supervisor,
    *,
    database_url: str,
    web_port: int,
    started_at: datetime,
    expect_dags: bool,
) -> Health:
    """The health of every started component, and whether the DAGs were parsed since start."""
    exited = supervisor.exited()
    beats = _heartbeats(database_url)
    states = []
    for name in supervisor.names():
        if name in exited:
            states.append(ComponentState(name, False, f"exited with code {exited[name]}"))
        elif name in _JOB_TYPES:
            beat = beats.get(_JOB_TYPES[name])
            fresh = beat is not None and beat >= max(started_at, _now() - HEARTBEAT_GRACE)
            states.append(ComponentState(name, fresh, "" if fresh else "no heartbeat since start"))
        else:
            answered = _web_health(web_port, name)
            states.append(ComponentState(name, answered, "" if answered else "no HTTP answer"))
    parsed = not expect_dags or _parsed_since(database_url, started_at)
    versions = {v for n in supervisor.names() if (v := supervisor.reported_version(n))}
    version = versions.pop() if len(versions) == 1 else None
    return Health(states, parsed, version)


def _heartbeats(database_url: str) -> dict[str, datetime]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT job_type, MAX(latest_heartbeat) FROM job "
                    "WHERE state = 'running' GROUP BY job_type"
                )
            ).all()
    except Exception:  # no job table yet (fresh database), or locked: no heartbeat known
        return {}
    finally:
        engine.dispose()
    return {str(job): _as_utc(beat) for job, beat in rows if beat is not None}


def _parsed_since(database_url: str, started_at: datetime) -> bool:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            latest = connection.execute(text("SELECT MAX(last_parsed_time) FROM dag")).scalar()
    except Exception:
        return False
    finally:
        engine.dispose()
    return latest is not None and _as_utc(latest) >= started_at


def _web_health(port: int, name: str) -> bool:
    path = "/api/v2/monitor/health" if name == "api-server" else "/health"
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=3).status_code == 200
    return False


def _as_utc(value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:  # SQLite returns text
        moment = datetime.fromisoformat(str(value).replace(" ", "T"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)
