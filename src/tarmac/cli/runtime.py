"""``tarmac runtime …``: run a Deployment's real Airflow here; ``tarmac snapshots …``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from tarmac.cli.context import (
    OutputOption,
    ServerOption,
    TokenOption,
    api_errors,
    deployment_client,
)
from tarmac.cli.output import OutputFormat, console, emit

app = typer.Typer(help="Run a Deployment's real Airflow on this host.", no_args_is_help=True)
snapshots_app = typer.Typer(help="Metadata database snapshots.", no_args_is_help=True)

EnvCacheOption = Annotated[
    Path | None,
    typer.Option("--env-cache", help="Airflow environments (default ~/.cache/tarmac/runtimes)."),
]


@app.command("run")
def run(
    server: Annotated[str, typer.Option("--server", envvar="TARMAC_SERVER", help="Server URL.")],
    token: Annotated[
        str,
        typer.Option(
            "--token", envvar="TARMAC_TOKEN", help="A Deployment or System Admin's token."
        ),
    ],
    deployment: Annotated[str, typer.Option("--deployment", help="Deployment id or name.")],
    home: Annotated[Path, typer.Option("--home", help="This Deployment's folder on this host.")],
    env_cache: EnvCacheOption = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--metadata-db-url",
            envvar="TARMAC_RUNTIME_METADATA_DB_URL",
            help="Airflow metadata database (default: SQLite in --home).",
        ),
    ] = None,
    web_port: Annotated[
        int | None, typer.Option("--web-port", help="API server / webserver port (loopback).")
    ] = None,
    components: Annotated[
        str | None,
        typer.Option(
            "--components",
            help="Comma-separated: scheduler,dag-processor,api-server,triggerer (default all).",
        ),
    ] = None,
    health_timeout: Annotated[
        float, typer.Option("--health-timeout", min=5, help="Seconds to wait for healthy.")
    ] = 300.0,
    downgrade_repairs: Annotated[
        bool,
        typer.Option(
            "--downgrade-repairs/--no-downgrade-repairs",
            envvar="TARMAC_RUNTIME_DOWNGRADE_REPAIRS",
            help="Repair what Airflow's own downgrade is known to fail on (the plan names it).",
        ),
    ] = True,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the Deployment's Airflow here and keep it on the live deploy until SIGTERM."""
    from tarmac.agent.stopping import StopSignal
    from tarmac.local_runtime.environments import default_cache_root
    from tarmac.local_runtime.runner import RuntimeConfig, RuntimeRunner

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with api_errors():
        _client, deployment_id = deployment_client(deployment, server=server, token=token)
    config = RuntimeConfig(
        server_url=server,
        token=token,
        deployment_id=deployment_id,
        home=home.absolute(),
        env_cache=(env_cache or default_cache_root()).absolute(),
        database_url=database_url,
        web_port=web_port,
        components=tuple(c.strip() for c in components.split(",")) if components else None,
        health_timeout_seconds=health_timeout,
        downgrade_repairs=downgrade_repairs,
    )
    runner = RuntimeRunner(config)
    stop = StopSignal()
    restore = stop.install()
    try:
        runner.run(stop)
    finally:
        restore()


@app.command("prepare")
def prepare(
    airflow_or_runtime: Annotated[
        str, typer.Argument(help="A runtime version (12.11.0, 3.1-8) or an Airflow version.")
    ],
    env_cache: EnvCacheOption = None,
    requirements: Annotated[
        Path | None,
        typer.Option(
            "--requirements",
            help="A deploy's requirements.txt: build Airflow plus these (as its deploy would).",
        ),
    ] = None,
    postgres: Annotated[
        bool,
        typer.Option(
            "--postgres",
            help="For a PostgreSQL metadata database (`run --metadata-db-url`): adds its driver.",
        ),
    ] = False,
) -> None:
    """Build the Airflow environment of a runtime ahead of time (about a minute, once)."""
    from tarmac.local_runtime.airflow_settings import database_driver_requirements
    from tarmac.local_runtime.deploy_requirements import (
        DeployRequirementsInvalid,
        parse_requirements,
    )
    from tarmac.local_runtime.environments import (
        EnvironmentBuildFailed,
        EnvironmentCache,
        EnvironmentSpec,
        default_cache_root,
    )
    from tarmac.runtimes.catalog import load_runtime_catalog

    catalog = load_runtime_catalog()
    entry = catalog.find(airflow_or_runtime)
    airflow_version = entry.airflow_version if entry else airflow_or_runtime
    try:
        deploy_requirements = (
            parse_requirements(requirements.read_text()) if requirements is not None else ()
        )
    except (OSError, UnicodeDecodeError, DeployRequirementsInvalid) as exc:
        console.print(f"[red]error[/red]: {exc}", highlight=False)
        raise typer.Exit(code=1) from None
    cache = EnvironmentCache((env_cache or default_cache_root()).absolute())
    with console.status(f"preparing Airflow {airflow_version}") as status:
        try:
            environment = cache.ensure(
                EnvironmentSpec(
                    airflow_version=airflow_version,
                    extra_requirements=database_driver_requirements(
                        airflow_version, sqlite=not postgres
                    ),
                    deploy_requirements=deploy_requirements,
                ),
                progress=lambda message: status.update(message),
            )
        except EnvironmentBuildFailed as exc:
            console.print(f"[red]error[/red]: {exc}", highlight=False)
            raise typer.Exit(code=1) from None
    console.print(f"Airflow {airflow_version}: {environment.path}", highlight=False)


