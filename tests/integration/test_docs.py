"""The docs stand alone: docs/api.md matches the OpenAPI document, and every relative
link in README.md and docs/ points at a file (and heading) that exists in the repo."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tarmac.api.app import create_app
from tarmac.errors import ERROR_BY_CODE
from tarmac.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
API_DOC = REPO / "docs" / "api.md"
ENDPOINT_ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE)` \| `([^`]+)` \|", re.MULTILINE)
ERROR_ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \|", re.MULTILINE)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|(?:src|href)=\"([^\"]+)\"")


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = create_app(load_settings(data_dir=tmp_path_factory.mktemp("openapi")))
    return app.openapi()


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def test_every_endpoint_is_documented_and_every_documented_one_exists(
    openapi: dict[str, Any],
) -> None:
    served = {(method.upper(), path) for path, ops in openapi["paths"].items() for method in ops}
    documented = set(ENDPOINT_ROW.findall(API_DOC.read_text()))
    assert served - documented == set(), "served but not in docs/api.md"
    assert documented - served == set(), "in docs/api.md but not served"


@pytest.mark.parametrize(
    ("schema", "heading"), [("DeployOut", "### Deploy\n"), ("DeploymentOut", "### Deployment\n")]
)
def test_every_response_field_is_documented(
    openapi: dict[str, Any], schema: str, heading: str
) -> None:
    section = _section(API_DOC.read_text(), heading)
    fields = openapi["components"]["schemas"][schema]["properties"]
    missing = [f for f in fields if not re.search(rf"\b{f}\b", section)]
    assert missing == [], f"{schema} fields missing from docs/api.md {heading.strip()}"


def test_every_error_code_is_documented_with_its_status() -> None:
    documented = {code: int(status) for status, code in ERROR_ROW.findall(API_DOC.read_text())}
    for code, error in ERROR_BY_CODE.items():
        assert documented.get(code) == error.status, code


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes."""
    headings = re.findall(r"^#+\s+(.+)$", markdown.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("markdown", _markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_into_the_repo(markdown: Path) -> None:
    broken = []
    for match in LINK.finditer(markdown.read_text()):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z]+:", target) or target.startswith("/"):
            continue  # a URL, or a path on a running server such as /docs
        if _is_broken(markdown, target):
            broken.append(target)
    assert broken == [], f"{markdown.relative_to(REPO)} links to missing files or headings"


def _is_broken(markdown: Path, target: str) -> bool:
    path_part, _, anchor = target.partition("#")
    resolved = (markdown.parent / path_part).resolve() if path_part else markdown
    if not resolved.is_relative_to(REPO) or not resolved.exists():
        return True
    return bool(anchor) and resolved.suffix == ".md" and anchor not in _anchors(resolved)


def test_the_readme_quotes_the_upstream_snippet_verbatim_and_it_works() -> None:
    from tarmac.installation.values import parse_values
    from tests.unit.installation.test_values import SOURCE_SNIPPET

    readme = (REPO / "README.md").read_text()
    after = readme[readme.index('"Configure deploy rollbacks"') :]
    quoted = re.search(r"```yaml\n(.*?)```", after, re.DOTALL)
    assert quoted is not None
    assert quoted[1] == textwrap.dedent(SOURCE_SNIPPET)
    flags = parse_values(quoted[1])
    assert flags.deploy_rollback_enabled and flags.update_deployment_image_endpoint_enabled
    assert flags.cleanup_enabled and flags.cleanup_older_than_days == 90
    assert flags.missing_rollback_flags() == ["global.dagOnlyDeployment.enabled"]
    assert "global.dagOnlyDeployment.enabled: true" in readme
