"""Imports every model so that ``Base.metadata`` describes the whole schema."""

from tarmac.access.models import ApiToken, DeploymentMember, User
from tarmac.cleanup.models import Lease
from tarmac.db.base import Base
from tarmac.deployments.models import Deployment, EnvVar
from tarmac.deploys.models import BundleRecord, Deploy, DeployGit
from tarmac.events.models import EventRecord
from tarmac.rollouts.models import MetadataSnapshot, RuntimeStatus
from tarmac.webhooks.models import Webhook, WebhookDelivery

__all__ = [
    "ApiToken",
    "Base",
    "BundleRecord",
    "Deploy",
    "DeployGit",
    "Deployment",
    "DeploymentMember",
    "EnvVar",
    "EventRecord",
    "Lease",
    "MetadataSnapshot",
    "RuntimeStatus",
    "User",
    "Webhook",
    "WebhookDelivery",
]
