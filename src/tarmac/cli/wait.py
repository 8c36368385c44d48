"""``--wait``: poll until the runtime side really runs the new deploy healthy, or say why not.

``wait_for_deploy`` is pure of I/O: it is handed how to read the deploy and the runtime
status, a clock and a sleep, so every outcome is unit-tested without a server;
``wait_for_truth`` wires it to the API client for ``tarmac deploy|rollback --wait``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer

from tarmac.cli.client import ApiError, TarmacClient
from tarmac.cli.output import errors

ReadJson = Callable[[], dict[str, Any]]
ReadRuntime = Callable[[], dict[str, Any] | None]
"""The runtime status (GET …/runtime), or None when the server has no such endpoint."""


@dataclass(frozen=True)
class WaitOutcome:
    ok: bool
    message: str


def wait_for_deploy(
    *,
    deploy_id: str,
    read_deploy: ReadJson,
    read_runtime: ReadRuntime,
    timeout_seconds: float,
    progress: Callable[[str], None],
    interval_seconds: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitOutcome:
    """Wait until ``deploy_id`` is reached and healthy; fail fast on a FAILED deploy."""
    deadline = clock() + timeout_seconds
    last_said = ""
    last_state = "nothing reported yet"
    while True:
        deploy = read_deploy()
        verdict = _verdict(deploy, read_runtime())
        if verdict.outcome is not None:
            return verdict.outcome
        last_state = verdict.progress
        if verdict.progress != last_said:
            progress(verdict.progress)
            last_said = verdict.progress
        if clock() >= deadline:
            return WaitOutcome(
                False,
                f"timed out after {timeout_seconds:g}s waiting for deploy"
                f" #{deploy.get('seq')}: {last_state}",
            )
        sleep(interval_seconds)


@dataclass(frozen=True)
class _Verdict:
    outcome: WaitOutcome | None
    progress: str = ""


def _verdict(deploy: dict[str, Any], runtime: dict[str, Any] | None) -> _Verdict:
    seq = f"#{deploy.get('seq')}"
    if deploy.get("status") == "FAILED":
        why = deploy.get("failure_reason") or _rollout_error(deploy) or "no reason recorded"
        return _Verdict(WaitOutcome(False, f"deploy {seq} FAILED: {why}"))
    bad = deploy.get("marked_bad")
    if bad:
        # E.g. by the automatic rollback, which also rolled the Deployment back.
        return _Verdict(
            WaitOutcome(False, f"deploy {seq} was marked bad by {bad.get('by')}: {bad['reason']}")
        )
    rollout = deploy.get("rollout") or {}
    if rollout.get("state") == "failed":
        return _Verdict(
            WaitOutcome(False, f"deploy {seq} rollout failed: {_rollout_error(deploy)}")
        )
    if runtime is None or runtime.get("reported_at") is None:
        if deploy.get("status") != "DEPLOYED":
            return _Verdict(None, f"deploy {seq} is {deploy.get('status')}")
        kind = "DAG-only deploy" if deploy.get("type") == "DAG_ONLY" else "deploy"
        return _Verdict(
            WaitOutcome(
                True,
                f"{kind} {seq} is DEPLOYED; no runtime side has ever reported for this"
                " Deployment, so its health is not known (agents and the DAG bundle follow"
                " /dags/current)",
            )
        )
    state = runtime.get("state") or "unknown"
    reached = runtime.get("reached_deploy_id")
    components = runtime.get("components") or []
    unhealthy = sorted(str(c.get("name")) for c in components if not c.get("healthy"))
    new_errors = [e for e in runtime.get("import_errors") or [] if e.get("new")]
    if reached == deploy.get("id"):
        if state == "running" and new_errors:
            files = "; ".join(f"{e.get('file')}: {_last_line(e.get('error'))}" for e in new_errors)
            version = runtime.get("airflow_version") or "?"
            return _Verdict(
                WaitOutcome(
                    False, f"deploy {seq} has new DAG import errors in Airflow {version}: {files}"
                )
            )
        if state == "running" and not unhealthy:
            version = runtime.get("airflow_version") or "?"
            return _Verdict(
                WaitOutcome(True, f"deploy {seq} is running, Airflow {version}, all healthy")
            )
        if state == "failed":
            error = runtime.get("error") or "no error reported"
            return _Verdict(WaitOutcome(False, f"deploy {seq} failed on the runtime: {error}"))
    elif state == "failed" and runtime.get("error"):
        # The runtime side failed to switch to this deploy and restored the previous one.
        return _Verdict(None, f"runtime failed: {runtime['error']} (waiting for the server)")
    said = f"runtime {state}"
    if reached != deploy.get("id"):
        said += ", still on another deploy"
    if unhealthy:
        said += f", unhealthy: {', '.join(unhealthy)}"
    return _Verdict(None, said)


def _last_line(error: object) -> str:
    lines = [line.strip() for line in str(error or "").splitlines() if line.strip()]
    return lines[-1] if lines else "import failed"


def _rollout_error(deploy: dict[str, Any]) -> str | None:
    rollout = deploy.get("rollout") or {}
    error = rollout.get("error")
    return str(error) if error else None


def wait_for_truth(
    client: TarmacClient,
    deployment_id: str,
    deploy: dict[str, Any],
    *,
    timeout_seconds: float,
    quiet: bool,
) -> None:
    """``--wait``: report progress, exit 1 with the reason unless the deploy runs healthy."""
    base = f"/api/v1/deployments/{deployment_id}"

    def read_runtime() -> dict[str, Any] | None:
        try:
            status: dict[str, Any] = client.get(f"{base}/runtime")
        except ApiError as exc:
            # The deploy was just read, so the Deployment exists: a 404 here is a server
            # without the runtime endpoint, which means no runtime side.
            if exc.status == 404:
                return None
            raise
        return status

    def read_deploy() -> dict[str, Any]:
        found: dict[str, Any] = client.get(f"{base}/deploys/{deploy['id']}")
        return found

    def progress(line: str) -> None:
        if not quiet:
            errors.print(f"… {line}", markup=False, highlight=False)

    outcome = wait_for_deploy(
        deploy_id=deploy["id"],
        read_deploy=read_deploy,
        read_runtime=read_runtime,
        timeout_seconds=timeout_seconds,
        progress=progress,
    )
    if not outcome.ok:
        errors.print(f"error (wait): {outcome.message}", markup=False, highlight=False)
        raise typer.Exit(code=1)
    errors.print(outcome.message, markup=False, highlight=False)
