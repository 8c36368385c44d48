"""Which Airflow checks a bundle, and the cache of what it found (bundle sha256 + Airflow).

Results live in ``<data-dir>/import-checks/<airflow version>/<sha256>.json``: a bundle
is immutable, so its report under one Airflow version never changes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tarmac.bundles.durable import write_json_atomically
from tarmac.import_checks.reports import ImportReport
from tarmac.import_checks.runner import ProbeFailed, run_probe
from tarmac.local_runtime.deploy_requirements import (
    DeployRequirementsInvalid,
    read_deploy_requirements,
)
from tarmac.local_runtime.environments import (
    EnvironmentBuildFailed,
    EnvironmentCache,
    EnvironmentSpec,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    """The check could not run; ``reason`` says why (recorded on the deploy, never hidden)."""

    reason: str


class ImportChecker:
    """Parses bundles with the environment built for each Airflow version."""

    def __init__(
        self,
        *,
        environments: EnvironmentCache,
        results_dir: Path,
        build_environments: bool,
        timeout_seconds: float,
        file_timeout_seconds: float,
    ) -> None:
        self.environments = environments
        self.results_dir = results_dir
        self.build_environments = build_environments
        self.timeout_seconds = timeout_seconds
        self.file_timeout_seconds = file_timeout_seconds

    def cached(self, *, bundle_sha256: str, airflow_version: str) -> ImportReport | None:
        try:
            data = json.loads(self._result_path(bundle_sha256, airflow_version).read_text())
            return ImportReport.from_json(data)
        except (OSError, ValueError, KeyError):
            return None

    def check(
        self,
        *,
        bundle_sha256: str,
        airflow_version: str,
        folder: Callable[[], Path],
        build: bool | None = None,
    ) -> ImportReport | Skipped:
        """The report for the bundle (``folder()`` unpacks it) under ``airflow_version``."""
        found = self.cached(bundle_sha256=bundle_sha256, airflow_version=airflow_version)
        if found is not None:
            return found
        unpacked = folder()
        try:
            # The deploy's own requirements.txt: its DAGs may import what it installs.
            requirements = read_deploy_requirements(unpacked)
        except DeployRequirementsInvalid as exc:
            return Skipped(str(exc))
        spec = EnvironmentSpec(airflow_version=airflow_version, deploy_requirements=requirements)
        environment = self.environments.find(spec)
        if environment is None:
            if not (self.build_environments if build is None else build):
                return Skipped(
                    f"no Airflow {airflow_version} environment is built on the server host"
                    " and building on demand is off (TARMAC_IMPORT_CHECK_BUILD_ENVIRONMENTS)"
                )
            try:
                environment = self.environments.ensure(spec, progress=log.info)
            except EnvironmentBuildFailed as exc:
                return Skipped(f"could not build an Airflow {airflow_version} environment: {exc}")
        try:
            report = run_probe(
                environment,
                unpacked,
                timeout_seconds=self.timeout_seconds,
                file_timeout_seconds=self.file_timeout_seconds,
            )
        except ProbeFailed as exc:
            return Skipped(str(exc)[:2000])
        if report.cacheable:
            self._remember(bundle_sha256, airflow_version, report)
        return report

    def _remember(self, bundle_sha256: str, airflow_version: str, report: ImportReport) -> None:
        path = self._result_path(bundle_sha256, airflow_version)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomically(path, report.to_json())
        except OSError:  # only a cache: the next deploy of this bundle checks again
            log.exception("could not cache the import check of %s", bundle_sha256)

    def _result_path(self, bundle_sha256: str, airflow_version: str) -> Path:
        safe_version = "".join(c for c in airflow_version if c.isalnum() or c in ".-+")
        return self.results_dir / safe_version / f"{bundle_sha256}.json"
