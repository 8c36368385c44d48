"""HTTP routes for deploys, the deploy history and the live DAGs."""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import (
    APIRouter,
    Depends,
    Header,
    Query,
    Request,
    Response,
    status,
)
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tarmac.api.dependencies import (
    CurrentPrincipal,
    InstallationDep,
    ReadSession,
    reading_as_caller,
)
from tarmac.bundles.s3_blob_store import direct_download_url
from tarmac.deploys import service
from tarmac.deploys.live_notifications import (
    MAX_WAIT_SECONDS,
    LiveWatcher,
    etag_matches,
    live_etag,
    quoted_etag,
)
from tarmac.deploys.multipart_stream import DeployForm, read_deploy_form
from tarmac.deploys.perform import perform_deploy
from tarmac.deploys.schemas import CurrentDags, DeployList, DeployOut, DeployType
from tarmac.deploys.upload_slots import UploadSlots
from tarmac.installation.context import Installation
from tarmac.rollouts.service import rollout_of

router = APIRouter(prefix="/api/v1/deployments/{deployment_id}", tags=["deploys"])


async def _live_watcher(request: Request) -> LiveWatcher:
    watcher: LiveWatcher = request.app.state.live_watcher
    return watcher


LiveWatcherDep = Annotated[LiveWatcher, Depends(_live_watcher)]


_DEPLOY_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"type": "string", "enum": [t.value for t in DeployType]},
                        "description": {"type": "string", "maxLength": 2000},
                        "image": {"type": "string", "description": "repo[:tag][@sha256:…]"},
                        "runtime_version": {"type": "string"},
                        "allow_import_errors": {
                            "type": "boolean",
                            "description": "deploy despite DAG import errors in the target "
                            "Airflow (System or Deployment Admin); recorded",
                        },
                        "dags": {
                            "type": "string",
                            "format": "binary",
                            "description": "the DAGs folder as a tar.gz",
                        },
                        "clear_hold": {
                            "type": "boolean",
                            "description": "clear the hold a rollback left (recorded)",
                        },
                        "freeze_override_reason": {
                            "type": "string",
                            "description": "admins: deploy inside a freeze window, saying why",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/deploys",
    status_code=status.HTTP_201_CREATED,
    response_model=DeployOut,
    openapi_extra=_DEPLOY_FORM_SCHEMA,
    responses={200: {"description": "the replay of an Idempotency-Key"}},
)
async def create_deploy(
    deployment_id: str,
    request: Request,
    principal: CurrentPrincipal,
    installation: InstallationDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> DeployOut:
    """Push an image and/or DAG deploy; it is DEPLOYED once its code is live.

    The body is parsed as it arrives, the bundle streamed into the blob store; the rest
    (database, disk) runs in a worker thread of the uploads' own pool, so the event loop
    and the threads serving everything else stay free. Uploads in flight are bounded.
    """
    body = request.stream()

    async def next_chunk() -> bytes | None:
        async for chunk in body:
            if chunk:
                return chunk
        return None

    def read_form() -> DeployForm:
        return read_deploy_form(
            lambda: anyio.from_thread.run(next_chunk),
            content_type=request.headers.get("content-type", ""),
            blob_store=installation.blob_store,
            max_bytes=installation.bundle_limits.max_upload_bytes,
        )

    slots: UploadSlots = request.app.state.upload_slots
    with slots.claim(principal.user_id):
        outcome = await anyio.to_thread.run_sync(
            lambda: perform_deploy(
                installation,
                principal=principal,
                deployment_id=deployment_id,
                idempotency_key=idempotency_key,
                read_form=read_form,
            ),
            limiter=slots.limiter,  # never the threads that serve reads and /healthz
        )
    if outcome.replayed:
        response.status_code = status.HTTP_200_OK
    return outcome.deploy


@router.get("/deploys", response_model=DeployList)
def list_deploys(
    deployment_id: str,
    request: Request,
    installation: InstallationDep,
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DeployList:
    """The deploy history, newest first, a page at a time."""
    with reading_as_caller(request, installation) as (principal, session):
        items, next_cursor, deployment = service.list_deploys(
            session, principal=principal, deployment_id=deployment_id, limit=limit, cursor=cursor
        )
        status = deployment.runtime_status
        return DeployList(
            items=[
                service.deploy_out(d, deployment, rollout=rollout_of(status, d.id)) for d in items
            ],
            next_cursor=next_cursor,
        )


@router.get("/deploys/{deploy_id}", response_model=DeployOut)
def get_deploy(
    deployment_id: str, deploy_id: str, request: Request, installation: InstallationDep
) -> DeployOut:
    with reading_as_caller(request, installation) as (principal, session):
        deploy, deployment = service.get_deploy(
            session, principal=principal, deployment_id=deployment_id, deploy_id=deploy_id
        )
        rollout = rollout_of(deployment.runtime_status, deploy.id)
        return service.deploy_out(deploy, deployment, rollout=rollout)


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
        return _live_dags_response(_with_download_url(installation, live))


@router.get("/dags/deploys/{deploy_id}", response_model=CurrentDags)
def deploy_dags(
    deployment_id: str,
    deploy_id: str,
    principal: CurrentPrincipal,
    session: ReadSession,
    installation: InstallationDep,
) -> JSONResponse:
    """The DAG bundle of any deploy of the Deployment (versioned Airflow DAG bundles)."""
    dags = service.deploy_dags(
        session, principal=principal, deployment_id=deployment_id, deploy_id=deploy_id
    )
    return JSONResponse(_dags_json(_with_download_url(installation, dags)))


def _with_download_url(installation: Installation, dags: CurrentDags) -> CurrentDags:
    """Add a pre-signed URL of the bundle when blobs are in S3 (the caller may read them)."""
    url = direct_download_url(
        installation.blob_store,
        dags.bundle_sha256,
        expires_seconds=installation.settings.download_url_seconds,
    )
    return dags.model_copy(update={"download_url": url}) if url else dags


def _etag_headers(deploy_id: str | None) -> dict[str, str]:
    return {"ETag": quoted_etag(deploy_id), "Cache-Control": "no-cache"}


def _live_dags_response(live: CurrentDags) -> JSONResponse:
    return JSONResponse(_dags_json(live), headers=_etag_headers(live.deploy_id))


def _dags_json(dags: CurrentDags) -> dict[str, Any]:
    """The answer as before pre-signed URLs existed, plus ``download_url`` when there is one."""
    body = dags.model_dump(mode="json")
    if body["download_url"] is None:
        del body["download_url"]
    return body
