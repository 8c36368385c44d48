"""Which Airflow checks a bundle, and the cache of what it found (bundle sha256 + Airflow).

Results live in ``<data-dir>/import-checks/<airflow version>/<sha256>[-<env digest>].json``:
a bundle is immutable, so its report under one Airflow version and one set of the
Deployment's environment variables never changes. The digest (sha256 of the variables,
never their values) keys the cache only; it lives beside the server's own secret key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
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

    def cached(
        self,
        *,
        bundle_sha256: str,
        airflow_version: str,
        deployment_env: Mapping[str, str] | None = None,
    ) -> ImportReport | None:
        path = self._result_path(bundle_sha256, airflow_version, deployment_env or {})
        try:
            data = json.loads(path.read_text())
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
        deployment_env: Mapping[str, str] | None = None,
    ) -> ImportReport | Skipped:
        """The report for the bundle (``folder()`` unpacks it) under ``airflow_version``,
        parsed with the Deployment's environment variables ``deployment_env``."""
        env = dict(deployment_env or {})
        found = self.cached(
            bundle_sha256=bundle_sha256, airflow_version=airflow_version, deployment_env=env
        )
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
                deployment_env=env,
            )
        except ProbeFailed as exc:
            return Skipped(str(exc)[:2000])
        if report.cacheable:
            self._remember(self._result_path(bundle_sha256, airflow_version, env), report)
        return report

    def _remember(self, path: Path, report: ImportReport) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomically(path, report.to_json())
        except OSError:  # only a cache: the next deploy of this bundle checks again
            log.exception("could not cache the import check in %s", path.name)

    def _result_path(
        self, bundle_sha256: str, airflow_version: str, deployment_env: Mapping[str, str]
    ) -> Path:
        safe_version = "".join(c for c in airflow_version if c.isalnum() or c in ".-+")
        return self.results_dir / safe_version / f"{bundle_sha256}{env_suffix(deployment_env)}.json"


def env_suffix(deployment_env: Mapping[str, str]) -> str:
    """``-<sha256 of the variables>``, or nothing when there are none (the plain bundle)."""
    if not deployment_env:
        return ""
    canonical = json.dumps(sorted(deployment_env.items()), separators=(",", ":"))
    return "-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
