"""HTTP routes for deploys, the deploy history and the live DAGs."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Header,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, ReadSession, commit
from tarmac.deployments.service import get_deployment
from tarmac.deploys import service
from tarmac.deploys.live_notifications import (
    MAX_WAIT_SECONDS,
    LiveWatcher,
    etag_matches,
    live_etag,
    quoted_etag,
)
from tarmac.deploys.locking import deploy_lock_errors
from tarmac.deploys.schemas import CurrentDags, DeployList, DeployOut, DeployStatus
from tarmac.deploys.uploads import StoredBundle, ensure_bundle_record, store_bundle
from tarmac.errors import DeployFailed

router = APIRouter(prefix="/api/v1/deployments/{deployment_id}", tags=["deploys"])


async def _live_watcher(request: Request) -> LiveWatcher:
    watcher: LiveWatcher = request.app.state.live_watcher
    return watcher


LiveWatcherDep = Annotated[LiveWatcher, Depends(_live_watcher)]


@router.post("/deploys", status_code=status.HTTP_201_CREATED, response_model=DeployOut)
def create_deploy(
    deployment_id: str,
    principal: CurrentPrincipal,
    installation: InstallationDep,
    response: Response,
    type: Annotated[str, Form()],
    description: Annotated[str | None, Form(max_length=2000)] = None,
    image: Annotated[str | None, Form(max_length=512)] = None,
    runtime_version: Annotated[str | None, Form(max_length=32)] = None,
    dags: Annotated[UploadFile | None, File()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> DeployOut:
    """Push an image and/or DAG deploy; it is DEPLOYED once its code is live."""
    key = service.check_idempotency_key(idempotency_key)
    request = service.DeployRequest(
        type=service.parse_deploy_type(type),
        description=description.strip() or None if description else None,
        image=image or None,
        runtime_version=runtime_version or None,
        bundle_sha256=None,
    )
    # Check what can be checked before reading the upload, without holding any lock.
    with installation.database.session() as session:
        deployment = get_deployment(session, principal=principal, deployment_id=deployment_id)
        if key and (
            earlier := service.find_idempotent_deploy(
                session, deployment_id=deployment_id, user_id=principal.user_id, key=key
            )
        ):
            response.status_code = status.HTTP_200_OK
            return service.deploy_out(earlier, deployment)
        service.check_deploy_request(
            deployment,
            principal=principal,
            request=request,
            has_bundle=dags is not None,
            flags=installation.flags,
            catalog=installation.catalog,
        )
    bundle: StoredBundle | None = None
    if dags is not None:
        bundle = store_bundle(
            dags.file, blob_store=installation.blob_store, limits=installation.bundle_limits
        )
        request = _with_bundle(request, bundle.sha256)
        installation.runtime_backend.prepare(bundle.sha256)
    with installation.database.session(write=True) as session, deploy_lock_errors(deployment_id):
        if bundle is not None:
            ensure_bundle_record(session, bundle)
        result = service.create_deploy(
            session,
            principal=principal,
            deployment_id=deployment_id,
            request=request,
            flags=installation.flags,
            catalog=installation.catalog,
            backend=installation.runtime_backend,
            lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
            idempotency_key=key,
        )
        deployment = get_deployment(session, principal=principal, deployment_id=deployment_id)
        out = service.deploy_out(result.deploy, deployment)
        commit(session, installation)
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    if result.deploy.status == DeployStatus.FAILED.value:
        raise DeployFailed(
            result.deploy.failure_reason or "the deploy failed", deploy=out.model_dump(mode="json")
        )
    return out


def _with_bundle(request: service.DeployRequest, sha256: str) -> service.DeployRequest:
    return service.DeployRequest(
        type=request.type,
        description=request.description,
        image=request.image,
        runtime_version=request.runtime_version,
        bundle_sha256=sha256,
    )


@router.get("/deploys", response_model=DeployList)
def list_deploys(
    deployment_id: str,
    principal: CurrentPrincipal,
    session: ReadSession,
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DeployList:
    """The deploy history, newest first, a page at a time."""
    items, next_cursor, deployment = service.list_deploys(
        session, principal=principal, deployment_id=deployment_id, limit=limit, cursor=cursor
    )
    return DeployList(
        items=[service.deploy_out(d, deployment) for d in items], next_cursor=next_cursor
    )


@router.get("/deploys/{deploy_id}", response_model=DeployOut)
def get_deploy(
    deployment_id: str, deploy_id: str, principal: CurrentPrincipal, session: ReadSession
) -> DeployOut:
    deploy, deployment = service.get_deploy(
        session, principal=principal, deployment_id=deployment_id, deploy_id=deploy_id
    )
    return service.deploy_out(deploy, deployment)


@router.get(
    "/dags/current",
    response_model=CurrentDags,
    responses={304: {"description": "the live deploy is still the one If-None-Match names"}},
)
async def current_dags(
    deployment_id: str,
    principal: CurrentPrincipal,
    installation: InstallationDep,
    watcher: LiveWatcherDep,
    wait: Annotated[float, Query(ge=0, description="Long poll up to this many seconds")] = 0,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """Which deploy's DAG bundle is live; ETag = the live deploy id (agents long-poll this).

    With ``If-None-Match`` naming the live deploy, waits up to ``wait`` seconds (at most
    60) for another deploy to go live, then answers 304. Async on purpose: a waiting
    request holds neither a thread nor a database connection.
    """

    def read() -> CurrentDags:
        with installation.database.session() as session:
            return service.current_dags(session, principal=principal, deployment_id=deployment_id)

    deadline = time.monotonic() + min(wait, MAX_WAIT_SECONDS)
    with watcher.watch(deployment_id=deployment_id) as waiter:
        # Registered before reading: a change committed meanwhile still wakes us.
        live = await run_in_threadpool(read)
        while etag_matches(if_none_match, live.deploy_id):
            waiter.etag = live_etag(live.deploy_id)
            remaining = deadline - time.monotonic()
            changed = await waiter.wait(remaining) if remaining > 0 else None
            if changed is None:  # timed out, or the server is stopping
                return Response(status_code=304, headers=_etag_headers(live.deploy_id))
            # Read once by the watcher for every waiter; this request was authorised above.
            live = changed
            waiter.rearm()
        return _live_dags_response(live)


@router.get("/dags/deploys/{deploy_id}", response_model=CurrentDags)
def deploy_dags(
    deployment_id: str, deploy_id: str, principal: CurrentPrincipal, session: ReadSession
) -> CurrentDags:
    """The DAG bundle of any deploy of the Deployment (versioned Airflow DAG bundles)."""
    return service.deploy_dags(
        session, principal=principal, deployment_id=deployment_id, deploy_id=deploy_id
    )


def _etag_headers(deploy_id: str | None) -> dict[str, str]:
    return {"ETag": quoted_etag(deploy_id), "Cache-Control": "no-cache"}


def _live_dags_response(live: CurrentDags) -> JSONResponse:
    return JSONResponse(live.model_dump(mode="json"), headers=_etag_headers(live.deploy_id))
