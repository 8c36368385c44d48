"""``tarmac server``: run the API server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tarmac.errors import ConfigurationError


def server(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Default: ./tarmac-data")
    ] = None,
    values: Annotated[Path | None, typer.Option("--values", help="values.yaml with flags")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the tarmac server (migrates the database first)."""
    import uvicorn

    from tarmac.api.app import create_app
    from tarmac.db.engine import check_database
    from tarmac.installation.context import open_blob_store
    from tarmac.installation.values import load_values_file
    from tarmac.runtimes.catalog import load_runtime_catalog
    from tarmac.settings import load_settings

    settings = load_settings(data_dir=data_dir, values_file=values)
    try:
        # Fail fast, with one clear line, before binding the port.
        load_values_file(settings.values_file)
        load_runtime_catalog(settings.runtime_catalog_file)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        check_database(settings.effective_database_url())
        open_blob_store(settings)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    uvicorn.run(create_app(settings, freeze_heap=True), host=host, port=port, log_level=log_level)
