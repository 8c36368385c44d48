"""The ``tarmac`` command: assembles the sub-commands."""

from __future__ import annotations

import typer

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
from tarmac.cli.rollback import rollback
from tarmac.cli.server import server

app = typer.Typer(
    help="tarmac: deploy and roll back Apache Airflow Deployments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
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
