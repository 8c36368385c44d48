"""The installation flags that decide which features tarmac offers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstallationFlags:
    """Effective installation flags; absent keys mean off and 90 days."""

    deploy_rollback_enabled: bool = False
    update_deployment_image_endpoint_enabled: bool = False
    dag_only_deployment_enabled: bool = False
    cleanup_enabled: bool = False
    cleanup_older_than_days: int = 90

    @property
    def rollbacks_allowed(self) -> bool:
        """Rule 2: all three flags must be on before any Deployment may roll back."""
        return (
            self.deploy_rollback_enabled
            and self.update_deployment_image_endpoint_enabled
            and self.dag_only_deployment_enabled
        )

    def missing_rollback_flags(self) -> list[str]:
        """The values.yaml keys that still have to be switched on for rollbacks."""
        missing = []
        if not self.deploy_rollback_enabled:
            missing.append("global.deployRollbackEnabled")
        if not self.update_deployment_image_endpoint_enabled:
            missing.append(
                "astronomer.houston.config.deployments.enableUpdateDeploymentImageEndpoint"
            )
        if not self.dag_only_deployment_enabled:
            missing.append("global.dagOnlyDeployment.enabled")
        return missing
