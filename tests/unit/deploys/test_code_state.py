"""The code-state value: derived from any record and the deploy type of a change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tarmac.deploys.code_state import CodeState
from tarmac.deploys.descriptions import clean_description
from tarmac.deploys.schemas import DeployType
from tarmac.errors import InvalidRequest
from tarmac.runtime_backends.base import LiveSpec

LIVE = CodeState(
    image="repo/img:2",
    runtime_version="12.4.0",
    airflow_version="2.10.5",
    dag_deploy_enabled=True,
    bundle_sha256="b" * 64,
)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"bundle_sha256": "a" * 64}, DeployType.DAG_ONLY),
        ({"image": "repo/img:1"}, DeployType.IMAGE_ONLY),
        ({"runtime_version": "11.3.0", "airflow_version": "2.9.3"}, DeployType.IMAGE_ONLY),
        ({"dag_deploy_enabled": False}, DeployType.IMAGE_ONLY),
        ({"image": "repo/img:1", "bundle_sha256": None}, DeployType.IMAGE_AND_DAG),
    ],
)
def test_deploy_type_is_what_changes(changes: dict[str, object], expected: DeployType) -> None:
    assert replace(LIVE, **changes).deploy_type_over(LIVE) is expected  # type: ignore[arg-type]


def test_first_deploy_changes_everything() -> None:
    assert LIVE.deploy_type_over(None) is DeployType.IMAGE_AND_DAG


def test_live_spec_json_is_flat_and_round_trips() -> None:
    spec = LiveSpec(deploy_id="d1", seq=3, code=LIVE)
    data = spec.to_json()
    assert data == {"deploy_id": "d1", "seq": 3, **LIVE.as_dict()}
    assert LiveSpec.from_json(data) == spec
    assert CodeState.of(spec.code) == LIVE


def test_description_is_trimmed_and_limited() -> None:
    assert clean_description("   ") is None
    assert clean_description(None) is None
    assert clean_description("  " + "x" * 500 + " ") == "x" * 500
    with pytest.raises(InvalidRequest) as refused:
        clean_description("x" * 501)
    assert refused.value.details["field"] == "description"
