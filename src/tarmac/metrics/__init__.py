"""Prometheus metrics: counters fed by small hooks, the outbox backlog read at scrape time.

Services call the hooks (``observe_deploy``, ``count_refusal``, ``observe_cleanup``);
they record into the metrics of the app serving in this process, or nowhere.
"""

from tarmac.metrics.hooks import count_refusal, observe_cleanup, observe_deploy, recording
from tarmac.metrics.registry import TarmacMetrics

__all__ = ["TarmacMetrics", "count_refusal", "observe_cleanup", "observe_deploy", "recording"]
