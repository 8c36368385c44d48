"""The web UI: server-rendered pages under ``/ui`` that call the same services as the API."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from tarmac.access.login_throttle import LoginThrottle
from tarmac.ui.pages import deployments, history, insight, login, rollback, settings, webhooks


def install_ui(app: FastAPI) -> None:
    """Add the UI's pages and its static files (CSS, a little JavaScript) to ``app``."""
    app.state.login_throttle = LoginThrottle()
    for page in (login, deployments, history, rollback, settings, insight, webhooks):
        app.include_router(page.router)
    static = resources.files("tarmac.ui").joinpath("static")
    app.mount("/ui/static", StaticFiles(directory=str(static)), name="ui-static")
    favicon = str(static.joinpath("favicon.svg"))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon_ico() -> FileResponse:
        """Browsers ask for it before reading the page's ``<link rel=icon>``."""
        return FileResponse(favicon, media_type="image/svg+xml")
