"""The agent loop: switches on changes, keeps the last good code through outages, stops cleanly."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from tarmac.agent.client import LiveDags, ServerUnavailable
from tarmac.agent.runner import Agent, AgentConfig
from tarmac.agent.stopping import AgentStopping, StopSignal
from tests.support.bundles import make_bundle

V1 = make_bundle({"dag.py": "# v1\n"})
V2 = make_bundle({"dag.py": "# v2\n"})
BY_SHA = {hashlib.sha256(b).hexdigest(): b for b in (V1, V2)}


def _live(deploy_id: str, bundle: bytes) -> LiveDags:
    return LiveDags(deploy_id, hashlib.sha256(bundle).hexdigest(), True, etag=f'"{deploy_id}"')


class ScriptedServer:
    """Answers the agent's polls from a script; stops the agent when the script ends."""

    def __init__(self, script: list[LiveDags | Exception | None], stop: StopSignal) -> None:
        self.script = script
        self.stop = stop
        self.polls: list[tuple[str | None, float]] = []

    def current(self, *, etag: str | None = None, wait_seconds: float = 0.0) -> LiveDags | None:
        self.polls.append((etag, wait_seconds))
        if len(self.polls) >= len(self.script):
            self.stop.request()
        answer = self.script[min(len(self.polls), len(self.script)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def download(self, sha256: str, *, into: Path) -> None:
        into.write_bytes(BY_SHA[sha256])

    def tree(self, sha256: str) -> None:
        return None  # a server without bundle trees: whole bundles only

    def close(self) -> None:
        pass


def _agent(tmp_path: Path, server: ScriptedServer) -> Agent:
    config = AgentConfig(
        server_url="http://tarmac.test",
        token="t",
        deployment_id="dep",
        dags_folder=tmp_path / "dags",
        cache_dir=tmp_path / "cache",
        backoff_base_seconds=0.001,
        backoff_cap_seconds=0.002,
    )
    return Agent(config, client=server)  # type: ignore[arg-type]


def test_follows_changes_and_long_polls_with_the_last_etag(tmp_path: Path) -> None:
    stop = StopSignal()
    server = ScriptedServer([_live("d1", V1), None, _live("d2", V2)], stop)
    _agent(tmp_path, server).run(stop)
    assert (tmp_path / "dags" / "dag.py").read_text() == "# v2\n"
    assert [etag for etag, _wait in server.polls] == [None, '"d1"', '"d1"']
    assert all(wait == 30.0 for _etag, wait in server.polls)


def test_an_outage_keeps_the_last_good_code(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stop = StopSignal()
    down = ServerUnavailable("http://tarmac.test unreachable")
    server = ScriptedServer([_live("d1", V1), down, down, None, _live("d2", V2)], stop)
    with caplog.at_level("INFO", logger="tarmac.agent"):
        _agent(tmp_path, server).run(stop)
    assert "keeping deploy d1 live, retrying in" in caplog.text
    assert "switched DAGs from deploy d1 to deploy d2" in caplog.text
    # After the outage it resumes from the code it kept, not from scratch.
    assert [etag for etag, _wait in server.polls][1:] == ['"d1"'] * 4


def test_a_restarted_agent_resumes_without_downloading(tmp_path: Path) -> None:
    stop = StopSignal()
    _agent(tmp_path, ScriptedServer([_live("d1", V1)], stop)).run(stop)
    stop = StopSignal()
    server = ScriptedServer([None], stop)
    _agent(tmp_path, server).run(stop)
    assert server.polls == [('"d1"', 30.0)]


def test_a_signal_ends_only_an_interruptible_wait() -> None:
    stop = StopSignal()
    restore = stop.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # outside: only noted
        assert stop.requested
        with pytest.raises(AgentStopping), stop.interruptible():
            pass
        fresh = StopSignal()
        restore()
        restore = fresh.install()
        with pytest.raises(AgentStopping), fresh.interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()  # never reached: the handler raises first
    finally:
        restore()
