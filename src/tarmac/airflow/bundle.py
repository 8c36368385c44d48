"""``TarmacDagBundle``: an Airflow 3 DAG bundle whose versions are tarmac deploys.

Configure it in ``[dag_processor] dag_bundle_config_list``::

    [{"name": "dags", "classpath": "tarmac.airflow.bundle.TarmacDagBundle",
      "kwargs": {"server_url": "https://tarmac.example.com",
                 "deployment_id": "…", "token_env": "TARMAC_TOKEN"}}]

The DAG processor's instance (no version) follows the live deploy: ``refresh()`` asks the
server which deploy is live and swaps a symlink to its unpacked bundle. Airflow records
that deploy's id as the bundle version of each DAG run, and a worker asked for a version
gets ``versions/<deploy id>``, which stays readable after newer deploys (or a rollback)
go live, so a run finishes on the code it started with. tarmac's cleanup keeps such a
deploy while runs need it: each task reports its version as it starts, and the DAG
processor renews the versions of every queued or running run (``runs_in_use.py``).

Between refreshes a thread of the DAG processor long polls the server
(``live_watch.py``): a deploy or rollback is unpacked as it commits, and the DAG
processor is asked to refresh and parse the changed files in its next loop.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from airflow.dag_processing.bundles.base import BaseDagBundle
from airflow.exceptions import AirflowException

from tarmac.agent.cache import BundleCache
from tarmac.agent.client import AgentRejected, LiveCodeClient, ServerUnavailable
from tarmac.agent.folder import LiveFolder
from tarmac.airflow.live_watch import LiveWatch
from tarmac.airflow.parse_requests import BundleParseRequests
from tarmac.airflow.runs_in_use import InUseRenewer, versions_of_unfinished_runs
from tarmac.airflow.version_dirs import ensure_version_dir

DEFAULT_REFRESH_INTERVAL_SECONDS = 2
"""How often the DAG processor asks which deploy is live, unless ``refresh_interval`` says."""

log = logging.getLogger(__name__)


class TarmacDagBundle(BaseDagBundle):  # type: ignore[misc]  # Airflow has no type hints here
    """DAGs from a tarmac server: versions are deploy ids, the live one is tracked."""

    supports_versioning = True

    def __init__(
        self,
        *,
        server_url: str,
        deployment_id: str,
        token: str | None = None,
        token_env: str = "TARMAC_TOKEN",
        token_file: str | None = None,
        keep: int = 10,
        version_in_use_hours: float = 24.0,
        watch: bool = True,
        **kwargs: Any,
    ) -> None:
        # Asking tarmac which deploy is live is one small GET: ask every few seconds
        # rather than Airflow's default 300 s, so a deploy or rollback shows up at once.
        kwargs.setdefault("refresh_interval", DEFAULT_REFRESH_INTERVAL_SECONDS)
        super().__init__(**kwargs)
        self.server_url = server_url
        self.deployment_id = deployment_id
        self.version_in_use_seconds = max(60, int(version_in_use_hours * 3600))
        self._token = token or _read_token(token_env=token_env, token_file=token_file)
        self._client: LiveCodeClient | None = None
        root = Path(self.base_dir) / "tarmac"
        cache = BundleCache(root=root, fetch=self._download)
        # After a switch the changed files go first in the DAG processor's queue.
        reparse = BundleParseRequests(bundle_name=self.name)
        self._folder = LiveFolder(link=root / "dags", cache=cache, keep=keep, reparse=reparse)
        # refresh() and the watch's preparing never run at once (Airflow's lock() is
        # per process, not per thread).
        self._switching = threading.Lock()
        self._watch = (
            LiveWatch(
                client=self._new_client,
                folder=self._folder,
                reparse=reparse,
                switching=self._switching,
            )
            if watch
            else None
        )
        self._renewer = InUseRenewer(
            seconds=self.version_in_use_seconds,
            find=lambda: versions_of_unfinished_runs(self.name),
            report=lambda version, seconds: self.client.report_in_use(version, seconds=seconds),
        )

    @property
    def path(self) -> Path:
        """``versions/<deploy id>`` for a version, else the symlink to the live deploy."""
        if self.version:
            return Path(self.versions_dir) / str(self.version)
        return self._folder.link

    def get_current_version(self) -> str | None:
        """The tarmac deploy id whose DAGs ``path`` holds."""
        if self.version:
            return str(self.version)
        shown = self._folder.shown()
        return shown.deploy_id if shown else None

    def initialize(self) -> None:
        with self.lock():
            if self.version:
                self._materialise_version(self.version)
                self._report_in_use(str(self.version))
            elif self._folder.shown() is None:
                with self._switching:
                    self._follow_live()
        super().initialize()

    def refresh(self) -> None:
        if self.version:
            raise AirflowException("a versioned tarmac bundle does not refresh")
        with self.lock(), self._switching:
            self._follow_live()
        # Only the DAG processor refreshes the live bundle: from now on it hears of a
        # deploy or rollback as the server commits it, not at its next refresh_interval.
        if self._watch is not None:
            self._watch.start()
        # The DAG processor refreshes every few seconds: keep what unfinished runs read.
        self._renewer.renew()

    def _follow_live(self) -> None:
        live = self.client.current()
        assert live is not None  # asked without an ETag
        self._folder.switch_to(live)

    def _materialise_version(self, deploy_id: str) -> None:
        target = self.path
        if target.is_dir():
            return
        dags = self.client.deploy_dags(deploy_id)
        source = self._folder.cache.ensure(dags.bundle_sha256)
        ensure_version_dir(source=source, target=target)

    def _report_in_use(self, deploy_id: str) -> None:
        """Each task of a run on this version reports it as it starts (and the DAG
        processor renews it while the run is unfinished): cleanup keeps the deploy meanwhile.

        Best effort: a task never fails because the report could not be sent.
        """
        try:
            self.client.report_in_use(deploy_id, seconds=self.version_in_use_seconds)
        except (ServerUnavailable, AgentRejected) as exc:
            log.warning("could not report bundle version %s in use: %s", deploy_id, exc)

    @property
    def client(self) -> LiveCodeClient:
        # Made on first use: Airflow builds bundles (e.g. for view_url) that never fetch.
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> LiveCodeClient:
        return LiveCodeClient(
            server_url=self.server_url, token=self._token, deployment_id=self.deployment_id
        )

    def _download(self, sha256: str, path: Path) -> None:
        self.client.download(sha256, into=path)

    def __repr__(self) -> str:
        return f"TarmacDagBundle(name={self.name}, deployment_id={self.deployment_id})"


def _read_token(*, token_env: str, token_file: str | None) -> str:
    if token_file:
        return Path(token_file).read_text().strip()
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise AirflowException(
            f"TarmacDagBundle needs an agent token: set ${token_env} or the token_file kwarg"
        )
    return token
