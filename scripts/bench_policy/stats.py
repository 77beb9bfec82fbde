"""Summaries of measured values: median, p90 (nearest rank) and max."""

import statistics


def quantile(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, int(q * len(ordered) + 0.999999))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values):
    """'median / p90 / max' (same unit as values)."""
    if not values:
        return "–"
    return f"{statistics.median(values):.1f} / {quantile(values, 0.9):.1f} / {max(values):.1f}"


def histogram_mean(after, name, before=None):
    """The mean of what weftd's histogram `name` recorded between two scrapes (since its start without
    `before`), in seconds: its _sum's growth over its _count's; one record between them is that record."""
    before = before or {}
    count = after.get(name + "_count", 0) - before.get(name + "_count", 0)
    return (after.get(name + "_sum", 0) - before.get(name + "_sum", 0)) / count if count else float("nan")
