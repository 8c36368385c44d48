"""Load installation flags from a Helm-style ``values.yaml``.

The source document's snippet repeats the top-level ``houston:`` key. Plain YAML
loaders keep only the last one, which would silently switch cleanup off; its authors
meant the two blocks to add up, so duplicate mapping keys are merged deeply here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tarmac.errors import ConfigurationError
from tarmac.installation.flags import InstallationFlags

log = logging.getLogger(__name__)

_BOOL_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "deploy_rollback_enabled": (
        ("global", "deployRollbackEnabled"),
        ("global", "deploymentLifecycle", "deployRollback", "enabled"),
    ),
    "update_deployment_image_endpoint_enabled": (
        ("astronomer", "houston", "config", "deployments", "enableUpdateDeploymentImageEndpoint"),
    ),
    "dag_only_deployment_enabled": (("global", "dagOnlyDeployment", "enabled"),),
    "cleanup_enabled": (("houston", "cleanupDeployRevisions", "enabled"),),
}
_OLDER_THAN = ("houston", "cleanupDeployRevisions", "olderThan")

# Sections tarmac reads; an unknown key inside one is probably a typo worth a warning.
_WATCHED_SECTIONS: dict[tuple[str, ...], set[str]] = {
    ("houston", "cleanupDeployRevisions"): {"enabled", "olderThan", "schedule"},
    ("global", "dagOnlyDeployment"): {"enabled", "image", "resources", "securityContext"},
    ("global", "deploymentLifecycle", "deployRollback"): {"enabled"},
}


class _MergingLoader(yaml.SafeLoader):
    """A safe loader whose repeated mapping keys merge instead of overwrite."""


def _construct_merged_mapping(loader: _MergingLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        value = loader.construct_object(value_node, deep=True)
        if key in result and isinstance(result[key], dict) and isinstance(value, dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _deep_merge(base: dict[Any, Any], extra: Mapping[Any, Any]) -> dict[Any, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_MergingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_merged_mapping,
)


def parse_values(text: str, *, source: str = "values.yaml") -> InstallationFlags:
    """Parse values.yaml text into flags; a wrong type is a ConfigurationError naming the key."""
    try:
        document = yaml.load(text, Loader=_MergingLoader)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source}: not valid YAML: {exc}") from exc
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigurationError(f"{source}: the top level must be a mapping")

    found: dict[str, Any] = {}
    for field, paths in _BOOL_KEYS.items():
        for path in paths:
            value = _lookup(document, path, source=source)
            if value is not None:
                found[field] = _as_bool(value, key=".".join(path), source=source)
    older_than = _lookup(document, _OLDER_THAN, source=source)
    if older_than is not None:
        found["cleanup_older_than_days"] = _as_days(
            older_than, key=".".join(_OLDER_THAN), source=source
        )
    _warn_about_unknown_keys(document, source=source)
    return InstallationFlags(**found)


def load_values_file(path: Path | None) -> InstallationFlags:
    """Flags from a values.yaml file; no file means every flag off and 90 days."""
    if path is None:
        return InstallationFlags()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read values file {path}: {exc.strerror}") from exc
    return parse_values(text, source=str(path))


def _lookup(document: Mapping[Any, Any], path: tuple[str, ...], *, source: str) -> Any:
    node: Any = document
    for depth, part in enumerate(path):
        if node is None:
            return None
        if not isinstance(node, Mapping):
            where = ".".join(path[:depth])
            raise ConfigurationError(f"{source}: {where} must be a mapping, got {node!r}")
        node = node.get(part)
    return node


def _as_bool(value: Any, *, key: str, source: str) -> bool:
    if isinstance(value, bool):
        return value
    # Helm users often write --set key=True, which reaches the file as a string.
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ConfigurationError(f"{source}: {key} must be true or false, got {value!r}")


def _as_days(value: Any, *, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigurationError(f"{source}: {key} must be a whole number of days, got {value!r}")
    try:
        days = int(value)
    except ValueError:
        raise ConfigurationError(
            f"{source}: {key} must be a whole number of days, got {value!r}"
        ) from None
    if days < 0:
        raise ConfigurationError(f"{source}: {key} must not be negative, got {days}")
    return days


def _warn_about_unknown_keys(document: Mapping[Any, Any], *, source: str) -> None:
    for section, known in _WATCHED_SECTIONS.items():
        node = _lookup(document, section, source=source)
        if isinstance(node, Mapping):
            for key in node:
                if key not in known:
                    log.warning("%s: ignoring unknown key %s.%s", source, ".".join(section), key)
