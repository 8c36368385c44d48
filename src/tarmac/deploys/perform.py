"""One deploy from request to committed deploy: checks, the bundle, the lock, the commit.

The order keeps the lock short and refuses early: who may push is checked before a byte
of the body is read; the bundle is staged, checked and stored, and unpacked, before the
Deployment is locked, and so is the import gate (the target Airflow parses the DAGs);
under the lock only the record and the symlink swap happen.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.deployments.service import get_deployment
from tarmac.deploys import service
from tarmac.deploys.descriptions import clean_description
from tarmac.deploys.git_metadata import parse_git_fields
from tarmac.deploys.idempotency import (
    DEPLOY_ENDPOINT,
    IdempotencyClaim,
    check_idempotency_key,
    claim_for,
    find_replay,
)
from tarmac.deploys.locking import deploy_lock_errors
from tarmac.deploys.multipart_stream import DeployForm
from tarmac.deploys.schemas import DeployOut, DeployStatus
from tarmac.deploys.uploads import (
    StoredBundle,
    ensure_bundle_record,
    keep_staged_bundle,
    require_blob,
)
from tarmac.errors import DeployFailed, InvalidRequest, PermissionDenied
from tarmac.import_checks.service import gate_deploy
from tarmac.installation.context import Installation
from tarmac.safe_ops.gates import GateRequest
from tarmac.safe_ops.hold import hold_facts


@dataclass(frozen=True)
class DeployOutcome:
    deploy: DeployOut
    replayed: bool


def perform_deploy(
    installation: Installation,
    *,
    principal: Principal,
    deployment_id: str,
    idempotency_key: str | None,
    read_form: Callable[[], DeployForm],
) -> DeployOutcome:
    """Read the form (staging its bundle), check it, store it, and make the deploy live.

    A retry with the same Idempotency-Key replays the deploy it made; the key is compared
    with the whole request (fields and bundle sha256), so the body is read first.
    """
    key = check_idempotency_key(idempotency_key)
    with installation.database.session() as session:
        deployment = get_deployment(session, principal=principal, deployment_id=deployment_id)
        if not (
            principal.has(roles.IMAGES_PUSH, deployment_id=deployment_id)
            or principal.has(roles.DAGS_PUSH, deployment_id=deployment_id)
        ):
            raise PermissionDenied(
                f"{principal.username} may not deploy to this Deployment "
                "(needs deployment.images.push or deployment.dags.push)"
            )
        # Kept as read for the checks below; create_deploy checks again under the lock.
        hold = hold_facts(session, deployment)
        session.expunge(deployment)
    form = read_form()
    with form.staged or nullcontext():
        request = _deploy_request(form)
        allow_import_errors = _allow_import_errors(form)
        claim = _claim(key, deployment_id, request, form)
        if claim is not None:
            with installation.database.session() as session:
                earlier = find_replay(
                    session, deployment_id=deployment_id, user_id=principal.user_id, claim=claim
                )
                if earlier is not None:
                    out = service.deploy_out(earlier, deployment)
                    return DeployOutcome(deploy=out, replayed=True)
        service.check_deploy_request(
            deployment,
            principal=principal,
            request=request,
            has_bundle=form.staged is not None,
            flags=installation.flags,
            catalog=installation.catalog,
            hold=hold,
        )
        bundle: StoredBundle | None = None
        if form.staged is not None:
            bundle = keep_staged_bundle(
                form.staged,
                blob_store=installation.blob_store,
                limits=installation.bundle_limits,
                backend=installation.runtime_backend,
            )
    if bundle is not None:
        request = service.with_bundle(request, bundle.sha256)
        installation.runtime_backend.prepare(bundle.sha256)
    gate = gate_deploy(
        installation,
        principal=principal,
        deployment_id=deployment_id,
        bundle_sha256=request.bundle_sha256,
        runtime_version=request.runtime_version,
        allow_import_errors=allow_import_errors,
    )
    with installation.database.session(write=True) as session, deploy_lock_errors(deployment_id):
        if bundle is not None:
            ensure_bundle_record(session, bundle)
            # Checked after the record is written: a cleanup that deleted the blob
            # before re-creating the record ends here, not in a deploy of missing bytes.
            require_blob(installation.blob_store, bundle.sha256)
        result = service.create_deploy(
            session,
            principal=principal,
            deployment_id=deployment_id,
            request=request,
            flags=installation.flags,
            catalog=installation.catalog,
            backend=installation.runtime_backend,
            lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
            idempotency=claim,
            gate=gate,
        )
        out = service.deploy_out(result.deploy, result.deployment)
        installation.commit(session)
    if result.deploy.status == DeployStatus.FAILED.value:
        raise DeployFailed(
            result.deploy.failure_reason or "the deploy failed", deploy=out.model_dump(mode="json")
        )
    return DeployOutcome(deploy=out, replayed=result.replayed)


def _allow_import_errors(form: DeployForm) -> bool:
    value = form.fields.get("allow_import_errors", "false").strip().lower()
    if value not in ("true", "false", "1", "0", ""):
        raise InvalidRequest(
            "allow_import_errors must be true or false", field="allow_import_errors"
        )
    return value in ("true", "1")


def _claim(
    key: str | None, deployment_id: str, request: service.DeployRequest, form: DeployForm
) -> IdempotencyClaim | None:
    return claim_for(
        key,
        endpoint=DEPLOY_ENDPOINT,
        deployment_id=deployment_id,
        request={  # every form field as sent, and the bundle's bytes
            "fields": dict(sorted(form.fields.items())),
            "bundle_sha256": form.staged.sha256 if form.staged is not None else None,
        },
    )


def _deploy_request(form: DeployForm) -> service.DeployRequest:
    fields = form.fields
    if "type" not in fields:
        raise InvalidRequest("type is required", field="type")
    for name, value in fields.items():
        if "\x00" in value:  # never text, and PostgreSQL refuses it
            raise InvalidRequest(f"form field {name!r} contains a NUL character", field=name)
    image = fields.get("image", "").strip()
    runtime_version = fields.get("runtime_version", "").strip()
    return service.DeployRequest(
        type=service.parse_deploy_type(fields["type"]),
        description=clean_description(fields.get("description")),
        image=image or None,
        runtime_version=runtime_version or None,
        bundle_sha256=None,
        gates=GateRequest(
            clear_hold=_form_bool(fields, "clear_hold"),
            freeze_override_reason=fields.get("freeze_override_reason"),
        ),
        git=parse_git_fields(fields),
    )


def _form_bool(fields: dict[str, str], name: str) -> bool:
    value = fields.get(name, "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name} must be true or false", field=name)
    return value in ("true", "1")
