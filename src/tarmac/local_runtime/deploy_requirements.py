"""A deploy's own Python requirements: ``requirements.txt`` at the root of its DAG bundle.

This is the local meaning of an "image": Airflow of the runtime version, its providers,
and these requirements. Only requirement specifiers are accepted (``pandas==2.2.3``,
``humanize>=4; python_version >= "3.10"``, ``pkg @ https://…``): pip options and local
paths would make the environment depend on files or settings outside the bundle, which
the digest that names the environment cannot see.
"""

from __future__ import annotations

from pathlib import Path

REQUIREMENTS_FILE = "requirements.txt"
MAX_BYTES = 64 * 1024


class DeployRequirementsInvalid(Exception):
    """The bundle's requirements.txt cannot name an environment; the message says why."""


def read_deploy_requirements(bundle_dir: Path) -> tuple[str, ...]:
    """The requirements of the bundle unpacked at ``bundle_dir`` (none without the file)."""
    path = bundle_dir / REQUIREMENTS_FILE
    if not path.is_file():
        return ()
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise DeployRequirementsInvalid(
            f"{REQUIREMENTS_FILE} is {len(data)} bytes; at most {MAX_BYTES} are accepted"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DeployRequirementsInvalid(f"{REQUIREMENTS_FILE} is not UTF-8 text") from exc
    return parse_requirements(text)


def parse_requirements(text: str) -> tuple[str, ...]:
    """Requirement lines without comments and blanks, deduplicated and sorted.

    The order of a requirements file does not change what pip installs, so two files
    that list the same requirements name the same environment.
    """
    found: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _without_comment(raw).strip()
        if not line:
            continue
        problem = _problem(line)
        if problem:
            raise DeployRequirementsInvalid(f"{REQUIREMENTS_FILE} line {number}: {problem}")
        found.add(" ".join(line.split()))
    return tuple(sorted(found))


def _without_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    at = line.find(" #")
    return line if at == -1 else line[:at]


def _problem(line: str) -> str | None:
    if "\x00" in line:
        return "contains a NUL character"
    if line.startswith("-"):
        return (
            f"{line.split()[0]!r} is a pip option; only requirement specifiers are accepted "
            "(the environment must be named by what the file lists)"
        )
    if line.startswith((".", "/", "~")) or line.startswith("file:") or " @ file:" in line:
        return f"{line!r} is a local path; only packages from an index or a URL are accepted"
    if line.endswith("\\"):
        return "continued lines are not accepted; put each requirement on one line"
    return None
