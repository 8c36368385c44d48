"""Ship events to Elasticsearch with the official client's bulk API, one index per day.

Each event is a bulk ``create`` with the outbox id as ``_id``: a retry of an event that
already arrived gets a 409 version conflict, which means "stored" - never a duplicate.
The ``elasticsearch`` package is an optional extra, imported only when a sink is built.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tarmac.errors import ConfigurationError
from tarmac.events.sink import PendingEvent, SinkUnavailable

log = logging.getLogger(__name__)

ALREADY_STORED = 409
"""A ``create`` of an ``_id`` the index already holds: the event arrived earlier."""


class ElasticsearchSink:
    """The production ``EventSink``: bulk ``create`` into ``<prefix>-YYYY.MM.DD``."""

    def __init__(
        self,
        *,
        url: str,
        index_prefix: str = "tarmac-events",
        request_timeout: float = 10.0,
    ) -> None:
        try:
            import elasticsearch
        except ImportError as exc:
            raise ConfigurationError(
                "TARMAC_ELASTICSEARCH_URL is set but the Elasticsearch client is missing: "
                "install tarmac[elasticsearch]"
            ) from exc
        self.index_prefix = index_prefix
        # The exporter owns retries (with backoff, across restarts), so the client doesn't.
        self._client = elasticsearch.Elasticsearch(
            url, request_timeout=request_timeout, max_retries=0, retry_on_timeout=False
        )
        self._unavailable: tuple[type[Exception], ...] = (
            elasticsearch.ApiError,
            elasticsearch.TransportError,
            elasticsearch.UnsupportedProductError,
        )

    def send(self, batch: Sequence[PendingEvent]) -> set[int]:
        """Bulk-create the batch; return the ids Elasticsearch stored now or before."""
        if not batch:
            return set()
        operations: list[dict[str, Any]] = []
        for event in batch:
            index = daily_index(self.index_prefix, event=event)
            operations.append({"create": {"_index": index, "_id": str(event.id)}})
            operations.append(event.document)
        try:
            response = self._client.bulk(operations=operations)
        except self._unavailable as exc:
            raise SinkUnavailable(f"Elasticsearch bulk request failed: {exc}") from exc
        acknowledged, rejected = read_bulk_items(response.body.get("items", []))
        if rejected:
            sample = "; ".join(f"{i}: {why}" for i, why in list(rejected.items())[:5])
            log.warning("Elasticsearch rejected %d events (will retry): %s", len(rejected), sample)
        return acknowledged

    def close(self) -> None:
        self._client.close()


def read_bulk_items(items: Iterable[Mapping[str, Any]]) -> tuple[set[int], dict[int, str]]:
    """Split a bulk response's items into acknowledged ids and rejected ids with reasons."""
    acknowledged: set[int] = set()
    rejected: dict[int, str] = {}
    for item in items:
        result: Mapping[str, Any] = next(iter(item.values()), {})
        try:
            event_id = int(result.get("_id", ""))
        except ValueError:  # not one of ours; nothing to acknowledge
            continue
        status = int(result.get("status", 0))
        if 200 <= status < 300 or status == ALREADY_STORED:
            acknowledged.add(event_id)
        else:
            error = result.get("error") or {}
            reason = error.get("type", "error") if isinstance(error, dict) else str(error)
            rejected[event_id] = f"{status} {reason}"
    return acknowledged, rejected


def daily_index(prefix: str, *, event: PendingEvent) -> str:
    """``<prefix>-YYYY.MM.DD`` of the event's UTC ``@timestamp`` (its outbox time if absent)."""
    moment = parse_timestamp(event.document.get("@timestamp")) or event.created_at
    return f"{prefix}-{moment.astimezone(UTC):%Y.%m.%d}"


def parse_timestamp(value: object) -> datetime | None:
    """An aware datetime from an ISO-8601 ``@timestamp``; naive ones are taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
