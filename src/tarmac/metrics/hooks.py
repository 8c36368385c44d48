"""Hooks that services call to count what happened, without knowing about the app.

The serving app attaches its ``TarmacMetrics`` for as long as it runs (``recording``);
the hooks record into whatever is attached, so they are no-ops in the CLI and in
unit tests, and never raise into the code that calls them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tarmac.metrics.registry import TarmacMetrics

log = logging.getLogger(__name__)

_lock = threading.Lock()
_attached: list[TarmacMetrics] = []


@contextmanager
def recording(metrics: TarmacMetrics) -> Iterator[TarmacMetrics]:
    """Let the hooks record into ``metrics`` while the block runs."""
    with _lock:
        _attached.append(metrics)
    try:
        yield metrics
    finally:
        with _lock:
            _attached.remove(metrics)


def observe_deploy(*, kind: str, outcome: str, seconds: float) -> None:
    """A deploy ended: ``kind`` ``deploy``/``rollback``, ``outcome`` ``success``/``failure``."""
    _each(lambda m: m.observe_deploy(kind=kind, outcome=outcome, seconds=seconds))


def count_refusal(*, code: str) -> None:
    """A request was refused with this error code (``deploy_too_old``, ``permission_denied``…)."""
    _each(lambda m: m.count_refusal(code=code))


def observe_cleanup(
    *, deleted_deploys: int, deleted_blobs: int, dry_run: bool = False, outcome: str = "success"
) -> None:
    """A cleanup run ended; deleted counts are added only for real (not dry) runs."""
    _each(
        lambda m: m.observe_cleanup(
            outcome=outcome,
            dry_run=dry_run,
            deleted_deploys=deleted_deploys,
            deleted_blobs=deleted_blobs,
        )
    )


def _each(record: Callable[[TarmacMetrics], None]) -> None:
    with _lock:
        attached = tuple(_attached)
    for metrics in attached:
        try:
            record(metrics)
        except Exception:  # counting must never fail the deploy or request it describes
            log.exception("could not record a metric")
