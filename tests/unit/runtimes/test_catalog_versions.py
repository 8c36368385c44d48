"""Every runtime names an exact Airflow release, up to the newest 3.x."""

from __future__ import annotations

from importlib import resources

from tarmac.runtimes.catalog import load_runtime_catalog
from tarmac.runtimes.versions import parse_airflow_version


def _released() -> set[str]:
    text = resources.files("tarmac.runtimes").joinpath("data/pypi-airflow-versions.txt").read_text()
    return set(text.split())


def test_every_runtime_names_an_airflow_release_that_installs() -> None:
    released = _released()
    catalog = load_runtime_catalog()
    unknown = {
        r.version: r.airflow_version for r in catalog.items if r.airflow_version not in released
    }
    assert unknown == {}


def test_the_catalog_reaches_the_newest_airflow_3_release() -> None:
    newest = max((v for v in _released() if v.startswith("3.")), key=parse_airflow_version)
    assert newest in {r.airflow_version for r in load_runtime_catalog().items}
