"""Metric definitions and logging set-up: the bottom layer, importable from everywhere."""

from kafkahooks.telemetry.logs import setup_logging
from kafkahooks.telemetry.metrics import CIRCUIT_STATES, METRICS, route_metrics

__all__ = [
    "CIRCUIT_STATES",
    "METRICS",
    "route_metrics",
    "setup_logging",
]
