"""``tarmac deploy`` and ``tarmac deploys list|show``: push code and read the history."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from tarmac.bundles.packing import pack_dags_folder
from tarmac.cli.client import ApiError, TarmacClient
from tarmac.cli.context import (
    OutputOption,
    ServerOption,
    TokenOption,
    api_errors,
    deployment_client,
)
from tarmac.cli.git_checkout import read_checkout
from tarmac.cli.output import OutputFormat, console, emit, errors
from tarmac.cli.wait import wait_for_truth

app = typer.Typer(help="Read the deploy history.", no_args_is_help=True)

COLUMNS = [
    "seq",
    "id",
    "type",
    "status",
    "runtime_version",
    "image",
    "bundle_sha256",
    "created_by",
    "created_at",
    "description",
    "is_current",
    "rollback_from_id",
    "marked_bad",
]
TABLE_COLUMNS = [
    "seq",
    "created_at",
    "created_by",
    "type",
    "status",
    "runtime_version",
    "image",
    "bundle",
    "live",
    "bad",
    "commit",
    "description",
]


class _ProgressReader:
    """A file wrapper that advances a progress bar as httpx reads it."""

    def __init__(self, handle: BinaryIO, progress: Progress, task: Any) -> None:
        self._handle = handle
        self._progress = progress
        self._task = task

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._progress.advance(self._task, len(chunk))
        return chunk


def deploy(
    deployment: str,
    dags: Annotated[
        Path | None,
        typer.Option("--dags", help="DAGs folder to deploy.", exists=True, file_okay=False),
    ] = None,
    image: Annotated[str | None, typer.Option("--image", help="Image reference.")] = None,
    runtime: Annotated[str | None, typer.Option("--runtime", help="Runtime version.")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    allow_import_errors: Annotated[
        bool,
        typer.Option(
            "--allow-import-errors",
            help="Deploy even if DAGs fail to import in the target Airflow (admins only).",
        ),
    ] = False,
    clear_hold: Annotated[
        bool, typer.Option("--clear-hold", help="Clear the hold a rollback left (recorded).")
    ] = False,
    override_freeze: Annotated[
        str | None,
        typer.Option("--override-freeze", help="Admins: deploy inside a freeze window; why."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Return only when the runtime runs it healthy.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to --wait before giving up.", min=1)
    ] = 600.0,
    no_git: Annotated[
        bool,
        typer.Option("--no-git", help="Do not send the Git commit the code comes from."),
    ] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Deploy a DAGs folder, an image, or both, as one new deploy.

    The deploy records the Git commit of the checkout the DAGs folder (or, for an image
    deploy, the current directory) is in; ``--no-git`` leaves it out.
    """
    if dags is None and image is None:
        raise typer.BadParameter("give --dags, --image, or both")
    deploy_type = "IMAGE_AND_DAG" if dags and image else ("DAG_ONLY" if dags else "IMAGE_ONLY")
    form = {"type": deploy_type}
    for key, value in (
        ("image", image),
        ("runtime_version", runtime),
        ("description", description),
        ("freeze_override_reason", override_freeze),
    ):
        if value:
            form[key] = value
    if allow_import_errors:
        form["allow_import_errors"] = "true"
    if clear_hold:
        form["clear_hold"] = "true"
    if not no_git:
        form.update(_git_fields(dags or Path.cwd(), warn=output is OutputFormat.TABLE))
    with api_errors(), tempfile.TemporaryDirectory() as scratch:
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        bundle = None
        if dags is not None:
            bundle = Path(scratch) / "dags.tar.gz"
            manifest = pack_dags_folder(dags, bundle)
            if output is OutputFormat.TABLE:
                console.print(f"Packed {len(manifest.entries)} files from {dags}")
        result = _upload(
            client,
            deployment_id,
            form=form,
            bundle=bundle,
            show_progress=output is OutputFormat.TABLE,
        )
        emit(
            result,
            output=output,
            columns=[
                "seq",
                "id",
                "type",
                "status",
                "runtime_version",
                "image",
                "bundle_sha256",
                "description",
            ],
        )
        if wait:
            wait_for_truth(
                client,
                deployment_id,
                result,
                timeout_seconds=timeout,
                quiet=output is OutputFormat.JSON,
            )


