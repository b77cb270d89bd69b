"""The management API (``kafkahooks api``): customer endpoints and tenant tokens over HTTP.

A lazy door (``kafkahooks/lazy.py``): ``kafkahooks --help`` does not import FastAPI,
uvicorn or the Kafka client through this package.  Modules: ``app`` (the FastAPI app
and its document), ``server`` (start-up and serving), ``state`` (the store, followed),
``tokens``, ``idempotency``, ``audit``, ``writes``, ``auth``, ``errors``, ``targets``,
``ratelimit``, ``models``, ``context`` and one router module per resource
(``endpoints``, ``admin``, ``catalogue``); ``attempts`` (the per-endpoint attempts and
hourly statistics index, pure) and ``attemptlog`` (that index fed from the delivery log,
older history read from it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkahooks.lazy import lazy_door

if TYPE_CHECKING:
    from kafkahooks.api.app import create_app, openapi_document
    from kafkahooks.api.attemptlog import AttemptsPage, EndpointAttempts, open_endpoint_attempts
    from kafkahooks.api.attempts import (
        Attempt,
        AttemptIndex,
        EndpointStats,
        IndexAnswer,
        LatencyEstimate,
        StatusFilter,
    )
    from kafkahooks.api.audit import Audit, AuditRecorder, AuditUnavailableError, KafkaAudit
    from kafkahooks.api.catalogue import build_catalogue
    from kafkahooks.api.context import ApiContext
    from kafkahooks.api.server import ApiStartError, load_api, run_api
    from kafkahooks.api.state import ApiStore, KafkaApiStore, StoreTables, open_api_store
    from kafkahooks.api.tokens import Principal, TokenTable, hash_secret, new_token

__all__ = [
    "ApiContext",
    "ApiStartError",
    "ApiStore",
    "Attempt",
    "AttemptIndex",
    "AttemptsPage",
    "Audit",
    "AuditRecorder",
    "AuditUnavailableError",
    "EndpointAttempts",
    "EndpointStats",
    "IndexAnswer",
    "KafkaApiStore",
    "KafkaAudit",
    "LatencyEstimate",
    "Principal",
    "StatusFilter",
    "StoreTables",
    "TokenTable",
    "build_catalogue",
    "create_app",
    "hash_secret",
    "load_api",
    "new_token",
    "open_api_store",
    "open_endpoint_attempts",
    "openapi_document",
    "run_api",
]

_HOMES = {
    "ApiContext": "context",
    "Attempt": "attempts",
    "AttemptIndex": "attempts",
    "AttemptsPage": "attemptlog",
    "EndpointAttempts": "attemptlog",
    "EndpointStats": "attempts",
    "IndexAnswer": "attempts",
    "LatencyEstimate": "attempts",
    "StatusFilter": "attempts",
    "open_endpoint_attempts": "attemptlog",
    "ApiStartError": "server",
    "ApiStore": "state",
    "Audit": "audit",
    "AuditRecorder": "audit",
    "AuditUnavailableError": "audit",
    "KafkaApiStore": "state",
    "KafkaAudit": "audit",
    "Principal": "tokens",
    "StoreTables": "state",
    "TokenTable": "tokens",
    "build_catalogue": "catalogue",
    "create_app": "app",
    "hash_secret": "tokens",
    "new_token": "tokens",
    "open_api_store": "state",
    "openapi_document": "app",
    "run_api": "server",
    "load_api": "server",
}

__getattr__ = lazy_door(__name__, globals(), _HOMES)
