"""Route options for throughput and isolation: batching, endpoint limits, breaker."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BatchConfig", "CircuitBreakerConfig", "EndpointLimits", "RetryTopicsConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchConfig(_Strict):
    """Send up to ``max_events`` (or ``max_wait_ms`` worth) as one signed JSON array."""

    max_events: int = Field(default=100, ge=1, le=10_000)
    max_wait_ms: int = Field(default=50, ge=0, le=60_000)
    # Batches in flight per partition.  A key always maps to the same lane, so key order
    # holds across batches; `ordering: partition` uses one lane.
    lanes: int = Field(default=8, ge=1, le=256)


class CircuitBreakerConfig(_Strict):
    """After ``failures`` failed attempts in a row, stop sending and probe every ``probe_after``."""

    enabled: bool = True
    failures: int = Field(default=20, ge=1)
    probe_after: float = Field(default=5.0, gt=0, description="seconds open before a probe")


class EndpointLimits(_Strict):
    """Limits shared by every route that targets the same origin (scheme://host:port)."""

    concurrency: int | None = Field(default=None, ge=1)
    rate_per_second: float | None = Field(default=None, gt=0)

    @property
    def bounds(self) -> bool:
        """Whether these limits bound anything (else a gate with them lets all through)."""
        return self.concurrency is not None or self.rate_per_second is not None


class RetryTopicsConfig(_Strict):
    """Long retry schedules through Kafka: after the in-process attempts, park the event
    on ``<prefix>.<tier>`` and try again after that tier's delay (seconds)."""

    delays: list[float] = Field(min_length=1, max_length=20)
    prefix: str | None = Field(default=None, description="default kafkahooks.retry.<route>")

    def topic(self, route: str, tier: int) -> str:
        return f"{self.prefix or f'kafkahooks.retry.{route}'}.{tier}"
