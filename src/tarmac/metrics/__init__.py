"""Prometheus metrics of one app: counters fed by committed domain events, the outbox backlog.

The app subscribes ``TarmacMetrics.on_event`` to its database's committed events; the
API's error handler counts refusals into the app's metrics.
"""

from tarmac.metrics.registry import TarmacMetrics

__all__ = ["TarmacMetrics"]
