"""Airflow environments: one virtualenv per locked package set, built once and never changed.

An environment holds one exact Airflow (plus the providers it needs) and, for a deploy
whose bundle carries a ``requirements.txt``, that deploy's own requirements. Such a
"deploy environment" is built on top of the plain Airflow one: a copy of it (hard links
where the file system allows, so seconds rather than a fresh install of Airflow), then
``pip install`` of the requirements constrained to the base's exact versions, so that a
requirement can add packages but never change Airflow or what Airflow was installed with.

Layout under the cache root::

    envs/<digest>/        a finished environment (digest = sha256 of its ``pip freeze``)
    specs/<spec-key>.json which environment a request (Airflow version + extras) resolved to
    building/<random>/    an environment being built; never used until renamed into envs/

An environment is reached only by an atomic rename of a finished build, so a crash while
building leaves nothing half-made that could be used. Commands run as
``<env>/bin/python -m …``: a renamed virtualenv's console scripts keep their old shebang.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tarmac.runtimes.versions import parse_airflow_version

Progress = Callable[[str], None]


class EnvironmentBuildFailed(Exception):
    """pip could not build the environment; the message ends with pip's own last lines."""


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment must hold: one exact Airflow and the packages beside it."""

    airflow_version: str
    extra_requirements: tuple[str, ...] = ()
    # The deploy's own requirements.txt (normalised: deploy_requirements.parse_requirements).
    deploy_requirements: tuple[str, ...] = ()

    @property
    def base(self) -> EnvironmentSpec:
        """The same Airflow without the deploy's requirements (what a deploy env copies)."""
        return EnvironmentSpec(self.airflow_version, self.extra_requirements)

    @property
    def requirements(self) -> tuple[str, ...]:
        base = [f"apache-airflow=={self.airflow_version}"]
        # Downgrading the metadata database below 3.0 runs the FAB provider's migrations
        # too, and only the newer environment runs a downgrade: every 3.x env carries it.
        if parse_airflow_version(self.airflow_version) >= (3, 0, 0):
            base.append("apache-airflow-providers-fab")
        return (*base, *sorted(self.extra_requirements))

    @property
    def key(self) -> str:
        lines = [f"python={sys.version_info[0]}.{sys.version_info[1]}", *self.requirements]
        if self.deploy_requirements:  # absent: the key of a plain Airflow env is unchanged
            lines += ["deploy requirements:", *sorted(self.deploy_requirements)]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Environment:
    """A finished, immutable environment."""

    path: Path
    digest: str
    airflow_version: str

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def airflow_command(self, *args: str) -> list[str]:
        return [str(self.python), "-m", "airflow", *args]