def _git_fields(folder: Path, *, warn: bool) -> dict[str, str]:
    """The checkout's commit as form fields; says so (for people, not ``-o json``) if dirty."""
    checkout = read_checkout(folder)
    if checkout is None:
        return {}
    if checkout.dirty and warn:
        errors.print(
            f"[yellow]The Git tree is dirty: this deploy is commit {checkout.commit[:12]} "
            "plus uncommitted changes.[/yellow]"
        )
    return checkout.form_fields()


def _upload(
    client: TarmacClient,
    deployment_id: str,
    *,
    form: dict[str, str],
    bundle: Path | None,
    show_progress: bool,
) -> Any:
    # One key for every attempt, so a retry after a lost response never deploys twice.
    headers = {"Idempotency-Key": f"cli-{uuid.uuid4()}"}
    path = f"/api/v1/deployments/{deployment_id}/deploys"
    for attempt in range(3):
        try:
            if bundle is None:
                return client.post(path, data=form, headers=headers)
            with (
                bundle.open("rb") as handle,
                Progress(
                    "[progress.description]{task.description}",
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    console=console,
                    disable=not show_progress,
                    transient=True,
                ) as progress,
            ):
                task = progress.add_task("Uploading", total=bundle.stat().st_size)
                reader = _ProgressReader(handle, progress, task)
                files = {"dags": ("dags.tar.gz", reader, "application/gzip")}
                return client.post(path, data=form, files=files, headers=headers)
        except ApiError as exc:
            if exc.code not in ("unreachable", "deploy_in_progress") or attempt == 2:
                raise
            console.print(f"[yellow]{exc.message}; retrying…[/yellow]")
    raise AssertionError("unreachable")


@app.command("list")
def list_(
    deployment: str,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 20,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show the deploy history, newest first."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        items = _history(client, deployment_id, limit=limit)
        if output is OutputFormat.JSON:
            emit(items, output=output, columns=COLUMNS)
            return
        rows = [
            {
                **d,
                "bundle": (d["bundle_sha256"] or "")[:12] or None,
                "live": "live" if d["is_current"] else "",
                "bad": _bad(d.get("marked_bad")),
                "created_at": d["created_at"][:19].replace("T", " "),
                "commit": _commit_cell(d.get("git")),
            }
            for d in items
        ]
        emit(rows, output=output, columns=TABLE_COLUMNS, title="Deploy history")


@app.command("show")
def show(
    deployment: str,
    deploy: str,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show one deploy (by id or sequence number)."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        emit(find_deploy(client, deployment_id, deploy), output=output, columns=COLUMNS)


def _bad(mark: dict[str, Any] | None) -> str:
    return f"BAD ({mark['by']}: {mark['reason']})" if mark else ""


def _commit_cell(git: dict[str, Any] | None) -> str | None:
    if not git:
        return None
    short = str(git["commit"])[:10]
    if git.get("commit_url"):  # a clickable link in terminals that support them
        short = f"[link={git['commit_url']}]{short}[/link]"
    return f"{short} ({escape(git['branch'])})" if git.get("branch") else short


def _history(client: TarmacClient, deployment_id: str, *, limit: int) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while len(items) < limit:
        params: dict[str, Any] = {"limit": min(100, limit - len(items))}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"/api/v1/deployments/{deployment_id}/deploys", params=params)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    return items


def find_deploy(client: TarmacClient, deployment_id: str, ref: str) -> Any:
    """A deploy by its id, or by its sequence number (``3`` or ``#3``)."""
    return client.get(f"/api/v1/deployments/{deployment_id}/deploys/{ref.removeprefix('#')}")
