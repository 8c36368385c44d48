"""``tarmac demo``: start a server with rollbacks on and a sample Deployment, print the login."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from tarmac.cli.output import console


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the demo keeps its data.")
    ] = Path("tarmac-demo"),
    port: Annotated[int, typer.Option("--port", help="0 picks a free port.")] = 0,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    airflow: Annotated[
        bool,
        typer.Option(
            "--airflow",
            help="Also run a real Airflow for the demo Deployment (first run installs Airflow "
            "2.10 and 3.1 from PyPI: a few minutes).",
        ),
    ] = False,
) -> None:
    """Start tarmac with a sample Deployment of three deploys, ready to roll back."""
    import uvicorn

    from tarmac.api.app import create_app
    from tarmac.demo.sample import (
        DEMO_PASSWORD,
        DEMO_USER,
        VALUES_YAML,
        VIEWER_PASSWORD,
        VIEWER_USER,
        seed_demo,
    )
    from tarmac.settings import load_settings

    data_dir.mkdir(parents=True, exist_ok=True)
    values = data_dir / "values.yaml"
    if not values.exists():
        values.write_text(VALUES_YAML)
    token_file = data_dir / "demo-admin-token"
    if not token_file.exists():
        token_file.write_text(f"tmc_{secrets.token_urlsafe(24)}")
        token_file.chmod(0o600)
    token = token_file.read_text().strip()
    port = port or _free_port()
    # The demo starts at once: its deploys are import-checked only by Airflow environments
    # already built (or when TARMAC_IMPORT_CHECK_BUILD_ENVIRONMENTS asks for building).
    build = None if "TARMAC_IMPORT_CHECK_BUILD_ENVIRONMENTS" in os.environ else False
    # A laptop demo: webhook receivers on localhost (e.g. `nc -l`) are allowed.
    settings = load_settings(
        data_dir=data_dir,
        values_file=values,
        bootstrap_token=token,
        import_check_build_environments=build,
        webhook_allow_loopback=True,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{host}:{port}"
    with console.status("Starting tarmac and seeding the demo…"):
        while not server.started:
            if not thread.is_alive():
                raise typer.Exit(code=1)
            time.sleep(0.05)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as client:
            seed_demo(client)
    console.print(f"\n[bold green]tarmac is running[/bold green] at {url}")
    console.print(
        f"  Web UI:   {url}/ui   (login [bold]{DEMO_USER}[/bold] / {DEMO_PASSWORD};"
        f" read-only: {VIEWER_USER} / {VIEWER_PASSWORD})"
    )
    console.print(f"  API docs: {url}/docs")
    console.print(f"  CLI:      export TARMAC_SERVER={url} TARMAC_TOKEN=$(cat {token_file})")
    console.print("            tarmac deploys list 'Sales ETL'")
    console.print(
        "            tarmac rollback 'Sales ETL' 1 -d 'deploy 3 broke the load' --dry-run"
    )
    console.print("            tarmac deploys diff 'Sales ETL' 1 3")
    console.print(f"  Insight:  {url}/ui/insight (DORA figures), compare views from the history")
    console.print(f"  Data:     {data_dir.resolve()}\nPress Ctrl+C to stop.")
    runtime = _start_demo_runtime(url, token, data_dir.resolve()) if airflow else None
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        if runtime is not None:
            runtime.stop()
        server.should_exit = True
        thread.join(10)


class _DemoRuntime:
    """``tarmac runtime run`` for the demo Deployment, in a thread of the demo process."""

    def __init__(self, url: str, token: str, home: Path) -> None:
        from tarmac.agent.stopping import StopSignal
        from tarmac.local_runtime.environments import default_cache_root
        from tarmac.local_runtime.runner import RuntimeConfig, RuntimeRunner

        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            items = client.get("/api/v1/deployments").json()["items"]
        deployment_id = next(d["id"] for d in items if d["name"] == "Sales ETL")
        self.stop_signal = StopSignal()
        self.runner = RuntimeRunner(
            RuntimeConfig(
                server_url=url,
                token=token,
                deployment_id=deployment_id,
                home=home,
                env_cache=default_cache_root(),
                components=("scheduler", "dag-processor", "api-server", "webserver"),
            )
        )
        self.thread = threading.Thread(target=self.runner.run, args=(self.stop_signal,))

    def stop(self) -> None:
        console.print("Stopping Airflow…")
        self.stop_signal.request()
        self.thread.join(120)


def _start_demo_runtime(url: str, token: str, data_dir: Path) -> _DemoRuntime:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    runtime = _DemoRuntime(url, token, data_dir / "airflow-runtime")
    runtime.thread.start()
    console.print(
        "  Airflow:  the runtime side prepares and starts the demo's Airflow "
        f"(logs: {data_dir / 'airflow-runtime' / 'logs'}); watch it with "
        "`tarmac status 'Sales ETL'` or on the Deploy History page."
    )
    return runtime
