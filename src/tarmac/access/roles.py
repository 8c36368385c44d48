"""Roles and the permissions they grant, named as in Houston's default roles.

Deployment-scoped permissions start with ``deployment.``; each has a system-wide twin
``system.deployments.…`` that grants it on every Deployment.
"""

from __future__ import annotations

from enum import StrEnum


class SystemRole(StrEnum):
    SYSTEM_ADMIN = "SYSTEM_ADMIN"
    SYSTEM_EDITOR = "SYSTEM_EDITOR"
    SYSTEM_VIEWER = "SYSTEM_VIEWER"


class DeploymentRole(StrEnum):
    DEPLOYMENT_ADMIN = "DEPLOYMENT_ADMIN"
    DEPLOYMENT_EDITOR = "DEPLOYMENT_EDITOR"
    DEPLOYMENT_VIEWER = "DEPLOYMENT_VIEWER"


DEPLOYMENT_GET = "deployment.get"
DEPLOY_REVISIONS_GET = "deployment.deployRevisions.get"
DAGS_READ = "deployment.dags.read"
IMAGES_PUSH = "deployment.images.push"
DAGS_PUSH = "deployment.dags.push"
CONFIG_UPDATE = "deployment.config.update"
DEPLOYS_PIN = "deployment.deployRevisions.pin"
MEMBERS_UPDATE = "deployment.userRoles.update"
RUNTIME_RUN = "deployment.runtime.run"
"""Run the Deployment's Airflow (reads secret env vars), report it, restore snapshots."""

SYSTEM_DEPLOYMENTS_CREATE = "system.deployments.create"
SYSTEM_USERS_CREATE = "system.users.create"
SYSTEM_USERS_GET = "system.users.get"
SYSTEM_TOKENS_CREATE = "system.users.tokens.create"
SYSTEM_CLEANUP = "system.cleanupDeployRevisions.delete"
SYSTEM_INSTALLATION_GET = "system.installation.get"


def system_twin(permission: str) -> str:
    """``deployment.images.push`` → ``system.deployments.images.push``."""
    if not permission.startswith("deployment."):
        raise ValueError(f"{permission} is not deployment-scoped")
    return "system.deployments." + permission.removeprefix("deployment.")


_VIEWER = frozenset({DEPLOYMENT_GET, DEPLOY_REVISIONS_GET, DAGS_READ})
_EDITOR = _VIEWER | {IMAGES_PUSH, DAGS_PUSH, CONFIG_UPDATE, DEPLOYS_PIN}
_ADMIN = _EDITOR | {MEMBERS_UPDATE, RUNTIME_RUN}

DEPLOYMENT_ROLE_PERMISSIONS: dict[DeploymentRole, frozenset[str]] = {
    DeploymentRole.DEPLOYMENT_VIEWER: _VIEWER,
    DeploymentRole.DEPLOYMENT_EDITOR: _EDITOR,
    DeploymentRole.DEPLOYMENT_ADMIN: _ADMIN,
}

_SYSTEM_VIEWER = frozenset({system_twin(p) for p in _VIEWER} | {SYSTEM_USERS_GET})
_SYSTEM_EDITOR = _SYSTEM_VIEWER | {system_twin(CONFIG_UPDATE), SYSTEM_DEPLOYMENTS_CREATE}
_SYSTEM_ADMIN = (
    _SYSTEM_EDITOR
    | {system_twin(p) for p in _ADMIN}
    | {SYSTEM_USERS_CREATE, SYSTEM_TOKENS_CREATE, SYSTEM_CLEANUP}
)

SYSTEM_ROLE_PERMISSIONS: dict[SystemRole, frozenset[str]] = {
    SystemRole.SYSTEM_VIEWER: _SYSTEM_VIEWER,
    SystemRole.SYSTEM_EDITOR: _SYSTEM_EDITOR,
    SystemRole.SYSTEM_ADMIN: _SYSTEM_ADMIN,
}

AGENT_PERMISSIONS = frozenset({DAGS_READ})
"""All that a Deployment-scoped agent token may do: read that Deployment's live code."""