class EnvironmentCache:
    """Builds environments on demand and hands out the cached ones."""

    def __init__(
        self, root: Path, *, python: str | None = None, install_timeout_seconds: float = 1800.0
    ) -> None:
        self.root = root
        self.python = python or _base_python()
        # A pip install that runs longer fails the build (and the rollout, before anything
        # stops) instead of holding the runtime side forever.
        self.install_timeout_seconds = install_timeout_seconds

    def find(self, spec: EnvironmentSpec) -> Environment | None:
        """The environment already built for ``spec``, or None."""
        try:
            data = json.loads((self.root / "specs" / f"{spec.key}.json").read_text())
        except (OSError, ValueError):
            return None
        path = self.root / "envs" / str(data.get("digest", ""))
        if not (path / "bin" / "python").exists():
            return None
        return Environment(path=path, digest=path.name, airflow_version=spec.airflow_version)

    def ensure(self, spec: EnvironmentSpec, *, progress: Progress | None = None) -> Environment:
        """The environment for ``spec``, building it first if needed (minutes, once)."""
        say = progress or (lambda _message: None)
        found = self.find(spec)
        if found is not None:
            return found
        with self._lock(spec):
            found = self.find(spec)  # another process may have built it meanwhile
            if found is not None:
                return found
            return self._build(spec, say)

    def find_by_digest(self, digest: str, airflow_version: str) -> Environment | None:
        """The finished environment named ``digest`` (what a journal recorded), or None."""
        path = self.root / "envs" / digest
        if not digest or not (path / "bin" / "python").exists():
            return None
        return Environment(path=path, digest=digest, airflow_version=airflow_version)

    def _build(self, spec: EnvironmentSpec, say: Progress) -> Environment:
        if spec.deploy_requirements:
            return self._build_on_top(spec, say)
        building = self.root / "building" / secrets.token_hex(8)
        building.parent.mkdir(parents=True, exist_ok=True)
        try:
            say(f"creating a virtualenv for Airflow {spec.airflow_version}")
            _run([self.python, "-m", "venv", str(building)], what="python -m venv")
            python = str(building / "bin" / "python")
            say(f"installing {', '.join(spec.requirements)} from PyPI (about a minute)")
            self._pip_install(python, spec.requirements, what="pip install")
            return self._finish(spec, building, say, old_roots=(building,))
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def _build_on_top(self, spec: EnvironmentSpec, say: Progress) -> Environment:
        """A deploy environment: a copy of the plain Airflow one plus the requirements."""
        base = self.ensure(spec.base, progress=say)
        building = self.root / "building" / secrets.token_hex(8)
        building.parent.mkdir(parents=True, exist_ok=True)
        constraints = building.with_name(f"{building.name}.constraints.txt")
        try:
            source = base.path.resolve()
            say(f"copying Airflow {spec.airflow_version}'s environment {base.digest[:12]}")
            shutil.copytree(source, building, symlinks=True, copy_function=_link_or_copy)
            python = str(building / "bin" / "python")
            frozen = _run([python, "-m", "pip", "freeze", "--all"], what="pip freeze")
            constraints.write_text(frozen)
            wanted = ", ".join(spec.deploy_requirements)
            say(f"installing the deploy's requirements.txt: {wanted}")
            self._pip_install(
                python,
                # Airflow and everything installed with it stay exactly as built.
                ["--constraint", str(constraints), *spec.deploy_requirements],
                what=f"pip install of the deploy's requirements.txt ({wanted})",
            )
            return self._finish(spec, building, say, old_roots=(building, base.path, source))
        finally:
            shutil.rmtree(building, ignore_errors=True)
            constraints.unlink(missing_ok=True)

    def _pip_install(self, python: str, arguments: Sequence[str], *, what: str) -> None:
        _run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *arguments],
            what=what,
            timeout=self.install_timeout_seconds,
        )

    def _finish(
        self, spec: EnvironmentSpec, building: Path, say: Progress, *, old_roots: tuple[Path, ...]
    ) -> Environment:
        """Freeze, name by digest, rename into ``envs/`` and record the spec's answer."""
        python = str(building / "bin" / "python")
        frozen = _run([python, "-m", "pip", "freeze", "--all"], what="pip freeze")
        digest = hashlib.sha256(frozen.encode()).hexdigest()[:32]
        record = {
            "requirements": spec.requirements,
            "deploy_requirements": spec.deploy_requirements,
            "freeze": frozen.splitlines(),
        }
        _replace_file(building / "tarmac-environment.json", json.dumps(record).encode())
        final = self.root / "envs" / digest
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # the same locked set built for another spec: reuse it
            shutil.rmtree(building, ignore_errors=True)
        else:
            retarget_scripts(building, final, old_roots=old_roots)
            os.rename(building, final)
        _write_atomically(self.root / "specs" / f"{spec.key}.json", {"digest": digest})
        say(f"environment {digest[:12]} ready (Airflow {spec.airflow_version})")
        return Environment(path=final, digest=digest, airflow_version=spec.airflow_version)

    @contextmanager
    def _lock(self, spec: EnvironmentSpec) -> Iterator[None]:
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with (locks / f"{spec.key}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def retarget_scripts(built: Path, final: Path, *, old_roots: tuple[Path, ...] = ()) -> None:
    """Point the console scripts' shebangs at the folder the environment is renamed to.

    Airflow's executors run ``airflow tasks run`` by name, so the scripts must work. A
    script is replaced, never written in place: in a copy it may be a hard link to the
    base environment's, which must not change.
    """
    olds = [f"#!{root}/bin/".encode() for root in (old_roots or (built,))]
    for script in (built / "bin").iterdir():
        if not script.is_file() or script.is_symlink():
            continue
        content = script.read_bytes()
        for old in olds:
            if content.startswith(old):
                _replace_file(script, f"#!{final}/bin/".encode() + content[len(old) :])
                break


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` anew (a new inode, same mode): a hard-linked original is untouched."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _link_or_copy(source: str, destination: str) -> None:
    """Hard-link a file of the base environment; copy it where links are not possible."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tarmac" / "runtimes"


def _base_python() -> str:
    # The interpreter tarmac runs on, outside any venv: Airflow supports 3.10-3.12.
    return os.path.join(
        sys.base_prefix, "bin", f"python{sys.version_info[0]}.{sys.version_info[1]}"
    )


def _run(command: list[str], *, what: str, timeout: float | None = None) -> str:
    # No terminal: pip must never wait for an answer (credentials, confirmation).
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise EnvironmentBuildFailed(
            f"{what} did not finish in {timeout:.0f} s (a stalled connection to the package"
            " index, with pip's timeout and retries, or a build that hangs)"
        ) from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise EnvironmentBuildFailed(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def _write_atomically(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
