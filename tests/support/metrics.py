"""Scrape a bridge's ``/metrics`` on loopback and read samples by name and labels."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(port: int, timeout: float = 5) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample: ``(name, labels) -> value``."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(port: int, name: str, **labels: str) -> float | None:
    """One sample's value, or None when the bridge has not exported it (yet)."""
    try:
        return scrape(port).get((name, frozenset(labels.items())))
    except OSError:
        return None
