"""Summaries of measured values (median, p90 by nearest rank, max) and weftd's or kube-proxy's histogram
means between two scrapes: the policy bench's, shared."""

import statistics

from bench_policy.stats import histogram_mean, quantile, summary

__all__ = ["histogram_mean", "median", "p90", "quantile", "summary"]


def median(values):
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else float("nan")


def p90(values):
    return quantile([v for v in values if v is not None and v == v], 0.9)
