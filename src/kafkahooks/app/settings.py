"""Process settings: ``KAFKAHOOKS_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KAFKAHOOKS_", env_file=".env", extra="ignore", frozen=True
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    # How long in-flight deliveries may finish on shutdown or revocation.
    shutdown_timeout: float = Field(default=20.0, gt=0)
    # HTTP requests in flight at once, over all routes.
    max_in_flight: int = Field(default=200, ge=1)
    # HTTP requests in flight at once to one origin (scheme, host, port), first come first
    # served: customers' endpoints often share an origin.
    max_per_origin: int = Field(default=200, ge=1)
    # Events taken from Kafka and not yet finished; above it partitions pause.  For
    # topics of routes with endpoints: unfinished events only (kafka/offsets.py).
    window: int = Field(default=5000, ge=1)
    # Every offset held in memory, finished behind an unfinished one or not; above it
    # partitions pause as for a full window.  Unset: 10 x window.
    held_max: int | None = Field(default=None, ge=1)
    # Compacted topic of finished offsets above the committed ones (routes with
    # endpoints:); created if missing, like the endpoint store topic.
    progress_topic: str = Field(default="kafkahooks.progress", min_length=1)
    commit_interval: float = Field(default=1.0, gt=0)
    commit_every: int = Field(default=2000, ge=1)
    poll_batch: int = Field(default=500, ge=1, le=100_000)
    # /metrics, /healthz, /readyz; port 0 turns the server off.
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=9400, ge=0, le=65535)
    # Opt-in for loopback/private/plain-http targets (demo and tests only).
    allow_local_targets: bool = False
    # /healthz turns 503 after this many seconds without progress while records wait;
    # unset: max(2 x shutdown_timeout, 60).
    stall_after: float | None = Field(default=None, gt=0)

    @property
    def stall_bound(self) -> float:
        if self.stall_after is not None:
            return self.stall_after
        return max(2 * self.shutdown_timeout, 60.0)
