"""Who is calling, and the one permission check every entry point uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tarmac.access.roles import system_twin
from tarmac.errors import PermissionDenied


@dataclass(frozen=True)
class Principal:
    """An authenticated caller with its system permissions and its Deployment roles."""

    user_id: str
    username: str
    system_role: str | None
    system_permissions: frozenset[str]
    deployment_permissions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Set for agent tokens: the only Deployment this caller may touch at all.
    scope_deployment_id: str | None = None

    def permissions_on(self, deployment_id: str) -> frozenset[str]:
        """Every permission name that applies on one Deployment, system ones included."""
        if self.scope_deployment_id not in (None, deployment_id):
            return frozenset()
        return self.system_permissions | self.deployment_permissions.get(deployment_id, frozenset())

    def has(self, permission: str, *, deployment_id: str | None = None) -> bool:
        """Whether the caller holds ``permission`` (or its system-wide twin)."""
        if deployment_id is None:
            return permission in self.system_permissions
        granted = self.permissions_on(deployment_id)
        return permission in granted or system_twin(permission) in granted

    def require(self, permission: str, *, deployment_id: str | None = None) -> None:
        """Raise 403 ``permission_denied`` unless the caller holds ``permission``."""
        if self.has(permission, deployment_id=deployment_id):
            return
        raise PermissionDenied(
            f"{self.username} lacks the permission {permission}", permission=permission
        )
