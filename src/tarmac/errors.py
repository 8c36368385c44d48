"""The one error hierarchy: every refusal tarmac gives has a stable code and HTTP status.

The API renders them as JSON (``tarmac.api.errors``), the UI as pages
(``tarmac.ui.route_class``), the CLI prints their message. Never raise a bare
``Exception`` for something a user did wrong.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TarmacError(Exception):
    """Base of every expected error. ``details`` are extra JSON fields of the error body."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class InvalidRequest(TarmacError):
    code = "invalid_request"
    status = 400


class DescriptionRequired(TarmacError):
    code = "description_required"
    status = 400


class InvalidBundle(TarmacError):
    code = "invalid_bundle"
    status = 400


class UnknownRuntimeVersion(TarmacError):
    code = "unknown_runtime_version"
    status = 400


class Unauthenticated(TarmacError):
    code = "unauthenticated"
    status = 401


class PermissionDenied(TarmacError):
    code = "permission_denied"
    status = 403


class NotFound(TarmacError):
    code = "not_found"
    status = 404


class Conflict(TarmacError):
    """A request that is well-formed but clashes with the current state."""

    code = "conflict"
    status = 409


class AlreadyExists(Conflict):
    code = "already_exists"


class RollbackDisabled(Conflict):
    code = "rollback_disabled"


class RollbackNotEnabled(Conflict):
    code = "rollback_not_enabled"


class DeployTooOld(Conflict):
    code = "deploy_too_old"


class RuntimeUnsupported(Conflict):
    code = "runtime_unsupported"


class DeployMechanismUnsupported(Conflict):
    code = "deploy_mechanism_unsupported"


class AlreadyCurrent(Conflict):
    code = "already_current"


class TargetNotDeployed(Conflict):
    """The target deploy never went live (FAILED), so its code is not known to work."""

    code = "target_not_deployed"


class AcknowledgementRequired(Conflict):
    code = "acknowledgement_required"


class DagDeployDisabled(Conflict):
    code = "dag_deploy_disabled"


class RuntimeDowngrade(Conflict):
    code = "runtime_downgrade"


class DeployInProgress(Conflict):
    code = "deploy_in_progress"


class DagImportErrors(Conflict):
    """The bundle's DAG files fail to import in the target runtime's Airflow."""

    code = "dag_import_errors"


class RollbackHold(Conflict):
    """A plain deploy while the Deployment is held after a rollback."""

    code = "rollback_hold"


class DeployMarkedBad(Conflict):
    """A rollback to a deploy marked bad, without acknowledging ``marked_bad``."""

    code = "deploy_marked_bad"


class DeployFrozen(Conflict):
    """A plain deploy inside one of the Deployment's freeze windows."""

    code = "deploy_frozen"


class IdempotencyKeyReused(TarmacError):
    """An Idempotency-Key sent again with a different request: refused, never replayed."""

    code = "idempotency_key_reused"
    status = 422


class RequestTooLarge(TarmacError):
    """A request body over the endpoint's size limit."""

    code = "request_too_large"
    status = 413


class RequestTooSlow(TarmacError):
    """A request body that arrived slower than the minimum rate, or stopped arriving."""

    code = "request_too_slow"
    status = 408


class TooManyUploads(TarmacError):
    """Too many deploy uploads in flight, for this user or for the whole server."""

    code = "too_many_uploads"
    status = 429


class DeployFailed(TarmacError):
    """The deploy was recorded but its code could not be made live; the old code stays."""

    code = "deploy_failed"
    status = 500


class WebhookUrlRefused(TarmacError):
    """A webhook URL that points at tarmac itself, a metadata or link-local address (SSRF)."""

    code = "webhook_url_refused"
    status = 400


class SecretUndecryptable(TarmacError, ValueError):
    """A stored secret that the installation's key no longer decrypts (the key changed)."""

    code = "secret_undecryptable"
    status = 409


class ConfigurationError(Exception):
    """The installation's configuration is wrong: a start-up error, not an API error."""


def _all_subclasses(cls: type[TarmacError]) -> list[type[TarmacError]]:
    found: list[type[TarmacError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


ERROR_BY_CODE: dict[str, type[TarmacError]] = {c.code: c for c in _all_subclasses(TarmacError)}
"""Error class for each stable code, so a refusal found by a pure rule can be raised."""
