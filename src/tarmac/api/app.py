"""Build the FastAPI application for one installation."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tarmac import __version__
from tarmac.access import routes as access_routes
from tarmac.access.service import bootstrap_admin
from tarmac.api.errors import install_error_handlers
from tarmac.api.request_guard import BodyPace, RequestGuardMiddleware
from tarmac.cleanup import routes as cleanup_routes
from tarmac.cleanup.schedule import daily_cleanup
from tarmac.deployments import routes as deployment_routes
from tarmac.deploys import blob_routes, live_notifications, pin_routes
from tarmac.deploys import routes as deploy_routes
from tarmac.deploys.recovery import recover_deploys
from tarmac.deploys.upload_slots import UploadSlots
from tarmac.events.exporter import exporting_events
from tarmac.insight import routes as insight_routes
from tarmac.installation import routes as installation_routes
from tarmac.installation.context import Installation, open_installation
from tarmac.metrics import TarmacMetrics
from tarmac.metrics import routes as metrics_routes
from tarmac.rollbacks import routes as rollback_routes
from tarmac.rollouts import routes as rollout_routes
from tarmac.runtimes import routes as runtime_routes
from tarmac.safe_ops import routes as safe_ops_routes
from tarmac.settings import Settings
from tarmac.ui import install_ui
from tarmac.webhooks import routes as webhook_routes
from tarmac.webhooks.dispatcher import dispatching_webhooks

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, freeze_heap: bool = False) -> FastAPI:
    """The app; the installation (database, stores) opens when the app starts.

    ``freeze_heap`` (``tarmac server`` sets it) moves everything alive once the app has
    started into the collector's permanent generation: a full collection then no longer
    scans the startup heap, which made one request in a few hundred wait ~100 ms
    (``bench/history_listing.py``). A process that builds many apps (the tests) leaves it
    off, or their cyclic garbage would never be collected.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        installation = open_installation(settings)
        app.state.installation = installation
        app.state.upload_slots = UploadSlots(
            per_user=settings.max_uploads_per_user, total=settings.max_uploads_in_flight
        )
        engine = installation.database.engine
        app.state.metrics = TarmacMetrics(
            engine=engine, export_enabled=bool(settings.elasticsearch_url)
        )
        try:
            with installation.database.subscribed(app.state.metrics.on_event):
                start_installation(installation)
                with (
                    exporting_events(settings=settings, engine=engine),
                    daily_cleanup(installation),
                    dispatching_webhooks(
                        settings=settings, engine=engine, secrets=installation.secrets
                    ),
                ):
                    async with live_notifications.watching(installation.database) as watcher:
                        app.state.live_watcher = watcher
                        if freeze_heap:
                            gc.collect()
                            gc.freeze()
                        yield
        finally:
            installation.close()

    app = FastAPI(
        title="tarmac",
        version=__version__,
        description="Deploy-and-rollback control plane for Apache Airflow.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # The token is checked before a body is read; bodies are bounded in size per endpoint
    # and in pace, so no client can bloat the server or hold it with a stalled upload.
    app.add_middleware(
        RequestGuardMiddleware,
        max_upload_bytes=settings.max_bundle_upload_bytes,
        pace=BodyPace(
            min_bytes_per_second=settings.body_min_bytes_per_second,
            grace_seconds=settings.body_grace_seconds,
            idle_timeout_seconds=settings.body_idle_timeout_seconds,
        ),
    )

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in (
        installation_routes.router,
        runtime_routes.router,
        access_routes.router,
        deployment_routes.router,
        deploy_routes.router,
        blob_routes.router,
        rollback_routes.router,
        rollout_routes.router,
        pin_routes.router,
        safe_ops_routes.router,
        cleanup_routes.router,
        metrics_routes.router,
        webhook_routes.router,
        insight_routes.router,
    ):
        app.include_router(router)
    install_ui(app)
    return app


def start_installation(installation: Installation) -> None:
    """Bootstrap the first admin, recover from a crash, flush events left in the outbox."""
    with installation.database.session(write=True) as session:
        token = installation.settings.bootstrap_token
        if token and bootstrap_admin(session, token=token) is not None:
            log.info("created user admin (SYSTEM_ADMIN) with the bootstrap token")
        report = recover_deploys(session, backend=installation.runtime_backend)
        if any(report.values()):
            log.warning("recovered after a crash: %s", report)
        session.commit()
    installation.after_commit()
