"""A rollback deploy records what it changes over the live code, not its target's type."""

from __future__ import annotations

import re
from typing import Any

from tests.integration.rollback_setup import BUNDLE_V1, History, make_history, rollback
from tests.integration.test_ui_support import history_path, new_login, signed_in
from tests.support.server import Api


def _deployed(api: Api, history: History, **form: Any) -> dict[str, Any]:
    return api.ok(api.deploy(history.id, **form), 201)  # type: ignore[no-any-return]


def _rolled_back(api: Api, history: History, target: dict[str, Any]) -> dict[str, Any]:
    return api.ok(rollback(api, history, target), 201)  # type: ignore[no-any-return]


def _type_cell(page: str, seq: int) -> str:
    row = page.split(f'<tr id="deploy-{seq}"')[1].split("</tr>")[0]
    found = re.search(
        r'<td class="nowrap" data-label="Type">(Image \+ DAGs|Image|DAGs only)</td>', row
    )
    assert found, row
    return found.group(1)


def test_rollback_type_is_what_changes_over_the_live_code(api: Api) -> None:
    # #1 img:1 + bundle v1, #2 img:2 + bundle v2 (both IMAGE_AND_DAG).
    history = make_history(api)
    dags_back = _deployed(api, history, type="DAG_ONLY", dags=BUNDLE_V1)  # #3: img:2 + v1
    image = _deployed(api, history, type="IMAGE_ONLY", image="repo/img:3")  # #4: img:3 + v1
    assert (dags_back["type"], image["type"]) == ("DAG_ONLY", "IMAGE_ONLY")

    # To #3, a DAG-only deploy: live is img:3 + v1, so only the image goes back.
    to_3 = _rolled_back(api, history, dags_back)
    assert (to_3["seq"], to_3["type"], to_3["image"]) == (5, "IMAGE_ONLY", "repo/img:2")
    # To #2, an image-and-DAGs deploy: live is img:2 + v1, so only the DAGs go back.
    to_2 = _rolled_back(api, history, history.v2)
    assert (to_2["seq"], to_2["type"]) == (6, "DAG_ONLY")
    assert to_2["bundle_sha256"] == history.v2["bundle_sha256"]
    # To #1: image and DAGs both change.
    to_1 = _rolled_back(api, history, history.v1)
    assert (to_1["seq"], to_1["type"], to_1["image"]) == (7, "IMAGE_AND_DAG", "repo/img:1")

    recorded = {d["seq"]: d["type"] for d in api.history(history.id)}
    assert recorded == {
        1: "IMAGE_AND_DAG",
        2: "IMAGE_AND_DAG",
        3: "DAG_ONLY",
        4: "IMAGE_ONLY",
        5: "IMAGE_ONLY",
        6: "DAG_ONLY",
        7: "IMAGE_AND_DAG",
    }
    new_login(api, "vera", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    page = signed_in(api, "vera").get(history_path(history.id)).text
    assert [_type_cell(page, seq) for seq in (5, 6, 7)] == ["Image", "DAGs only", "Image + DAGs"]


def test_rollback_that_changes_the_runtime_is_an_image_deploy(api: Api) -> None:
    history = make_history(api, runtime_v1="11.3.0", runtime_v2="12.4.0")
    dags_only = _deployed(api, history, type="DAG_ONLY", dags=BUNDLE_V1)  # #3: 12.4.0 + v1
    assert dags_only["runtime_version"] == "12.4.0"
    to_1 = api.ok(rollback(api, history, history.v1, acknowledge=["data_loss"]), 201)
    # Same bundle as live, older image and runtime: never DAG_ONLY.
    assert (to_1["type"], to_1["runtime_version"]) == ("IMAGE_ONLY", "11.3.0")
