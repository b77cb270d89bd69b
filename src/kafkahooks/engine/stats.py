"""What one member's engine did with the events it took: the counts behind the run summary.

Every step that ends an outcome counts it here, once per event and route.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Stats"]


@dataclass
class Stats:
    taken: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    filtered: int = 0
    by_route: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, route: str, outcome: str, n: int = 1) -> None:
        per = self.by_route.setdefault(route, {})
        per[outcome] = per.get(outcome, 0) + n
