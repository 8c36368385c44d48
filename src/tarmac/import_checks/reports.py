"""What the import check found in one bundle under one Airflow version, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ERROR_LINES = 8
"""How many lines of each error a refusal and the history show (the traceback's tail)."""


@dataclass(frozen=True)
class ImportReport:
    """DAG ids (with the file that defines each) and import errors (file → text)."""

    airflow_version: str
    dags: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Load-dependent (a timeout): shown, but never cached as the bundle's truth.
    cacheable: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"airflow_version": self.airflow_version, "dags": self.dags, "errors": self.errors}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportReport:
        return cls(
            airflow_version=str(data["airflow_version"]),
            dags={str(k): str(v) for k, v in dict(data.get("dags") or {}).items()},
            errors={str(k): str(v) for k, v in dict(data.get("errors") or {}).items()},
        )


def error_lines(text: str, *, lines: int = ERROR_LINES) -> str:
    """The last ``lines`` non-empty lines of a traceback: where it failed and why."""
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def errors_list(errors: dict[str, str]) -> list[dict[str, str]]:
    """``[{file, error}]`` sorted by file, each error cut to its telling lines."""
    return [{"file": path, "error": error_lines(errors[path])} for path in sorted(errors)]
