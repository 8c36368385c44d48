#!/usr/bin/env python3
"""Regenerate tarmac's catalog of Airflow metadata-database schemas.

For each supported Airflow minor version this script installs the latest patch release into
a throwaway virtualenv, lets Airflow create its metadata database on SQLite
(``airflow db migrate``, or ``airflow db init`` before 2.7), and records every table with
its sorted columns. The result is written to
``src/tarmac/rollbacks/data/airflow_schemas.json``, which
``tarmac.rollbacks.schema_catalog`` reads to tell a user which tables and columns a
downgrade erases.

Usage (from the repository root; stdlib only, Python >= 3.10)::

    python3 scripts/generate_airflow_schema_catalog.py                  # every version
    python3 scripts/generate_airflow_schema_catalog.py --versions 2.10 3.1
    python3 scripts/generate_airflow_schema_catalog.py --jobs 2 --work-dir /tmp/af-schemas
    python3 scripts/generate_airflow_schema_catalog.py --report   # Markdown table for the docs

``--versions`` regenerates only those minors and merges them into the existing file.
Each install downloads ~250 MB from PyPI and takes one to two minutes; see
``docs/airflow-schema-catalog.md`` for timings and why each version needs its pins.

Airflow's own constraint files (the supported way to install it) live on GitHub. Where
GitHub cannot be reached, the ``pins`` below stand in for them: the fewest extra
requirements that make a plain ``pip install apache-airflow==X`` produce an Airflow whose
``airflow db`` command works, because later releases of its dependencies broke it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import glob
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "src" / "tarmac" / "rollbacks" / "data" / "airflow_schemas.json"
GENERATED_BY = "scripts/generate_airflow_schema_catalog.py"


@dataclasses.dataclass(frozen=True)
class AirflowRelease:
    """How to install one Airflow release and create its metadata database."""

    minor: str
    version: str
    python: str  # "3.10": the interpreter that runs this release
    db_command: str  # "migrate" (2.7+) or "init" (older releases have no `db migrate`)
    pins: tuple[str, ...] = ()  # extra requirements that replace the constraint file


# Supported minors, latest patch release of each on PyPI. Python 3.11 runs Airflow >= 2.6.2;
# older releases need 3.10. See docs/airflow-schema-catalog.md for the reason of each pin.
_OLD_FLASK_STACK = (
    "pendulum<3",  # pendulum 3 made `pendulum.tz.timezone` a module: airflow/settings.py fails
    "flask-session<0.6",  # 0.6 removed `flask_session.sessions`, imported by airflow.www.session
    "connexion<3",  # connexion 3 dropped the Flask API airflow.www.app builds on
)  # 2.3-2.6 create the DB through a migration that builds the web app, hence the Flask stack
RELEASES: dict[str, AirflowRelease] = {
    r.minor: r
    for r in (
        AirflowRelease("2.3", "2.3.4", "3.10", "init", _OLD_FLASK_STACK),
        AirflowRelease("2.4", "2.4.3", "3.10", "init", _OLD_FLASK_STACK),
        AirflowRelease("2.5", "2.5.3", "3.10", "init", _OLD_FLASK_STACK),
        AirflowRelease("2.6", "2.6.3", "3.11", "init", _OLD_FLASK_STACK),
        AirflowRelease("2.7", "2.7.3", "3.11", "migrate", ("flask-session<0.6",)),
        AirflowRelease("2.8", "2.8.4", "3.11", "migrate"),
        AirflowRelease("2.9", "2.9.3", "3.11", "migrate"),
        AirflowRelease("2.10", "2.10.5", "3.11", "migrate"),
        AirflowRelease("3.0", "3.0.6", "3.11", "migrate"),
        AirflowRelease("3.1", "3.1.8", "3.11", "migrate"),
    )
}

_print_lock = threading.Lock()


def log(minor: str, message: str) -> None:
    """Print one progress line, prefixed with the minor it is about."""
    with _print_lock:
        print(f"[{minor:>4}] {message}", flush=True)


def find_python(version: str, overrides: dict[str, str]) -> str:
    """Return a path to a ``python<version>`` interpreter: override, PATH, then pyenv."""
    if version in overrides:
        return overrides[version]
    on_path = shutil.which(f"python{version}")
    candidates = [on_path] if on_path else []
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python"), reverse=True)
    for candidate in candidates:
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    raise SystemExit(f"no Python {version} interpreter found; pass --python {version}=/path")


def run_logged(cmd: list[str], *, log_path: Path, env: dict[str, str] | None = None) -> None:
    """Run ``cmd``, appending its output to ``log_path``; raise with the log tail on failure."""
    with log_path.open("a") as log_file:
        log_file.write(f"\n$ {' '.join(cmd)}\n")
        log_file.flush()
        result = subprocess.run(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"`{' '.join(cmd[:4])} ...` failed (see {log_path}):\n{tail}")


def read_schema(db_path: Path) -> dict[str, list[str]]:
    """Every table of a SQLite database (SQLite's own excepted) with its sorted columns."""
    connection = sqlite3.connect(db_path)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: sorted(row[1] for row in connection.execute(f'PRAGMA table_info("{name}")'))
            for name in sorted(names)
        }
    finally:
        connection.close()


