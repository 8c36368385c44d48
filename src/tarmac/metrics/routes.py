"""``GET /metrics``: the app's metrics in the Prometheus (or OpenMetrics) text format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import choose_encoder

from tarmac.metrics.registry import TarmacMetrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """No auth, like ``/healthz``: counts only, for a Prometheus scraper."""
    app_metrics: TarmacMetrics = request.app.state.metrics
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(content=encode(app_metrics.registry), media_type=content_type)
