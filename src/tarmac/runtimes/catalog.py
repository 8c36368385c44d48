"""The runtime catalog: which runtimes exist, their Airflow version, and which are restricted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tarmac.errors import ConfigurationError, UnknownRuntimeVersion
from tarmac.runtimes.versions import (
    MINIMUM_ROLLBACK_AIRFLOW,
    is_runtime_version_syntax,
    parse_airflow_version,
    runtime_parts,
)


@dataclass(frozen=True)
class RuntimeVersion:
    """One runtime release."""

    version: str
    airflow_version: str
    restricted: bool
    restricted_reason: str | None

    @property
    def sort_key(self) -> tuple[tuple[int, int, int], tuple[int, ...]]:
        """Orders runtimes by Airflow version first: 12.x (2.10) comes before 3.0-1 (3.0)."""
        return parse_airflow_version(self.airflow_version), runtime_parts(self.version)

    @property
    def supports_rollback(self) -> bool:
        """Rule 5: runtime 5.0.0 (Airflow 2.3.0) or later."""
        return parse_airflow_version(self.airflow_version) >= MINIMUM_ROLLBACK_AIRFLOW


class RuntimeCatalog:
    """An immutable set of runtime versions, newest last."""

    def __init__(self, versions: list[RuntimeVersion]) -> None:
        self._by_version = {v.version: v for v in versions}
        self.items = sorted(versions, key=lambda v: v.sort_key)

    def get(self, version: str) -> RuntimeVersion:
        """The catalog entry of ``version``, or 400 ``unknown_runtime_version``."""
        try:
            return self._by_version[version]
        except KeyError:
            raise UnknownRuntimeVersion(
                f"runtime version {version!r} is not in the runtime catalog"
                " (GET /api/v1/runtimes, or `tarmac runtimes list`, lists it)",
                runtime_version=version,
            ) from None

    def find(self, version: str) -> RuntimeVersion | None:
        return self._by_version.get(version)

    def compare(self, left: str, right: str) -> int:
        """-1, 0 or 1 as runtime ``left`` is older than, equal to or newer than ``right``."""
        a, b = self.get(left).sort_key, self.get(right).sort_key
        return (a > b) - (a < b)


def load_runtime_catalog(path: Path | None = None) -> RuntimeCatalog:
    """The shipped catalog, or the installation's replacement file at ``path``."""
    try:
        if path is None:
            text = resources.files("tarmac.runtimes").joinpath("data/runtimes.json").read_text()
        else:
            text = path.read_text(encoding="utf-8")
        document = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read runtime catalog {path or '(shipped)'}: {exc}"
        ) from exc
    return RuntimeCatalog(_parse_catalog(document, source=str(path or "shipped catalog")))


def _parse_catalog(document: Any, *, source: str) -> list[RuntimeVersion]:
    entries = document.get("runtimeVersions") if isinstance(document, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise ConfigurationError(f"{source}: expected a non-empty 'runtimeVersions' mapping")
    versions = []
    for version, entry in entries.items():
        metadata = entry.get("metadata") if isinstance(entry, dict) else None
        if not is_runtime_version_syntax(version) or not isinstance(metadata, dict):
            raise ConfigurationError(f"{source}: bad runtime entry {version!r}")
        airflow_version = metadata.get("airflowVersion")
        try:
            parse_airflow_version(str(airflow_version))
        except ValueError:
            raise ConfigurationError(
                f"{source}: runtime {version} has no valid airflowVersion"
            ) from None
        yanked = bool(metadata.get("yanked", False))
        reason = metadata.get("yankedReason")
        versions.append(
            RuntimeVersion(
                version=version,
                airflow_version=str(airflow_version),
                restricted=yanked,
                restricted_reason=str(reason) if yanked and reason else None,
            )
        )
    return versions