@app.command("status")
def status(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """What really runs: the deploy reached, the Airflow version running, health."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        data = client.get(f"/api/v1/deployments/{deployment_id}/runtime")
    if output is OutputFormat.JSON:
        emit(data, output=output, columns=[])
        return
    console.print(describe_runtime(data), highlight=False)


@app.command("logs")
def logs(
    home: Annotated[Path, typer.Option("--home", help="The folder given to `runtime run`.")],
    component: Annotated[
        str,
        typer.Argument(
            help="scheduler, dag-processor, api-server, webserver, triggerer, migrations"
        ),
    ],
    lines: Annotated[int, typer.Option("--lines", "-n", min=1)] = 50,
) -> None:
    """The last lines of one component's log on this host."""
    path = home / "logs" / f"{component}.log"
    if not path.exists():
        console.print(f"[red]error[/red]: no log at {path}", highlight=False)
        raise typer.Exit(code=1)
    for line in path.read_text(errors="replace").splitlines()[-lines:]:
        print(line)


@snapshots_app.command("list")
def list_snapshots(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Metadata database snapshots, newest first, with their size."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        data = client.get(f"/api/v1/deployments/{deployment_id}/snapshots")
    emit(
        data["items"] if output is OutputFormat.TABLE else data,
        output=output,
        columns=["id", "deploy_id", "airflow_version", "size_bytes", "created_at", "restored_at"],
        title="Metadata snapshots",
    )


@snapshots_app.command("restore")
def restore_snapshot(
    deployment: Annotated[str, typer.Argument(help="Deployment id or name.")],
    snapshot_id: Annotated[str, typer.Argument(help="Snapshot id (tarmac snapshots list).")],
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Ask the runtime side to restore a snapshot (System or Deployment Admin)."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        data = client.post(f"/api/v1/deployments/{deployment_id}/snapshots/{snapshot_id}/restore")
    if output is OutputFormat.JSON:
        emit(data, output=output, columns=[])
    else:
        console.print(f"restore of snapshot {snapshot_id} requested: {data['message']}")


def describe_runtime(data: dict[str, object]) -> str:
    """One honest line: what the record says and what really runs."""
    if not data.get("reported_at"):
        return "no runtime side has reported: nothing is known about what runs"
    if data.get("state") == "stopped":
        reached = data.get("reached_deploy_id")
        line = (
            f"runtime stopped: nothing runs (last reached deploy {reached})"
            if reached
            else ("runtime stopped: nothing runs")
        )
        return line + (f" ({data['message']})" if data.get("message") else "")
    components = data.get("components")
    items = components if isinstance(components, list) else []
    unhealthy = [c["name"] for c in items if isinstance(c, dict) and not c.get("healthy")]
    health = (
        "healthy"
        if components and not unhealthy
        else (f"unhealthy: {', '.join(unhealthy)}" if unhealthy else "no components running")
    )
    line = (
        f"runtime {data.get('state')}: deploy {data.get('reached_deploy_id') or '-'} reached, "
        f"Airflow {data.get('airflow_version') or '?'} running, {health}"
    )
    if data.get("rollout_deploy_id"):
        line += f"; rolling out deploy {data['rollout_deploy_id']}"
        if data.get("message"):
            line += f" ({data['message']})"
    if data.get("error"):
        line += f"\nerror: {data['error']}"
    errors = data.get("import_errors")
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict):
            mark = "new " if item.get("new") else ""
            last = str(item.get("error") or "").strip().splitlines()[-1:] or ["?"]
            line += f"\n{mark}import error: {item.get('file')}: {last[0]}"
    return line
