"""Issue 11, section 2, end to end: what one receiver or one event sends into an attempt
never stops the bridge.

Four routes read one topic, each meeting one case of the issue: a ``Retry-After`` date
with a 20-digit year, a ``Retry-After: ²``, a batch route forwarding a header that
holds a line feed, and a templated header holding a lone surrogate.  On cd82bdc the
first and third stopped the process; here the first two are retried and delivered,
the last two dead-lettered with their reason, and the bridge runs on until SIGTERM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.receiver import Receiver, Reply, Request, fail_first_attempt

FAR_FUTURE = "Wed, 21 Oct 99999999999999999999 07:28:00 GMT"


def _retry_after(value: str) -> Callable[[Request], Reply]:
    """503 with ``Retry-After: value`` on a delivery's first attempt, 200 after."""
    first = fail_first_attempt(lambda _: True, status=599)

    def answer(request: Request) -> Reply:
        if first(request).status == 599:
            return Reply(503, headers={"retry-after": value})
        return Reply(200)

    return answer


def test_hostile_retry_after_values_and_unsendable_headers_never_stop_the_bridge(
    bootstrap: str, tmp_path: Path, start_bridge: Callable[..., BridgeProcess]
) -> None:
    dates = Receiver(_retry_after(FAR_FUTURE))
    superscript = Receiver(_retry_after("²"))  # sent as the latin-1 byte 0xB2
    batches, surrogates = Receiver(), Receiver()
    topic, group = create_topic(bootstrap, unique("hostile")), unique("g")
    retry = {
        "max_attempts": 3,
        "initial_backoff": 0.05,
        "max_backoff": 0.2,
        "jitter": 0,
        "retry_after_cap": 0.3,
    }
    routes = [
        simple_route("dates", topic, dates.url, retry=retry),
        simple_route("superscript", topic, superscript.url, retry=retry),
        simple_route(
            "batch-lf",
            topic,
            batches.url,
            batch={"max_events": 1, "max_wait_ms": 5},
            endpoint={
                "url": batches.url,
                "timeout": 5,
                "forward_headers": {"source": "headers", "allow": ["x-note"]},
            },
        ),
        simple_route(
            "surrogate",
            topic,
            surrogates.url,
            endpoint={
                "url": surrogates.url,
                "timeout": 5,
                "dynamic_headers": {"x-who": "{{ value.who }}"},
            },
        ),
    ]
    good = [(f"k{i}", {"event": "e", "id": i, "status": "ok", "who": "Zoë"}) for i in (1, 3)]
    produce(bootstrap, topic, good[:1])
    # a line feed in a Kafka header, and a lone surrogate escape in the JSON value
    bad = b'{"event": "e", "id": 2, "status": "ok", "who": "Zo\\udce9"}'
    produce(bootstrap, topic, [("k2", bad)], headers=[("x-note", b"one\nx-injected: 1")])
    produce(bootstrap, topic, good[1:])
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, routes))
    try:
        dead = read_topic(bootstrap, f"{topic}.dlq", 2)
        wait_until(lambda: committed(bootstrap, group, topic) == [3], timeout=30)
        assert bridge.alive()
        assert bridge.terminate() == 0
        for receiver in (dates, superscript):
            delivered = sorted({r.json()["id"] for r in receiver.ok_requests()})
            assert delivered == [1, 2, 3]
            assert len(receiver.requests) == 6  # each event: a 503, then delivered
        assert sorted(r.json()[0]["data"]["id"] for r in batches.requests) == [1, 3]
        assert sorted(r.json()["id"] for r in surrogates.requests) == [1, 3]
    finally:
        for receiver in (dates, superscript, batches, surrogates):
            receiver.close()

    reasons = {headers_of(m)["kafkahooks.route"]: headers_of(m) for m in dead}
    assert set(reasons) == {"batch-lf", "surrogate"}
    lf, surrogate = reasons["batch-lf"], reasons["surrogate"]
    assert lf["kafkahooks.error.class"] == "PermanentDeliveryError"
    assert (
        lf["kafkahooks.error.message"] == "template: header x-note: value has a control character"
    )
    assert lf["kafkahooks.source.offset"] == "1" and lf["kafkahooks.attempts"] == "0"
    assert (
        surrogate["kafkahooks.error.message"]
        == "template: header x-who: value has a lone surrogate"
    )
    assert surrogate["kafkahooks.source.offset"] == "1"
    assert "Traceback" not in bridge.output()
    assert json.loads(dead[0].value())["id"] == 2  # the original value, kept
