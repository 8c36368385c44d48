"""``tarmac deploy`` and ``tarmac deploys list|show``: push code and read the history."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

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
    get_deploy,
)
from tarmac.cli.git_checkout import read_checkout
from tarmac.cli.output import (
    OutputFormat,
    console,
    emit_list,
    emit_record,
    errors,
    say,
    short_id,
)
from tarmac.cli.wait import wait_for_truth
from tarmac.deploys.image_refs import check_image_ref
from tarmac.errors import TarmacError

app = typer.Typer(help="Read the deploy history.", no_args_is_help=True)
T = TypeVar("T")

RECORD_FIELDS = [
    "seq",
    "id",
    "type",
    "status",
    "live",
    "rolled back to",
    "description",
    "runtime_version",
    "airflow_version",
    "image",
    "bundle_sha256",
    "dag_deploy_enabled",
    "pinned",
    "created_by",
    "created_at",
    "finished_at",
    "failure_reason",
    "marked_bad",
]
TABLE_COLUMNS = [
    "#",
    "id",
    "when",
    "by",
    "type",
    "status",
    "runtime",
    "image",
    "live",
    "bad",
    "commit",
    "rollback",
    "description",
]
# What an 80-column terminal keeps: the "#, when, description, status" and more.
NARROW_COLUMNS = ["#", "id", "when", "status", "live", "rollback", "description"]


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
        if dags is None and image is None:
            raise ApiError("give --dags, --image, or both", code="invalid_request")
        if image is not None:
            _check_locally(check_image_ref, image)
        # Everything the server would refuse by name is checked before packing a byte.
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        if runtime is not None:
            check_runtime_version(client, runtime)
        bundle = None
        if dags is not None:
            bundle = Path(scratch) / "dags.tar.gz"
            manifest = _check_locally(pack_dags_folder, dags, bundle)
            say(f"Packed {len(manifest.entries)} files from {dags}", output=output)
        result = _upload(
            client,
            deployment_id,
            form=form,
            bundle=bundle,
            show_progress=output is OutputFormat.TABLE,
        )
        deployed = with_rollback_fields(result)
        if output is OutputFormat.JSON:
            emit_record(deployed, output=output, fields=RECORD_FIELDS)
        else:
            emit_record(
                for_people(deployed, {}),
                output=output,
                fields=RECORD_FIELDS,
                title=f"Deployed #{deployed['seq']}",
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


def _check_locally(check: Callable[..., T], *args: Any) -> T:
    """Run one of the server's own checks here, its refusal rendered like the server's."""
    try:
        return check(*args)
    except TarmacError as exc:
        raise ApiError(exc.message, code=exc.code, body=exc.details) from None


def check_runtime_version(client: TarmacClient, version: str) -> None:
    """Refuse a runtime version the server's catalog does not have, before any upload."""
    known = [item["version"] for item in client.get("/api/v1/runtimes")["items"]]
    if version not in known:
        raise ApiError(
            f"runtime version {version!r} is not in the runtime catalog",
            code="unknown_runtime_version",
        )


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
            errors.print(f"[yellow]{exc.message}; retrying…[/yellow]", highlight=False)
    raise AssertionError("unreachable")


@app.command("list")
def list_(
    deployment: str,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 20,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show the deploy history, newest first; rollbacks say which deploy they brought back."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        items = [with_rollback_fields(d) for d in _history(client, deployment_id, limit=limit)]
        seqs = {d["id"]: d["seq"] for d in items}
        emit_list(
            [for_people(d, seqs) for d in items],
            output=output,
            columns=TABLE_COLUMNS,
            narrow_columns=NARROW_COLUMNS,
            title="Deploy history (rollback: the deploy whose code it brought back)",
            json_items=items,
        )


@app.command("show")
def show(
    deployment: str,
    deploy: Annotated[str, typer.Argument(help="#seq, sequence number, id or id prefix.")],
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show one deploy as a record."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        found = with_rollback_fields(
            get_deploy(client, deployment_id, deploy, deployment=deployment)
        )
        if output is OutputFormat.JSON:
            emit_record(found, output=output, fields=RECORD_FIELDS)
            return
        target = found["rolled_back_to"]
        seqs = {target: _seq_of(client, deployment_id, target)} if target else {}
        emit_record(
            {**for_people(found, seqs), "live": found["is_current"]},
            output=output,
            fields=RECORD_FIELDS,
            title=f"Deploy #{found['seq']}",
        )


def with_rollback_fields(deploy: dict[str, Any]) -> dict[str, Any]:
    """A deploy as the API returns it, with ``rolled_back_to`` even from older servers."""
    return {
        **deploy,
        "rolled_back_to": deploy.get("rolled_back_to") or deploy.get("rollback_from_id"),
    }


def for_people(deploy: dict[str, Any], seqs: dict[str, int | None]) -> dict[str, Any]:
    """A deploy with what tables and records show: short ids, live and rollback markers."""
    target = deploy.get("rolled_back_to")
    target_ref = f"#{seqs[target]}" if target and seqs.get(target) else short_id(target)
    return {
        **deploy,
        "#": deploy["seq"],
        "id": short_id(deploy["id"]),
        "when": str(deploy["created_at"])[5:16].replace("T", " "),
        "by": deploy.get("created_by"),
        "runtime": deploy["runtime_version"],
        "live": "live" if deploy.get("is_current") else "",
        "rollback": f"to {target_ref}" if target else "",
        "bad": _bad(deploy.get("marked_bad")),
        "commit": _commit_cell(deploy.get("git")),
        "rolled back to": f"{target_ref} ({short_id(target)})" if target else None,
    }


def _seq_of(client: TarmacClient, deployment_id: str, deploy_id: str) -> int | None:
    try:
        return int(client.get(f"/api/v1/deployments/{deployment_id}/deploys/{deploy_id}")["seq"])
    except ApiError:
        return None  # cleaned up since


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
