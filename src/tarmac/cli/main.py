"""The ``tarmac`` command: assembles the sub-commands."""

from __future__ import annotations

import sys
from typing import Any

import typer

# Typer vendors click; its ClickException is the base of every usage error.
from typer._click.exceptions import ClickException

from tarmac.cli import (
    cleanup,
    deploy_diff,
    deployments,
    deploys,
    insight,
    pins,
    runtime,
    runtimes,
    safe_ops,
    users,
)
from tarmac.cli.agent import agent
from tarmac.cli.demo import demo
from tarmac.cli.output import OutputFormat, print_json, remember_output
from tarmac.cli.rollback import rollback
from tarmac.cli.server import server


class TarmacApp(typer.Typer):
    """The ``tarmac`` command; with ``--output json`` even a usage error is JSON on stdout."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not asks_for_json(sys.argv[1:]):
            return super().__call__(*args, **kwargs)
        try:
            code = super().__call__(*args, standalone_mode=False, **kwargs)
        except ClickException as exc:
            print_json({"error": {"code": "invalid_request", "message": exc.format_message()}})
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def asks_for_json(argv: list[str]) -> bool:
    following = [*argv[1:], ""]
    return any(
        arg in ("--output=json", "-ojson") or (arg in ("--output", "-o") and nxt == "json")
        for arg, nxt in zip(argv, following[: len(argv)], strict=True)
    )


app = TarmacApp(
    help="tarmac: deploy and roll back Apache Airflow Deployments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _each_invocation() -> None:
    # Commands without --output render for people, whatever ran before in this process.
    remember_output(OutputFormat.TABLE)


app.command("server")(server)
app.command("agent")(agent)
app.command("demo")(demo)
app.command("login")(users.login)
app.command("deploy")(deploys.deploy)
app.command("rollback")(rollback)
app.add_typer(deployments.app, name="deployment")
app.add_typer(deploys.app, name="deploys")
deploys.app.command("pin")(pins.pin)
deploys.app.command("unpin")(pins.unpin)
deploys.app.command("mark-bad")(safe_ops.mark_bad)
deploys.app.command("unmark-bad")(safe_ops.unmark_bad)
app.add_typer(safe_ops.hold_app, name="hold")
deploys.app.command("diff")(deploy_diff.diff)
app.command("cleanup-deploy-revisions")(cleanup.cleanup_deploy_revisions)
app.add_typer(users.user_app, name="user")
app.add_typer(users.token_app, name="token")
app.add_typer(runtimes.app, name="runtimes")
app.add_typer(runtime.app, name="runtime")
app.add_typer(runtime.snapshots_app, name="snapshots")
app.command("status")(runtime.status)
app.command("stats")(insight.stats)
app.add_typer(insight.webhooks_app, name="webhooks")
