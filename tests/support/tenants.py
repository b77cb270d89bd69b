"""Routes with ``endpoints:`` without Kafka or network: an in-memory directory, a sender
that answers per URL, a fake producer for parked records, and a pipeline wiring them."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import SecretStr

from kafkahooks.config.models import RouteConfig, RoutesFile
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.route import RouteTable
from kafkahooks.delivery.sender import Response
from kafkahooks.endpoints import Endpoint, MemoryDirectory, SigningSecret
from kafkahooks.engine.dlqlimit import DeadLetterLimit
from kafkahooks.engine.pipeline import Pipeline
from kafkahooks.event import Event, Headers
from kafkahooks.kafka.offsets import OffsetTracker
from tests.support.pipelines import DeadLetters

SECRET = "whsec_" + base64.b64encode(b"current-secret-of-the-endpoint-1").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"previous-secret-of-endpoint-0001").decode()


def tenant_route(
    name: str = "calls", topics: list[str] | None = None, **options: Any
) -> RouteConfig:
    return RouteConfig.model_validate(
        {
            "name": name,
            "topics": topics or ["t"],
            "event_type": "value.event",
            "template": {"id": "{{ value.id }}", "event": "{{ event_type }}"},
            "endpoints": {"tenant": "value.account"},
            "signing": {"scheme": "standard-webhooks"},
            "retry": {"max_attempts": 1, "initial_backoff": 0.001, "jitter": 0},
            **options,
        }
    )


def endpoint(
    id: str,
    tenant: str = "acme",
    url: str | None = None,
    secrets: tuple[str, ...] = (SECRET,),
    **fields: Any,
) -> Endpoint:
    return Endpoint(
        id=id,
        tenant=tenant,
        url=url or f"https://{tenant}.example.test/hooks/{id}?token=t0ps3cret",
        secrets=tuple(SigningSecret(SecretStr(s)) for s in secrets),
        **fields,
    )


def event(value: bytes, offset: int = 0, key: bytes | None = b"k", topic: str = "t") -> Event:
    return Event(topic, 0, offset, 1_718_000_000_000, key, value)


class ByUrl:
    """A sender answering each URL with its status (default 200), remembering requests."""

    def __init__(self, statuses: dict[str, int] | None = None, default: int = 200) -> None:
        self.statuses = statuses or {}
        self.default = default
        self.sent: list[OutboundRequest] = []

    async def send(self, request: OutboundRequest) -> Response:
        self.sent.append(request)
        return Response(self.statuses.get(request.url, self.default))

    async def aclose(self) -> None:
        pass

    def urls(self) -> list[str]:
        return [r.url for r in self.sent]


class Producer:
    """Stands in for the acknowledged producer: parks are kept, acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Headers]] = []

    async def send(
        self, topic: str, value: bytes | None, key: bytes | None, headers: Headers
    ) -> None:
        self.sent.append((topic, value, key, headers))


class AttemptLogs:
    """The delivery log's side of the deliverer: every record, keyword arguments included."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(
        self,
        event_id: str,
        route: str,
        attempt: int,
        status: int | None,
        latency: float,
        error: str | None,
        excerpt: str | None = None,
        endpoint_id: str | None = None,
        event_type: str | None = None,
    ) -> None:
        self.records.append(
            {
                "event_type": event_type,
                "event_id": event_id,
                "route": route,
                "attempt": attempt,
                "status": status,
                "error": error,
                "endpoint_id": endpoint_id,
            }
        )


class TenantHarness:
    def __init__(
        self,
        routes: list[RouteConfig],
        endpoints: list[Endpoint],
        sender: ByUrl | None = None,
        parks: bool = False,
        dead_letter_limit: DeadLetterLimit | None = None,
    ) -> None:
        self.directory = MemoryDirectory(endpoints)
        self.sender = sender or ByUrl()
        self.dead = DeadLetters()
        self.tracker = OffsetTracker()
        self.producer = Producer() if parks else None
        self.log = AttemptLogs()
        self.table = RouteTable(routes, directory=self.directory)
        self.pipeline = Pipeline(
            self.table,
            Deliverer(self.sender, 10, self.log),  # type: ignore[arg-type]
            self.dead,  # type: ignore[arg-type]
            self.tracker,
            dead_letter_limit=dead_letter_limit,
            producer=self.producer,  # type: ignore[arg-type]
        )

    def finished(self, topic: str = "t", partition: int = 0) -> int | None:
        return self.tracker.positions(force=True).get((topic, partition))


def routes_file(routes: list[dict[str, Any]], **top: Any) -> RoutesFile:
    return RoutesFile.model_validate(
        {"kafka": {"bootstrap_servers": "127.0.0.1:9092"}, "routes": routes, **top}
    )