def generate(
    release: AirflowRelease, *, work_dir: Path, python: str, keep_venv: bool
) -> dict[str, Any]:
    """Install ``release``, create its metadata database, and return its catalog entry."""
    base = work_dir / release.version
    shutil.rmtree(base, ignore_errors=True)
    home = base / "airflow_home"
    home.mkdir(parents=True)
    venv = base / "venv"
    log_path = base / "generate.log"
    started = time.monotonic()

    log(release.minor, f"creating venv with Python {release.python} ({python})")
    run_logged([python, "-m", "venv", str(venv)], log_path=log_path)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    pins = f" with pins {' '.join(release.pins)}" if release.pins else ""
    log(release.minor, f"installing apache-airflow=={release.version}{pins}")
    run_logged(
        [*pip, "install", "-q", f"apache-airflow=={release.version}", *release.pins],
        log_path=log_path,
    )
    log(release.minor, f"installed in {time.monotonic() - started:.0f}s")

    db_path = home / "airflow.db"
    sql_alchemy_conn = f"sqlite:///{db_path}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW") and key not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN": sql_alchemy_conn,  # where 2.3 reads it
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    log(release.minor, f"running `airflow db {release.db_command}` on SQLite")
    run_logged(
        [str(venv / "bin" / "airflow"), "db", release.db_command], log_path=log_path, env=env
    )
    tables = read_schema(db_path)
    if not {"alembic_version", "dag", "task_instance"} <= tables.keys():
        raise RuntimeError(f"`airflow db` left no Airflow schema in {db_path} (see {log_path})")
    log(release.minor, f"done in {time.monotonic() - started:.0f}s: {len(tables)} tables")
    if not keep_venv:
        shutil.rmtree(venv, ignore_errors=True)
    return {"airflow_version": release.version, "tables": tables}


def load_existing(path: Path) -> dict[str, dict[str, Any]]:
    """The ``versions`` mapping of an existing catalog file, or an empty one."""
    if not path.exists():
        return {}
    versions: dict[str, dict[str, Any]] = json.loads(path.read_text())["versions"]
    return versions


def minor_key(minor: str) -> tuple[int, ...]:
    """Sort key for "2.10" > "2.9"."""
    return tuple(int(part) for part in minor.split("."))


def write_catalog(path: Path, versions: dict[str, dict[str, Any]]) -> None:
    """Write the catalog JSON, versions in ascending order."""
    catalog = {
        "generated_by": GENERATED_BY,
        "generated_at": datetime.date.today().isoformat(),
        "versions": {minor: versions[minor] for minor in sorted(versions, key=minor_key)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(catalog, indent=1) + "\n")


def downgrade_report(path: Path) -> str:
    """Markdown: per downgrade step between adjacent catalogued minors, what it drops."""
    versions = load_existing(path)
    minors = sorted(versions, key=minor_key)
    lines = [
        "| Downgrade | Tables dropped | Columns dropped from surviving tables |",
        "| --- | --- | --- |",
    ]
    for older, newer in reversed(list(itertools.pairwise(minors))):
        before: dict[str, list[str]] = versions[newer]["tables"]
        after: dict[str, list[str]] = versions[older]["tables"]
        tables = [f"`{t}`" for t in sorted(before) if t not in after]
        columns = [
            f"`{t}.{c}`"
            for t in sorted(before)
            if t in after
            for c in before[t]
            if c not in after[t]
        ]
        lines.append(
            f"| {newer} → {older} | {', '.join(tables) or '—'} | {', '.join(columns) or '—'} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--versions",
        nargs="+",
        metavar="MINOR",
        choices=sorted(RELEASES, key=minor_key),
        help="regenerate only these minors and merge them into the existing file",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="where venvs and databases go (default: a new temporary directory)",
    )
    parser.add_argument(
        "--keep-venvs",
        action="store_true",
        help="keep each venv and the work dir afterwards (to debug an install)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="versions installed in parallel (default 1)"
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="X.Y=PATH",
        help="interpreter to use for Python X.Y (default: pythonX.Y on PATH, then pyenv)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="install nothing; print the per-step downgrade table (Markdown) of the catalog",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(downgrade_report(args.output))
        return 0
    minors = args.versions or sorted(RELEASES, key=minor_key)
    releases = [RELEASES[minor] for minor in minors]
    overrides = dict(item.split("=", 1) for item in args.python)
    pythons = {r.python: find_python(r.python, overrides) for r in releases}

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="airflow-schemas-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    print(f"work dir: {work_dir}; versions: {', '.join(minors)}", flush=True)

    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {
            pool.submit(
                generate,
                release,
                work_dir=work_dir,
                python=pythons[release.python],
                keep_venv=args.keep_venvs,
            ): release.minor
            for release in releases
        }
        for future in concurrent.futures.as_completed(futures):
            minor = futures[future]
            try:
                results[minor] = future.result()
            except Exception as error:  # report every failed version, then exit non-zero
                failures[minor] = str(error)
                log(minor, f"FAILED: {error}")

    # A version that failed keeps its previous entry (if any) rather than vanishing.
    versions = {
        minor: entry
        for minor, entry in load_existing(args.output).items()
        if minor in RELEASES and (args.versions or minor in failures)
    }
    versions.update(results)
    write_catalog(args.output, versions)
    print(
        f"wrote {len(results)} version(s) to {args.output} in {time.monotonic() - started:.0f}s",
        flush=True,
    )
    if failures:
        # Keep the work dir: each version's generate.log says what went wrong.
        print(
            f"FAILED: {', '.join(sorted(failures, key=minor_key))} (previous entries kept; "
            f"logs under {work_dir})",
            file=sys.stderr,
        )
        return 1
    if not args.keep_venvs and args.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
