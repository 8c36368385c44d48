"""``tarmac demo``: start a server with rollbacks on and a sample Deployment, print the login."""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from tarmac.cli.output import console

PREFERRED_PORT = 8765


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def demo_port(data_dir: Path, host: str, requested: int) -> int:
    """The port of the last run when it is free (so a saved login stays right), else 8765,
    else any free port; remembered in the data dir for the next run."""
    saved = data_dir / "demo-port"
    candidates = [requested] if requested else []
    if not requested and saved.exists() and saved.read_text().strip().isdigit():
        candidates.append(int(saved.read_text()))
    if not requested:
        candidates.append(PREFERRED_PORT)
    port = next((p for p in candidates if _port_is_free(host, p)), None)
    if port is None:
        port = requested or _free_port(host)
    saved.write_text(str(port))
    return port


def write_cli_env(data_dir: Path, *, url: str, token_file: Path) -> Path:
    """A file to ``source``: puts this ``tarmac`` on the PATH and points it at the demo."""
    bin_dir = Path(sys.executable).parent
    env_file = data_dir / "cli.env"
    env_file.write_text(
        f'export PATH="{bin_dir}:$PATH"\n'
        f"export TARMAC_SERVER={url}\n"
        f'export TARMAC_TOKEN="$(cat {shlex.quote(str(token_file))})"\n'
    )
    return env_file


def _start(app: Any, *, host: str, port: int) -> tuple[Any, threading.Thread]:
    """uvicorn serving ``app`` in a thread; (None, thread) when it could not bind."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            return None, thread
        time.sleep(0.05)
    return server, thread


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the demo keeps its data.")
    ] = Path("tarmac-demo"),
    port: Annotated[
        int, typer.Option("--port", help="0: the last run's port, else 8765, else a free one.")
    ] = 0,
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

    data_dir = data_dir.resolve()  # every path printed below works from any folder
    data_dir.mkdir(parents=True, exist_ok=True)
    values = data_dir / "values.yaml"
    if not values.exists():
        values.write_text(VALUES_YAML)
    token_file = data_dir / "demo-admin-token"
    if not token_file.exists():
        token_file.write_text(f"tmc_{secrets.token_urlsafe(24)}")
        token_file.chmod(0o600)
    token = token_file.read_text().strip()
    port = demo_port(data_dir, host, port)
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
    with console.status("Starting tarmac and seeding the demo…"):
        server, thread = _start(create_app(settings), host=host, port=port)
        if server is None:  # another process took the port between the check and the bind
            port = _free_port(host)
            (data_dir / "demo-port").write_text(str(port))
            server, thread = _start(create_app(settings), host=host, port=port)
        if server is None:
            raise typer.Exit(code=1)
        url = f"http://{host}:{port}"
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as client:
            seed_demo(client)
    env_file = write_cli_env(data_dir, url=url, token_file=token_file)
    lines = [
        f"\n[bold green]tarmac is running[/bold green] at {url}",
        f"  Web UI:   {url}/ui   (login [bold]{DEMO_USER}[/bold] / {DEMO_PASSWORD};"
        f" read-only: {VIEWER_USER} / {VIEWER_PASSWORD})",
        f"  API docs: {url}/docs",
        "  CLI: in another terminal, from any folder, paste this line to put tarmac on",
        "  your PATH and point it at this server:",
        f"    source {shlex.quote(str(env_file))}",
        "  then try:",
        "    tarmac deploys list 'Sales ETL'",
        "    tarmac rollback 'Sales ETL' '#1' -d 'deploy 3 broke the load' --dry-run",
        "    tarmac deploys diff 'Sales ETL' 1 3",
        f"  Insight:  {url}/ui/insight (DORA figures), compare views from the history",
        f"  Data:     {data_dir}",
        "Press Ctrl+C to stop.",
    ]
    for line in lines:
        # soft_wrap: never break a line the user will copy in the middle of a path
        console.print(line, soft_wrap=True, highlight=False)
    runtime = _start_demo_runtime(url, token, data_dir) if airflow else None
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
