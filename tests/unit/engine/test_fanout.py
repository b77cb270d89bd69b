"""Fan-out to customer endpoints: an event of a tenant route reaches each endpoint of its
tenant that wants it, with one webhook id; no tenant is a dead letter, no endpoint a
filtered event; failures and parks name their endpoint."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kafkahooks.config import Predicate
from kafkahooks.config.sources import DeadLetterLimitConfig
from kafkahooks.engine.dlqlimit import DeadLetterLimit, DeadLetterLimitExceeded
from kafkahooks.engine.fanout import tenant_of
from kafkahooks.engine.parking import read_parked
from kafkahooks.event import Event
from kafkahooks.telemetry.metrics import METRICS
from tests.support.pipelines import route_config, until
from tests.support.tenants import ByUrl, TenantHarness, endpoint, event, tenant_route


@pytest.mark.parametrize(
    ("value", "tenant"),
    [
        ("acme", "acme"),
        (42, "42"),
        (0, "0"),
        ("", None),
        (None, None),
        (True, None),  # a boolean is not an integer here
        (4.0, None),
        (["acme"], None),
        ({"id": "acme"}, None),
    ],
)
def test_the_tenant_is_a_non_empty_string_or_an_integer(value: Any, tenant: str | None) -> None:
    assert tenant_of(value) == tenant


def _value(account: Any = "acme", etype: str = "call.ended", **more: Any) -> bytes:
    return json.dumps({"id": 7, "event": etype, "account": account, **more}).encode()


async def _run(harness: TenantHarness, *events: Event) -> None:
    harness.tracker.assign([("t", 0)])
    for each in events:
        harness.pipeline.accept(each)
    last = events[-1].offset + 1
    await until(lambda: harness.finished() == last)


def test_an_event_goes_to_every_endpoint_of_its_tenant_with_one_webhook_id() -> None:
    harness = TenantHarness(
        [tenant_route()],
        [endpoint("ep_1"), endpoint("ep_2"), endpoint("ep_3", tenant="other")],
    )
    asyncio.run(_run(harness, event(_value())))

    sent = harness.sender.sent
    assert sorted(r.url.split("?")[0].rsplit("/", 1)[1] for r in sent) == ["ep_1", "ep_2"]
    assert len({r.headers["webhook-id"] for r in sent}) == 1  # the same id for both
    assert all(r.method == "POST" and r.headers["content-type"] == "application/json" for r in sent)
    assert harness.pipeline.stats.delivered == 2


def test_an_integer_tenant_matches_its_decimal_string() -> None:
    harness = TenantHarness([tenant_route()], [endpoint("ep_1", tenant="1234")])
    asyncio.run(_run(harness, event(_value(account=1234))))
    assert len(harness.sender.sent) == 1


def test_endpoints_that_do_not_want_the_route_type_or_filter_are_left_out() -> None:
    harness = TenantHarness(
        [tenant_route()],
        [
            endpoint("ep_types", event_types=("call.started",)),
            endpoint("ep_routes", routes=("another",)),
            endpoint("ep_off", active=False),
            endpoint("ep_team", filters=(Predicate(field="value.team", equals="sales"),)),
            endpoint("ep_all"),
        ],
    )
    asyncio.run(_run(harness, event(_value(team="support"))))
    assert [r.url.split("?")[0].rsplit("/", 1)[1] for r in harness.sender.sent] == ["ep_all"]


def test_an_endpoint_filter_is_compiled_once_per_version() -> None:
    team = (Predicate(field="value.team", equals="sales"),)
    harness = TenantHarness([tenant_route()], [endpoint("ep_team", filters=team, offset=3)])
    events = [event(_value(team="sales"), offset=i) for i in range(5)]
    asyncio.run(_run(harness, *events))
    assert len(harness.sender.sent) == 5
    assert list(harness.pipeline.intake._fan_out._filters) == [("ep_team", 3)]


def test_a_tenant_without_a_matching_endpoint_is_filtered() -> None:
    harness = TenantHarness([tenant_route()], [endpoint("ep_1", tenant="other")])
    asyncio.run(_run(harness, event(_value())))
    assert harness.sender.sent == [] and harness.dead.written == []
    assert harness.pipeline.stats.filtered == 1


@pytest.mark.parametrize("account", [None, "", True, 1.5, ["acme"]])
def test_an_event_without_a_tenant_is_dead_lettered_as_no_tenant(account: Any) -> None:
    harness = TenantHarness([tenant_route()], [endpoint("ep_1")])
    asyncio.run(_run(harness, event(_value(account=account))))
    assert harness.sender.sent == []
    [dead] = harness.dead.written
    assert (dead.error_class, dead.error_message, dead.route) == (
        "NoTenantError",
        "no-tenant",
        "calls",
    )
    assert dead.topic == "t.dlq"


def test_a_missing_tenant_field_is_no_tenant_too() -> None:
    harness = TenantHarness([tenant_route()], [endpoint("ep_1")])
    asyncio.run(_run(harness, event(json.dumps({"id": 1, "event": "x"}).encode())))
    assert [d.error_message for d in harness.dead.written] == ["no-tenant"]


def test_no_tenant_dead_letters_count_toward_the_dead_letter_limit() -> None:
    limit = DeadLetterLimit(DeadLetterLimitConfig(max_consecutive=1))
    harness = TenantHarness([tenant_route()], [endpoint("ep_1")], dead_letter_limit=limit)

    async def scenario() -> BaseException | None:
        harness.tracker.assign([("t", 0)])
        for offset in range(3):
            harness.pipeline.accept(event(_value(account=None), offset=offset))
        await until(lambda: harness.pipeline.fatal is not None)
        await harness.pipeline.drain([("t", 0)], 0)
        return harness.pipeline.fatal

    assert isinstance(asyncio.run(scenario()), DeadLetterLimitExceeded)


def test_a_static_route_beside_a_tenant_route_still_gets_the_event() -> None:
    harness = TenantHarness(
        [tenant_route(), route_config("audit", ["t"])], [endpoint("ep_1"), endpoint("ep_2")]
    )
    asyncio.run(_run(harness, event(_value())))
    assert len(harness.sender.sent) == 3
    assert harness.finished() == 1


def test_failing_on_two_of_three_endpoints_gives_two_dead_letters_naming_them() -> None:
    eps = [endpoint("ep_1"), endpoint("ep_2"), endpoint("ep_3")]
    sender = ByUrl({eps[0].url: 400, eps[2].url: 500})
    harness = TenantHarness([tenant_route()], eps, sender)
    asyncio.run(_run(harness, event(_value())))

    dead = sorted(harness.dead.written, key=lambda d: d.endpoint_id or "")
    assert [d.endpoint_id for d in dead] == ["ep_1", "ep_3"]
    for letter in dead:
        headers = dict(letter.headers())
        assert headers["kafkahooks.endpoint_id"] in (b"ep_1", b"ep_3")
        shown = headers["kafkahooks.endpoint"].decode()
        assert shown == "https://acme.example.test"  # the origin: no path, no query
        assert all(b"t0ps3cret" not in v and b"/hooks" not in v for _, v in letter.headers() if v)
    assert harness.finished() == 1  # every endpoint's outcome is in


def test_a_parked_delivery_names_its_endpoint_and_is_retried_to_it_only() -> None:
    eps = [endpoint("ep_1"), endpoint("ep_2")]
    sender = ByUrl({eps[1].url: 503})
    harness = TenantHarness(
        [tenant_route(retry_topics={"delays": [0.01]})], eps, sender, parks=True
    )
    asyncio.run(_run(harness, event(_value())))
    assert harness.producer is not None
    [(topic, value, key, headers)] = harness.producer.sent
    assert topic == "kafkahooks.retry.calls.1"
    parked = read_parked(Event(topic, 0, 0, 0, key, value, headers))
    assert parked.endpoint_id == "ep_2"
    first_id = sender.sent[0].headers["webhook-id"]

    # the retry: to ep_2 only, with the same webhook id
    sender.statuses.clear()
    sender.sent.clear()

    async def retry() -> None:
        harness.tracker.assign([(topic, 0)])
        record = Event(topic, 0, 0, 0, key, value, headers)
        await asyncio.sleep(0.02)  # past its not-before (0.01 s after parking)
        assert harness.pipeline.accept(record) is None  # taken
        await until(lambda: harness.finished(topic) == 1)

    asyncio.run(retry())
    assert [r.url for r in sender.sent] == [eps[1].url]
    assert sender.sent[0].headers["webhook-id"] == first_id


def test_an_endpoint_deleted_before_its_attempt_is_finished_counted_not_dead_lettered() -> None:
    harness = TenantHarness([tenant_route()], [endpoint("ep_1")])
    deleted = METRICS.deliveries.labels("calls", "endpoint_deleted")
    before = deleted._value.get()

    async def scenario() -> None:
        harness.tracker.assign([("t", 0)])
        harness.pipeline.accept(event(_value()))  # matched now; its attempt runs later
        harness.directory.delete("ep_1")
        await until(lambda: harness.finished() == 1)

    asyncio.run(scenario())
    assert harness.sender.sent == [] and harness.dead.written == []
    assert deleted._value.get() == before + 1
    assert harness.pipeline.stats.by_route["calls"]["endpoint_deleted"] == 1
    assert [(r["error"], r["endpoint_id"]) for r in harness.log.records] == [
        ("endpoint-deleted", "ep_1")
    ]


def test_no_metric_label_carries_an_endpoint_id_tenant_or_url() -> None:
    eps = [endpoint("ep_zz1"), endpoint("ep_zz2")]
    harness = TenantHarness([tenant_route()], eps, ByUrl({eps[0].url: 400}, default=200))
    asyncio.run(_run(harness, event(_value(account="acme"))))
    labels = [
        value
        for metric in METRICS.registry.collect()
        for sample in metric.samples
        for value in sample.labels.values()
    ]
    assert not [v for v in labels if "ep_zz" in v or "acme" in v]


def test_a_parked_delivery_whose_endpoint_was_deleted_finishes_as_endpoint_deleted() -> None:
    eps = [endpoint("ep_1")]
    harness = TenantHarness(
        [tenant_route(retry_topics={"delays": [0.01]})], eps, ByUrl(default=503), parks=True
    )
    asyncio.run(_run(harness, event(_value())))
    assert harness.producer is not None
    [(topic, value, key, headers)] = harness.producer.sent
    harness.directory.delete("ep_1")
    harness.sender.sent.clear()

    async def retry() -> None:
        harness.tracker.assign([(topic, 0)])
        await asyncio.sleep(0.02)
        assert harness.pipeline.accept(Event(topic, 0, 0, 0, key, value, headers)) is None
        await until(lambda: harness.finished(topic) == 1)

    asyncio.run(retry())
    assert harness.sender.sent == [] and harness.dead.written == []
    assert harness.pipeline.stats.by_route["calls"]["endpoint_deleted"] == 1


def test_an_endpoint_disabled_while_its_event_waits_is_dead_lettered_once() -> None:
    eps = [endpoint("ep_1")]

    class DisableAfterFirst(ByUrl):
        async def send(self, request: Any) -> Any:
            answer = await super().send(request)
            harness.directory.put(endpoint("ep_1", active=False, offset=2))
            return answer

    harness = TenantHarness(
        [tenant_route(retry={"max_attempts": 3, "initial_backoff": 0.001, "jitter": 0})],
        eps,
        DisableAfterFirst(default=503),
    )
    asyncio.run(_run(harness, event(_value())))
    assert len(harness.sender.sent) == 1
    [dead] = harness.dead.written
    assert (dead.error_message, dead.endpoint_id) == ("endpoint-disabled", "ep_1")
    # later events do not match the disabled endpoint: filtered
    asyncio.run(_run(harness, event(_value(), offset=1)))
    assert len(harness.dead.written) == 1 and harness.pipeline.stats.filtered == 1


def test_a_customer_endpoint_answering_400_never_trips_the_dead_letter_limit() -> None:
    """Issue 16: the limit is for the platform's mistakes, not a customer's endpoint."""
    limit = DeadLetterLimit(DeadLetterLimitConfig(max_consecutive=1))
    harness = TenantHarness(
        [tenant_route()], [endpoint("ep_1")], ByUrl(default=400), dead_letter_limit=limit
    )

    async def scenario() -> None:
        harness.tracker.assign([("t", 0)])
        for offset in range(5):
            harness.pipeline.accept(event(_value(), offset=offset))
        await until(lambda: len(harness.dead.written) == 5)
        await harness.pipeline.drain([("t", 0)], 1)

    asyncio.run(scenario())
    assert harness.pipeline.fatal is None
    assert {d.endpoint_id for d in harness.dead.written} == {"ep_1"}
    assert harness.finished() == 5
