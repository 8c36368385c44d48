"""``tarmac agent``: keep a DAGs folder on a Deployment's live DAG bundle."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer


def agent(
    server: Annotated[str, typer.Option("--server", envvar="TARMAC_SERVER", help="Server URL.")],
    token: Annotated[
        str,
        typer.Option(
            "--token",
            envvar="TARMAC_TOKEN",
            help="Agent token (tarmac token create --agent-for DEPLOYMENT); prefer the env var.",
        ),
    ],
    deployment: Annotated[str, typer.Option("--deployment", help="Deployment id.")],
    dags_folder: Annotated[
        Path, typer.Option("--dags-folder", help="The symlink to keep on the live DAGs.")
    ],
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Unpacked bundles (default: beside the DAGs folder)."),
    ] = None,
    keep: Annotated[int, typer.Option("--keep", min=1, help="Bundles kept unpacked.")] = 10,
    once: Annotated[bool, typer.Option("--once", help="Sync once and exit.")] = False,
    wait_seconds: Annotated[
        float, typer.Option("--wait-seconds", min=1, max=60, help="Long-poll duration.")
    ] = 30.0,
    airflow_database_url: Annotated[
        str | None,
        typer.Option(
            "--airflow-database-url",
            envvar="TARMAC_AIRFLOW_DATABASE_URL",
            help="Airflow 2.10+'s metadata database: after a switch, the changed DAG files"
            " go first in its parse queue (docs/agent.md). Prefer the env var.",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Keep --dags-folder on the Deployment's live DAGs (long polling; exits on SIGTERM)."""
    from tarmac.agent.folder import NotASymlink
    from tarmac.agent.runner import RETRYABLE, Agent, AgentConfig, default_cache_dir
    from tarmac.agent.stopping import StopSignal

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per request would drown the switches; errors still surface as retries.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    folder = dags_folder.absolute()
    config = AgentConfig(
        server_url=server,
        token=token,
        deployment_id=deployment,
        dags_folder=folder,
        cache_dir=(cache_dir or default_cache_dir(folder)).absolute(),
        keep=keep,
        wait_seconds=wait_seconds,
        airflow_database_url=airflow_database_url or None,
    )
    runner = Agent(config)
    try:
        if once:
            switch = runner.sync_once()
            if switch is None:
                typer.echo(f"{folder} is already on the live deploy")
            return
        stop = StopSignal()
        restore = stop.install()
        try:
            runner.run(stop)
        finally:
            restore()
    except NotASymlink as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    except RETRYABLE as exc:  # only --once gives up; the loop retries these
        typer.echo(f"error: could not sync {folder}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        runner.close()
