"""values.yaml: the source document's snippet means what its authors meant (rule 14)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tarmac.errors import ConfigurationError
from tarmac.installation.flags import InstallationFlags
from tarmac.installation.values import load_values_file, parse_values

# Pasted verbatim from reference/deploy-rollbacks.md, indentation and all.
SOURCE_SNIPPET = """\
  # Enable APIs to modify deploys
  astronomer:
    houston:
      config:
        deployments:
          enableUpdateDeploymentImageEndpoint: true
  # Enable rollback feature flag
  global:
      deployRollbackEnabled: true
  # Enable cleanup feature flag
  houston:
      cleanupDeployRevisions:
          enabled:  true
  # Configure which data to clean up
  houston:
      cleanupDeployRevisions:
          olderThan:  90
"""


def test_rule_14_source_snippet_sets_both_rollback_flags_and_cleanup() -> None:
    flags = parse_values(SOURCE_SNIPPET)
    assert flags.deploy_rollback_enabled is True
    assert flags.update_deployment_image_endpoint_enabled is True
    # The repeated 'houston:' key must add up, not overwrite: cleanup stays enabled.
    assert flags.cleanup_enabled is True
    assert flags.cleanup_older_than_days == 90
    # The snippet alone does not enable DAG-only deploys, a prerequisite of rule 2.
    assert flags.dag_only_deployment_enabled is False
    assert flags.rollbacks_allowed is False
    assert flags.missing_rollback_flags() == ["global.dagOnlyDeployment.enabled"]


def test_snippet_plus_dag_only_flag_allows_rollbacks() -> None:
    text = SOURCE_SNIPPET + "  global:\n    dagOnlyDeployment:\n      enabled: true\n"
    flags = parse_values(text)
    assert flags.rollbacks_allowed is True
    assert flags.deploy_rollback_enabled is True  # merged with the earlier 'global:'


def test_absent_keys_mean_off_and_90_days(tmp_path: Path) -> None:
    assert parse_values("") == InstallationFlags()
    assert parse_values("unrelated: {a: 1}") == InstallationFlags()
    assert load_values_file(None) == InstallationFlags(cleanup_older_than_days=90)


def test_newer_spelling_is_accepted() -> None:
    flags = parse_values(
        "global:\n  deploymentLifecycle:\n    deployRollback:\n      enabled: true\n"
    )
    assert flags.deploy_rollback_enabled is True


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("global:\n  deployRollbackEnabled: maybe\n", "global.deployRollbackEnabled"),
        ("global:\n  deployRollbackEnabled: 1\n", "global.deployRollbackEnabled"),
        (
            "houston:\n  cleanupDeployRevisions:\n    olderThan: ninety\n",
            "houston.cleanupDeployRevisions.olderThan",
        ),
        (
            "houston:\n  cleanupDeployRevisions:\n    olderThan: -1\n",
            "houston.cleanupDeployRevisions.olderThan",
        ),
        (
            "houston:\n  cleanupDeployRevisions:\n    olderThan: 1.5\n",
            "houston.cleanupDeployRevisions.olderThan",
        ),
        ("houston:\n  cleanupDeployRevisions: yes\n", "houston.cleanupDeployRevisions"),
        (
            "global:\n  dagOnlyDeployment:\n    enabled: [true]\n",
            "global.dagOnlyDeployment.enabled",
        ),
    ],
)
def test_wrong_types_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        parse_values(text)
    assert key in str(excinfo.value)


def test_string_booleans_from_helm_set_are_understood() -> None:
    assert parse_values("global:\n  deployRollbackEnabled: 'True'\n").deploy_rollback_enabled


def test_olderthan_zero_is_kept() -> None:
    assert (
        parse_values(
            "houston:\n  cleanupDeployRevisions:\n    olderThan: 0\n"
        ).cleanup_older_than_days
        == 0
    )


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        parse_values("a: [unclosed")
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_values_file(tmp_path / "absent.yaml")


def test_unknown_keys_in_watched_sections_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        parse_values("houston:\n  cleanupDeployRevisions:\n    olderthen: 5\n")
    assert "olderthen" in caplog.text
