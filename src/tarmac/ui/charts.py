"""Server-rendered SVG bar charts: geometry computed here, markup in ``_bar_chart.html``.

The SVG scales to its container (``viewBox``), so it stays readable on a 390 px phone:
long periods are grouped by week, and at most about a dozen axis labels are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from tarmac.insight.dora import DayCounts

WIDTH = 420
HEIGHT = 220
LEFT = 30
BOTTOM = 28
TOP = 10
MAX_LABELS = 5


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    x_labels: tuple[Tick, ...]
    y_labels: tuple[Tick, ...]
    plot_left: float
    plot_right: float
    plot_bottom: float
    summary: str


def deploys_chart(daily: tuple[DayCounts, ...], *, days: int) -> BarChart:
    """Deploys and rollbacks per day (per week beyond a month), stacked."""
    buckets = _bucket(daily)
    by_week = len(daily) > 32
    top = max([d + r for _, d, r in buckets] + [1])
    plot_w = WIDTH - LEFT - 8
    plot_h = HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(buckets), 1)
    bar_w = max(slot * 0.7, 1.0)
    bars: list[Bar] = []
    x_labels: list[Tick] = []
    step = max(1, -(-len(buckets) // MAX_LABELS))
    for n, (start, deploys, rollbacks) in enumerate(buckets):
        x = LEFT + n * slot + (slot - bar_w) / 2
        base: float = HEIGHT - BOTTOM
        when = f"week of {start:%b %d}" if by_week else f"{start:%b %d}"
        for series, count in (("deploys", deploys), ("rollbacks", rollbacks)):
            if count:
                h = plot_h * count / top
                base -= h
                bars.append(
                    Bar(
                        x=x,
                        y=base,
                        width=bar_w,
                        height=h,
                        series=series,
                        title=f"{when}: {count} {series}",
                    )
                )
        if n % step == 0:
            x_labels.append(Tick(x=x + bar_w / 2, y=HEIGHT - BOTTOM + 16, text=f"{start:%b %d}"))
    y_labels = tuple(
        Tick(x=LEFT - 6, y=HEIGHT - BOTTOM - plot_h * value / top + 4, text=str(value))
        for value in sorted({0, top // 2, top})
    )
    total_d = sum(d for _, d, _ in buckets)
    total_r = sum(r for _, _, r in buckets)
    return BarChart(
        title="Deploys and rollbacks per " + ("week" if by_week else "day"),
        width=WIDTH,
        height=HEIGHT,
        bars=tuple(bars),
        x_labels=tuple(x_labels),
        y_labels=y_labels,
        plot_left=LEFT,
        plot_right=WIDTH - 8,
        plot_bottom=HEIGHT - BOTTOM,
        summary=f"{total_d} deploys and {total_r} rollbacks over {days} days",
    )


def _bucket(daily: tuple[DayCounts, ...]) -> list[tuple[date, int, int]]:
    if len(daily) <= 32:
        return [(d.day, d.deploys, d.rollbacks) for d in daily]
    weeks: dict[date, list[int]] = {}
    for d in daily:
        monday = d.day - timedelta(days=d.day.weekday())
        counts = weeks.setdefault(monday, [0, 0])
        counts[0] += d.deploys
        counts[1] += d.rollbacks
    return [(start, c[0], c[1]) for start, c in sorted(weeks.items())]
