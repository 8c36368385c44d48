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
    settings = load_settings(
        data_dir=data_dir,
        values_file=values,
        bootstrap_token=token,
        import_check_build_environments=build,
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
    console.print(f"  Data:     {data_dir.resolve()}\nPress Ctrl+C to stop.")
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join(10)
