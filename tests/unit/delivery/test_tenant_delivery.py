"""Delivery to a customer endpoint: every attempt reads the endpoint as it is then."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable

import standardwebhooks
from pydantic import SecretStr

from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.errors import (
    EndpointBackloggedError,
    EndpointDeletedError,
    EndpointDisabledError,
    PermanentDeliveryError,
)
from kafkahooks.delivery.http1 import Http1Sender
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.route import Route, RouteTable
from kafkahooks.delivery.sender import Response
from kafkahooks.endpoints import Endpoint, MemoryDirectory, SigningSecret
from kafkahooks.engine.settle import Outcome, outcome
from tests.support.tenants import (
    OLD_SECRET,
    SECRET,
    AttemptLogs,
    endpoint,
    event,
    tenant_route,
)

RETRYING = {"retry": {"max_attempts": 3, "initial_backoff": 0.001, "jitter": 0}}


class Scripted:
    """Answers with ``statuses`` in turn; ``between`` runs after each answer (the store
    changing while the event waits for its next attempt)."""

    def __init__(self, *statuses: int, between: Callable[[int], None] | None = None) -> None:
        self.statuses = list(statuses)
        self.between = between
        self.sent: list[OutboundRequest] = []

    async def send(self, request: OutboundRequest) -> Response:
        self.sent.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        if self.between is not None:
            self.between(len(self.sent))
        return Response(status)

    async def aclose(self) -> None:
        pass


def _deliver(
    directory: MemoryDirectory,
    sender: Scripted,
    endpoint_id: str = "ep_1",
    log: AttemptLogs | None = None,
    **options: object,
) -> tuple[Route, DeliveryReport, Deliverer]:
    route = RouteTable([tenant_route(**options)], directory=directory).routes[0]
    deliverer = Deliverer(sender, 10, log)  # type: ignore[arg-type]
    view = event(b'{"id": 1, "event": "call.ended", "account": "acme"}')
    view.value = json.loads(view.raw_value or b"")
    ctx = route.context(view, "call.ended")
    ctx.endpoint_id = endpoint_id
    return route, asyncio.run(deliverer.deliver(route, ctx)), deliverer


def test_a_url_changed_between_attempts_gets_the_retry() -> None:
    directory = MemoryDirectory([endpoint("ep_1", url="https://old.example.test/a", offset=1)])
    moved = endpoint("ep_1", url="https://new.example.test/b", offset=2)
    sender = Scripted(503, 200, between=lambda n: directory.put(moved) if n == 1 else None)

    _, report, _ = _deliver(directory, sender, **RETRYING)

    assert report.delivered and report.attempts == 2
    assert [r.url for r in sender.sent] == [
        "https://old.example.test/a",
        "https://new.example.test/b",
    ]
    assert len({r.headers["webhook-id"] for r in sender.sent}) == 1


def test_a_deleted_endpoint_ends_as_endpoint_deleted_not_a_dead_letter() -> None:
    directory = MemoryDirectory([endpoint("ep_1")])
    log = AttemptLogs()
    sender = Scripted(503, between=lambda n: directory.delete("ep_1"))

    route, report, _ = _deliver(directory, sender, log=log, **RETRYING)

    assert isinstance(report.error, EndpointDeletedError)
    assert report.attempts == 1  # the attempt that found it gone sent nothing
    assert len(sender.sent) == 1
    assert outcome(route, report, 0, 1, parks=True) is Outcome.ENDPOINT_DELETED
    assert [r["error"] for r in log.records] == ["HTTP 503", "endpoint-deleted"]
    assert {r["endpoint_id"] for r in log.records} == {"ep_1"}
    assert {r["event_type"] for r in log.records} == {"call.ended"}  # the API shows it


def test_a_disabled_endpoint_is_dead_lettered_as_endpoint_disabled() -> None:
    directory = MemoryDirectory([endpoint("ep_1")])
    off = endpoint("ep_1", active=False, offset=9)
    sender = Scripted(503, between=lambda n: directory.put(off))

    route, report, _ = _deliver(directory, sender, **RETRYING)

    assert isinstance(report.error, EndpointDisabledError)
    assert report.error.reason == "endpoint-disabled"
    assert outcome(route, report, 0, 1, parks=True) is Outcome.DEAD_LETTERED


def test_an_endpoint_gone_before_the_first_attempt_sends_nothing() -> None:
    sender = Scripted()
    _, report, _ = _deliver(MemoryDirectory(), sender)
    assert isinstance(report.error, EndpointDeletedError)
    assert (report.attempts, sender.sent) == (0, [])


def test_both_secrets_of_a_rotation_sign_and_the_receiver_verifies_either() -> None:
    rotating = Endpoint(
        id="ep_1",
        tenant="acme",
        url="https://acme.example.test/hook",
        secrets=(
            SigningSecret(SecretStr(SECRET)),
            SigningSecret(SecretStr(OLD_SECRET), expires=4_000_000_000.0),
        ),
    )
    sender = Scripted(200)
    _, report, _ = _deliver(MemoryDirectory([rotating]), sender)
    assert report.delivered
    [request] = sender.sent
    assert request.headers["webhook-signature"].count("v1,") == 2
    headers = {k: v for k, v in request.headers.items()}
    for secret in (SECRET, OLD_SECRET):  # a receiver on either secret accepts it
        standardwebhooks.Webhook(secret).verify(request.body, headers)


def test_an_expired_previous_secret_no_longer_signs() -> None:
    expired = endpoint("ep_1")
    expired = dataclasses.replace(
        expired,
        secrets=(*expired.secrets, SigningSecret(SecretStr(OLD_SECRET), expires=1.0)),
    )
    sender = Scripted(200)
    _deliver(MemoryDirectory([expired]), sender)
    assert sender.sent[0].headers["webhook-signature"].count("v1,") == 1


def test_endpoint_headers_secret_headers_and_payload_version_apply() -> None:
    ep = endpoint(
        "ep_1",
        headers={"x-team": "sales"},
        secret_headers={"x-api-key": SecretStr("k3y-value")},
        payload_version="2024-06-01",
    )
    sender = Scripted(200)
    _deliver(MemoryDirectory([ep]), sender, template={"v": "{{ payload_version }}"})
    [request] = sender.sent
    assert request.headers["x-team"] == "sales" and request.headers["x-api-key"] == "k3y-value"
    assert request.headers["webhook-payload-version"] == "2024-06-01"
    assert json.loads(request.body) == {"v": "2024-06-01"}
    assert "k3y-value" not in repr(request)
    assert "hooks/ep_1" not in repr(ep) and "t0ps3cret" not in repr(ep)


def test_each_endpoint_has_its_own_gate_and_no_metric_label() -> None:
    directory = MemoryDirectory([endpoint("ep_1"), endpoint("ep_2")])
    route = RouteTable([tenant_route()], directory=directory).routes[0]
    deliverer = Deliverer(Scripted(), 10)  # type: ignore[arg-type]
    one = deliverer.gates.for_endpoint(route, endpoint("ep_1"))
    two = deliverer.gates.for_endpoint(route, endpoint("ep_2"))
    assert one is not two  # same origin, separate circuits
    assert one is deliverer.gates.for_endpoint(route, endpoint("ep_1"))
    limited = deliverer.gates.for_endpoint(route, endpoint("ep_1", rate_limit=5.0))
    assert limited.limits.rate_per_second == 5.0
    one.record(False, probe=False)  # its breaker is made at its first failure
    assert one.breaker is not None and one.breaker.label is None


def test_a_healthy_endpoint_keeps_no_gate_and_its_failures_are_its_own() -> None:
    """An endpoint that answers 2xx leaves nothing behind; a failure makes its own gate
    (the failure counted there, not shared with the tenant's other endpoints), and a
    success after it clears the count."""
    directory = MemoryDirectory([endpoint("ep_1"), endpoint("ep_2")])
    route, report, deliverer = _deliver(directory, Scripted(200))
    assert report.delivered and deliverer.gates._endpoints == {}

    route, report, deliverer = _deliver(directory, Scripted(503, 503, 200), **RETRYING)
    assert report.delivered and report.attempts == 3
    own = deliverer.gates.for_endpoint(route, directory.get("ep_1"))  # type: ignore[arg-type]
    assert own.breaker is not None and own.breaker.failures == 0  # the success cleared it
    assert list(deliverer.gates._endpoints) == ["ep_1"]


def test_an_endpoint_failing_through_the_shared_gate_opens_its_own_circuit_only() -> None:
    directory = MemoryDirectory([endpoint("ep_1"), endpoint("ep_2")])
    failures = {"circuit_breaker": {"failures": 2, "probe_after": 60}}
    sender = Scripted(503, 503, 503)
    _, report, deliverer = _deliver(directory, sender, **RETRYING, **failures)
    # the second failure opened ep_1's circuit: its third attempt is parked, unsent
    assert isinstance(report.error, EndpointBackloggedError) and len(sender.sent) == 2
    gates = deliverer.gates
    assert gates.backlog_of("ep_1") == "circuit-open"
    assert gates.backlog_of("ep_2") is None


def test_a_signing_route_refuses_an_endpoint_without_a_secret() -> None:
    sender = Scripted()
    _, report, _ = _deliver(MemoryDirectory([endpoint("ep_1", secrets=())]), sender)
    assert isinstance(report.error, PermanentDeliveryError) and sender.sent == []


def test_a_tenant_route_without_a_directory_is_a_clear_error() -> None:
    try:
        RouteTable([tenant_route()])
    except ValueError as exc:
        assert "route 'calls'" in str(exc) and "endpoint directory" in str(exc)
    else:
        raise AssertionError("compiled without a directory")


def test_the_client_guard_refuses_a_customer_url_the_process_does_not_allow() -> None:
    plain = endpoint("ep_1", url="http://127.0.0.1:9/hook")  # plain http, loopback
    route = RouteTable([tenant_route()], directory=MemoryDirectory([plain])).routes[0]
    deliverer = Deliverer(Http1Sender(max_connections=2), 10)
    view = event(b'{"id": 1, "event": "x", "account": "acme"}')
    view.value = {"id": 1}
    ctx = route.context(view, "x")
    ctx.endpoint_id = "ep_1"
    report = asyncio.run(deliverer.deliver(route, ctx))
    assert not report.delivered
    assert report.error is not None and "plain http:// target refused" in report.error.reason


def test_idle_endpoint_gates_are_dropped_beyond_the_bound_and_busy_ones_kept() -> None:
    """A replica sending to 100,000 endpoints does not keep 100,000 gates (~2.2 KB each);
    a gate with a request in flight or failures counted is never dropped."""
    route = RouteTable([tenant_route()], directory=MemoryDirectory([])).routes[0]
    gates = Deliverer(Scripted(), 10).gates  # type: ignore[arg-type]
    gates.idle_endpoint_gates = 100
    failing = gates.for_endpoint(route, endpoint("ep_failing"))
    failing.record(False, probe=False)  # one failure counted: its breaker has state
    busy = gates.for_endpoint(route, endpoint("ep_busy"))

    async def hold_a_slot_while_others_come() -> None:
        async with busy.slot():
            for i in range(1000):
                gates.for_endpoint(route, endpoint(f"ep_{i}"))

    asyncio.run(hold_a_slot_while_others_come())

    assert len(gates._endpoints) <= 102
    assert gates.for_endpoint(route, endpoint("ep_failing")) is failing
    assert gates.for_endpoint(route, endpoint("ep_busy")) is busy
    assert busy.busy == 0 and busy.idle()
    assert failing.breaker is not None and failing.breaker.failures == 1
    assert not failing.idle()


class Observed:
    """An endpoint health that keeps what it was told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, bool, int | None]] = []

    def observe(
        self, endpoint_id: str, revision: int, ok: bool, status: int | None, now: float
    ) -> None:
        self.seen.append((endpoint_id, revision, ok, status))


