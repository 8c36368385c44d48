"""Where the CLI finds its server and token: flags, environment, or ``tarmac login``'s file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:8080"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tarmac" / "config.json"


@dataclass(frozen=True)
class ClientConfig:
    server: str
    token: str | None


def resolve_client_config(*, server: str | None, token: str | None) -> ClientConfig:
    """Flags win over TARMAC_SERVER / TARMAC_TOKEN, which win over the login file."""
    saved: dict[str, str] = {}
    path = config_path()
    if path.exists():
        saved = json.loads(path.read_text())
    return ClientConfig(
        server=(
            server or os.environ.get("TARMAC_SERVER") or saved.get("server") or DEFAULT_SERVER
        ).rstrip("/"),
        token=token or os.environ.get("TARMAC_TOKEN") or saved.get("token"),
    )


def save_login(*, server: str, token: str) -> Path:
    """Write the login file readable by its owner only."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"server": server.rstrip("/"), "token": token}, handle)
    os.replace(tmp, path)
    return path
