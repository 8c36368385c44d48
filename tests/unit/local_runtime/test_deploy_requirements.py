"""A deploy's requirements.txt: what it may hold, and how it names an environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tarmac.local_runtime.airflow_settings import AirflowSettings
from tarmac.local_runtime.deploy_requirements import (
    MAX_BYTES,
    DeployRequirementsInvalid,
    parse_requirements,
    read_deploy_requirements,
)
from tarmac.local_runtime.environments import (
    EnvironmentBuildFailed,
    EnvironmentCache,
    EnvironmentSpec,
    _run,
)
from tarmac.local_runtime.journal import Journal, JournalState, Reached
from tarmac.local_runtime.layout import RuntimeHome


def test_comments_blanks_order_and_repeats_do_not_change_the_requirements() -> None:
    one = parse_requirements("# tools\nhumanize==4.9.0\n\ncowsay>=6  # the banner\n")
    other = parse_requirements("cowsay>=6\nhumanize==4.9.0\nhumanize==4.9.0\n   \n")
    assert one == other == ("cowsay>=6", "humanize==4.9.0")
    assert parse_requirements('pendulum >=3 ; python_version >= "3.9"') == (
        'pendulum >=3 ; python_version >= "3.9"',
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("-r other.txt", "pip option"),
        ("--index-url https://example.invalid/simple", "pip option"),
        ("-e git+https://example.invalid/x.git", "pip option"),
        ("./vendor/mylib", "local path"),
        ("/opt/wheels/x.whl", "local path"),
        ("mylib @ file:///opt/x.whl", "local path"),
        ("pandas==2.2.3 \\", "continued lines"),
    ],
)
def test_what_the_digest_could_not_see_is_refused_with_its_line(line: str, reason: str) -> None:
    with pytest.raises(DeployRequirementsInvalid) as caught:
        parse_requirements(f"cowsay==6.1\n{line}\n")
    assert "requirements.txt line 2" in str(caught.value)
    assert reason in str(caught.value)


def test_the_file_is_read_at_the_bundle_root_only(tmp_path: Path) -> None:
    assert read_deploy_requirements(tmp_path) == ()
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "requirements.txt").write_text("cowsay==6.1\n")
    assert read_deploy_requirements(tmp_path) == ()  # only the root's counts
    (tmp_path / "requirements.txt").write_text("cowsay==6.1\n")
    assert read_deploy_requirements(tmp_path) == ("cowsay==6.1",)


def test_an_oversized_or_binary_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(b"a" * (MAX_BYTES + 1))
    with pytest.raises(DeployRequirementsInvalid, match="at most"):
        read_deploy_requirements(tmp_path)
    (tmp_path / "requirements.txt").write_bytes(b"\xff\xfe cowsay")
    with pytest.raises(DeployRequirementsInvalid, match="UTF-8"):
        read_deploy_requirements(tmp_path)


def test_the_deploy_requirements_name_their_own_environment_on_top_of_airflow() -> None:
    plain = EnvironmentSpec("2.10.5")
    with_cowsay = EnvironmentSpec("2.10.5", deploy_requirements=("cowsay==6.1",))
    # What is installed with Airflow is the same; the deploy's part is added on top.
    assert with_cowsay.requirements == plain.requirements
    assert with_cowsay.base == plain
    assert with_cowsay.key != plain.key
    # No requirements: the key of the environments built before requirements existed.
    assert EnvironmentSpec("2.10.5", deploy_requirements=()).key == plain.key
    assert (
        EnvironmentSpec("2.10.5", deploy_requirements=("a==1", "b==2")).key
        == EnvironmentSpec("2.10.5", deploy_requirements=("b==2", "a==1")).key
    )
    assert with_cowsay.key != EnvironmentSpec("2.10.5", deploy_requirements=("cowsay==6.0",)).key
    assert with_cowsay.key != EnvironmentSpec("3.1.8", deploy_requirements=("cowsay==6.1",)).key


def test_a_postgresql_runtime_keeps_its_driver_beside_the_deploy_requirements(
    tmp_path: Path,
) -> None:
    home = RuntimeHome(tmp_path)
    settings = AirflowSettings(home=home, database_url="postgresql://db/x", web_port=8080)
    spec = settings.environment_spec("2.10.5", ("cowsay==6.1",))
    assert spec.base.requirements == ("apache-airflow==2.10.5", "psycopg2-binary")
    assert spec.deploy_requirements == ("cowsay==6.1",)


def test_an_environment_is_found_by_the_digest_a_journal_recorded(tmp_path: Path) -> None:
    cache = EnvironmentCache(tmp_path)
    assert cache.find_by_digest("", "2.10.5") is None
    assert cache.find_by_digest("abc", "2.10.5") is None
    (tmp_path / "envs" / "abc" / "bin").mkdir(parents=True)
    (tmp_path / "envs" / "abc" / "bin" / "python").write_text("")
    found = cache.find_by_digest("abc", "2.10.5")
    assert found is not None and found.path == tmp_path / "envs" / "abc"


def test_the_journal_keeps_the_requirements_and_reads_an_older_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "rollout.json")
    reached = Reached("d1", "2.10.5", "img:1", "env", "sha", True, "s", ("cowsay==6.1",))
    journal.write(JournalState(reached, None))
    assert journal.read().reached == reached
    (tmp_path / "rollout.json").write_text(
        '{"reached": {"deploy_id": "d1", "airflow_version": "2.10.5", "image": "img:1",'
        ' "env_digest": "env", "bundle_sha256": "sha", "dag_deploy_enabled": true,'
        ' "settings_digest": "s"}, "in_progress": null}'
    )
    older = journal.read().reached
    assert older is not None and older.requirements == ()


def test_only_a_change_of_image_or_airflow_takes_the_bundles_requirements() -> None:
    reached = Reached("d1", "2.10.5", "img:1", "env", "sha", True, "s", ("cowsay==6.1",))
    assert reached.keeps_image_of("img:1", "2.10.5")  # a DAG-only deploy keeps the env
    assert not reached.keeps_image_of("img:2", "2.10.5")
    assert not reached.keeps_image_of("img:1", "3.1.8")


def test_a_pip_that_hangs_fails_the_build_instead_of_holding_the_runtime_side() -> None:
    """A stalled connection to the index (pip's own timeout, times its retries) or a hung build."""
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(EnvironmentBuildFailed, match=r"pip install of x==1 did not finish in 1 s"):
        _run(hang, what="pip install of x==1", timeout=1)