def test_every_answer_of_a_customer_endpoint_is_told_to_its_health() -> None:
    directory = MemoryDirectory([endpoint("ep_1", offset=7)])
    route = RouteTable([tenant_route(**RETRYING)], directory=directory).routes[0]
    health = Observed()
    deliverer = Deliverer(Scripted(503, 410), 10, health=health)  # type: ignore[arg-type]
    view = event(b'{"id": 1, "event": "call.ended", "account": "acme"}')
    view.value = json.loads(view.raw_value or b"")
    ctx = route.context(view, "call.ended")
    ctx.endpoint_id = "ep_1"
    report = asyncio.run(deliverer.deliver(route, ctx))
    assert report.status == 410
    assert health.seen == [("ep_1", 7, False, 503), ("ep_1", 7, False, 410)]
    ctx.endpoint_id = "ep_1"
    asyncio.run(deliverer.deliver(route, ctx))
    assert health.seen[-1] == ("ep_1", 7, True, 200)


def test_an_endpoint_disabled_by_kafkahooks_sends_nothing_and_names_why() -> None:
    from kafkahooks.endpoints import Disable, EndpointStatus

    status = EndpointStatus(1, 5.0, Disable("gone", 9.0, "HTTP 410 Gone"), "replica-a", 2)
    disabled = dataclasses.replace(endpoint("ep_1", offset=1), status=status)
    sender = Scripted()
    route, report, _ = _deliver(MemoryDirectory([disabled]), sender)
    assert sender.sent == [] and report.attempts == 0
    assert isinstance(report.error, EndpointDisabledError)
    assert report.error.reason == "endpoint-disabled (HTTP 410 Gone)"
    assert outcome(route, report, 0, 1, True) is Outcome.DEAD_LETTERED


def test_every_attempt_to_an_endpoint_names_the_event_type_in_the_delivery_log() -> None:
    log = AttemptLogs()
    _deliver(MemoryDirectory([endpoint("ep_1")]), Scripted(503, 200), log=log, **RETRYING)
    assert [(r["status"], r["event_type"]) for r in log.records] == [
        (503, "call.ended"),
        (200, "call.ended"),
    ]
