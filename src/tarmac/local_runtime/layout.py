"""Where one Deployment's runtime keeps its things under ``--home``."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuntimeHome:
    """``<home>/``: the DAGs link, Airflow's home, logs, snapshots and the journal."""

    root: Path

    @property
    def dags(self) -> Path:
        return self.root / "dags"

    @property
    def bundle_cache(self) -> Path:
        return self.root / "bundle-cache"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def command_record(self) -> Path:
        """The process group of the ``airflow db …`` command running now, if any."""
        return self.run / "airflow-command.json"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def journal(self) -> Path:
        return self.root / "rollout.json"

    def sqlite_url(self) -> str:
        return f"sqlite:///{self.airflow_home / 'airflow.db'}"

    def component_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def ports(self) -> dict[str, int]:
        """Loopback ports chosen once for this home (web, worker and triggerer log servers).

        Kept across restarts; never Airflow's defaults, so that two Deployments (or another
        Airflow) on one host do not collide.
        """
        path = self.root / "ports.json"
        try:
            data = json.loads(path.read_text())
            return {key: int(data[key]) for key in ("web", "worker_logs", "trigger_logs")}
        except (OSError, ValueError, KeyError):
            pass
        import socket

        sockets = [socket.socket() for _ in range(3)]
        try:
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            web, worker_logs, trigger_logs = (int(s.getsockname()[1]) for s in sockets)
        finally:
            for sock in sockets:
                sock.close()
        ports = {"web": web, "worker_logs": worker_logs, "trigger_logs": trigger_logs}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ports))
        return ports

    def prepare(self) -> None:
        for path in (self.airflow_home, self.logs, self.run, self.snapshots):
            path.mkdir(parents=True, exist_ok=True)

    def airflow_secrets(self) -> dict[str, str]:
        """Keys every component and every Airflow version must share, made once (mode 0600)."""
        path = self.root / "airflow-secrets.json"
        if not path.exists():
            from cryptography.fernet import Fernet

            fresh = {
                "fernet_key": Fernet.generate_key().decode(),
                "secret_key": secrets.token_urlsafe(32),
                "jwt_secret": secrets.token_urlsafe(32),
            }
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(fresh, handle)
        data: dict[str, str] = json.loads(path.read_text())
        return data
