"""Customer endpoints written into the real store topic, delivered by real bridge processes.

What an operator and their customers notice: a write to the store (create, update,
delete, rotate) changes where and how later events are delivered, in every replica;
conflicting writes decide the same everywhere; tenants never see each other's events;
the topic's bytes hold no secret; a restart restores everything from the topic; a bad
record changes nothing; a large last batch is read whole; a missing key refuses start.

"Later events": a replica applies a write some time after it is acknowledged.  A test
learns that every replica applied a write by *probing*: it produces probe events to
every partition (each owned by one replica) until a probe from each partition arrived as
the write says; records apply in store order, so a probe of a later write (a "witness"
endpoint) also proves every earlier write applied.  Only events produced after that are
asserted on.  Every wait is bounded; nothing asserts on time.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
import yaml
from confluent_kafka import KafkaError, Message, Producer

from kafkahooks.demo.broker import EmbeddedBroker, free_port
from kafkahooks.endpoints import Endpoint, SigningSecret, encode_endpoint, generate_key_spec
from tests.support.bridge import BridgeProcess, wait_until
from tests.support.kafka import GROUP_TIMINGS, committed, create_topic, read_topic, unique
from tests.support.logs import owned_partitions
from tests.support.metrics import sample
from tests.support.receiver import Receiver, Request
from tests.support.store import StoreWriter, new_endpoint, read_table

# each test starts bridges or CLI processes for 10-30 s: `make test-slow` runs them
pytestmark = pytest.mark.slow

Start = Callable[..., BridgeProcess]
Tenant = str | int
BATCH = 6  # events asserted on after each write


def _secret(seed: str) -> str:
    return "whsec_" + base64.b64encode(seed.encode().ljust(32, b"0")[:32]).decode()


def _config(
    path: Path, bootstrap: str, group: str, topic: str, store_topic: str, keys: str
) -> Path:
    doc = {
        "kafka": {"bootstrap_servers": bootstrap, "group_id": group,
                  "properties": dict(GROUP_TIMINGS)},
        "endpoint_store": {"topic": store_topic, "encryption_keys": keys},
        "dead_letter_limit": {"enabled": False},
        "routes": [{
            "name": "calls",
            "topics": [topic],
            "event_type": "value.event",
            "template": {"id": "{{ value.id }}", "account": "{{ value.account }}",
                         "part": "{{ value.part }}", "probe": "{{ value.probe }}"},
            "signing": {"scheme": "standard-webhooks"},
            "endpoints": {"tenant": "value.account", "timeout": 5},
            "retry": {"max_attempts": 1},
        }],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class Events:
    """Events of tenants produced to chosen partitions; ids unique within the test."""

    bootstrap: str
    topic: str
    partitions: int
    next_id: int = 0
    last_offsets: dict[int, int] = field(default_factory=dict)  # partition -> highest offset

    def __post_init__(self) -> None:
        self._producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 2})

    def send(self, tenant: Tenant, partitions: Iterable[int], probe: bool = False) -> list[int]:
        """One event of ``tenant`` per partition given (acknowledged); their ids."""
        ids = []
        for part in partitions:
            ids.append(self.next_id)
            value = {"event": "call.ended", "id": self.next_id, "account": tenant,
                     "part": part, "probe": probe}  # fmt: skip
            self._producer.produce(
                self.topic, json.dumps(value).encode(), key=str(self.next_id),
                partition=part, on_delivery=self._delivered,
            )  # fmt: skip
            self.next_id += 1
        assert self._producer.flush(15) == 0, "produce did not complete"
        return ids

    def batch(self, tenant: Tenant, n: int = BATCH) -> list[int]:
        """``n`` events of ``tenant`` spread over every partition."""
        return [i for k in range(n) for i in self.send(tenant, [k % self.partitions])]

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        assert err is None, err
        part, offset = int(msg.partition() or 0), int(msg.offset() or 0)
        self.last_offsets[part] = max(self.last_offsets.get(part, -1), offset)

    def finished(self, group: str) -> bool:
        """Whether ``group`` committed past every event produced so far."""
        done = committed(self.bootstrap, group, self.topic, self.partitions)
        return all(done[p] > offset for p, offset in self.last_offsets.items())


def _body(request: Request) -> dict[str, Any]:
    body: dict[str, Any] = request.json()
    return body


def probes(receiver: Receiver, tenant: Tenant) -> list[Request]:
    return [
        r for r in receiver.ok_requests() if _body(r)["probe"] and _body(r)["account"] == tenant
    ]


def events(requests: list[Request]) -> list[Request]:
    """The requests of events (not probes) answered 2xx."""
    return [r for r in requests if getattr(r, "status", 200) < 300 and not _body(r)["probe"]]


def ids_at(receiver: Receiver) -> list[int]:
    """The ids of the events (not probes) ``receiver`` took."""
    return sorted(_body(r)["id"] for r in events(receiver.ok_requests()))


def propagated(
    feed: Events,
    tenant: Tenant,
    receiver: Receiver,
    accept: Callable[[Request], bool] = lambda _: True,
    timeout: float = 30,
) -> None:
    """Produce probes of ``tenant`` until, from every partition, one reached ``receiver``
    and passed ``accept``: every replica applied the write that makes that so."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {_body(r)["part"] for r in probes(receiver, tenant) if accept(r)}
        missing = set(range(feed.partitions)) - seen
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"no probe of {tenant!r} arrived as expected from {missing}")
        feed.send(tenant, sorted(missing), probe=True)
        time.sleep(0.3)


def delivered(receiver: Receiver, ids: list[int], timeout: float = 30) -> list[Request]:
    """Wait until every event of ``ids`` reached ``receiver``; their requests."""
    wanted = set(ids)
    receiver.wait_for(lambda got: wanted <= {_body(r)["id"] for r in events(got)}, timeout)
    return [r for r in events(receiver.ok_requests()) if _body(r)["id"] in wanted]


def applied_everywhere(writer: StoreWriter, feed: Events, witness: Receiver) -> None:
    """Write a witness endpoint (its own tenant, ``witness``'s URL) and probe it: once it
    took a probe from every partition, every replica applied all earlier writes."""
    tenant = unique("witness")
    writer.create(tenant, witness.url)
    propagated(feed, tenant, witness)


def verifies(secret: str, request: Request) -> bool:
    try:
        standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    except standardwebhooks.webhooks.WebhookVerificationError:
        return False
    return True


def secret_of(ep: Endpoint) -> str:
    return ep.secrets[0].value.get_secret_value()


# --- two replicas of one bridge, sharing a store ----------------------------------------------


@dataclass
class Pair:
    """Two replicas (one group) delivering a 2-partition topic, one owning each."""

    bootstrap: str
    group: str
    feed: Events
    store: StoreWriter
    bridges: list[BridgeProcess]


def _start_replicas(start: Callable[[], BridgeProcess], count: int) -> list[BridgeProcess]:
    """``count`` replicas, started at once (one rebalance), each owning a partition."""
    bridges = [start() for _ in range(count)]

    def each_owns_one() -> bool:
        owned = [owned_partitions(b.output()) for b in bridges]
        for bridge in bridges:
            assert bridge.alive(), bridge.output()
        return all(owned) and len(set().union(*owned)) >= count

    wait_until(each_owns_one, timeout=45)
    return bridges


@pytest.fixture(scope="module")
def pair(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    bootstrap, tmp = broker.bootstrap, tmp_path_factory.mktemp("pair")
    topic, group = create_topic(bootstrap, unique("calls"), 2), unique("g")
    store_topic, keys = unique("endpoints"), generate_key_spec("k1")
    writer = StoreWriter(bootstrap, store_topic, keys)
    config = _config(tmp / "r.yaml", bootstrap, group, topic, store_topic, keys)
    logs = iter(range(2))
    bridges = _start_replicas(
        lambda: BridgeProcess(config, log=tmp / f"replica-{next(logs)}.log"), 2
    )
    yield Pair(bootstrap, group, Events(bootstrap, topic, 2), writer, bridges)
    for bridge in bridges:
        bridge.stop()
    writer.close()


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def test_create_update_delete_take_effect_in_both_replicas(
    pair: Pair, receivers: Callable[[], Receiver]
) -> None:
    first, second, witness = receivers(), receivers(), receivers()
    tenant, feed = unique("acme"), pair.feed

    ep = pair.store.create(tenant, first.url)
    propagated(feed, tenant, first)
    created = delivered(first, feed.batch(tenant))
    assert all(verifies(secret_of(ep), r) for r in created)

    moved = pair.store.update(ep, url=second.url, description="moved")
    propagated(feed, tenant, second)
    ids = feed.batch(tenant)
    assert all(verifies(secret_of(moved), r) for r in delivered(second, ids))
    assert not set(ids) & set(ids_at(first)), "an event went to the URL before the update"

    pair.store.delete(moved)
    applied_everywhere(pair.store, feed, witness)
    ids = feed.batch(tenant)
    wait_until(lambda: feed.finished(pair.group), timeout=30)  # finished: filtered
    assert not set(ids) & set(ids_at(first) + ids_at(second)), "delivered after the delete"


def test_conflicting_updates_one_wins_in_every_replica_and_a_fresh_reader(
    pair: Pair, receivers: Callable[[], Receiver], store_writer: Callable[[str, str], StoreWriter]
) -> None:
    start, url_a, url_b, witness = receivers(), receivers(), receivers(), receivers()
    tenant, feed = unique("initech"), pair.feed
    ep = pair.store.create(tenant, start.url)
    writer_a = store_writer(pair.store.topic, pair.store.keys)
    writer_b = store_writer(pair.store.topic, pair.store.keys)

    # both read version ep and update it: the same revision
    a = writer_a.update(ep, url=url_a.url)
    b = writer_b.update(ep, url=url_b.url)
    winner, loser = (url_a, url_b) if a.offset < b.offset else (url_b, url_a)

    applied_everywhere(pair.store, feed, witness)
    assert delivered(winner, feed.batch(tenant))
    assert ids_at(loser) == [] and ids_at(start) == []
    fresh = read_table(pair.bootstrap, pair.store.topic, pair.store.keys)
    held = fresh.get(ep.id)
    assert held is not None and held.url == winner.url
    assert held.offset == min(a.offset, b.offset)  # how the losing writer learns it lost


def test_a_tenants_events_never_reach_another_tenants_endpoint(
    pair: Pair, receivers: Callable[[], Receiver]
) -> None:
    acme, globex, numbered = receivers(), receivers(), receivers()
    number = int(uuid.uuid4().int % 10**9)  # an integer tenant value: "<number>" in the store
    tenants: list[tuple[Tenant, Receiver]] = [
        (unique("acme"), acme), (unique("globex"), globex), (number, numbered),
    ]  # fmt: skip
    for tenant, receiver in tenants:
        pair.store.create(str(tenant), receiver.url)
    propagated(pair.feed, number, numbered)  # written last: the others applied too

    sent: dict[Tenant, list[int]] = {tenant: [] for tenant, _ in tenants}
    for k in range(3 * BATCH):  # interleaved, over both partitions
        tenant = tenants[k % 3][0]
        sent[tenant] += pair.feed.send(tenant, [k % 2])
    for tenant, receiver in tenants:
        delivered(receiver, sent[tenant])
    for tenant, receiver in tenants:
        assert ids_at(receiver) == sent[tenant]
        assert {_body(r)["account"] for r in receiver.ok_requests()} == {tenant}


def test_the_store_topic_holds_no_secret_and_no_url_path(
    pair: Pair, receivers: Callable[[], Receiver]
) -> None:
    receiver, tenant = receivers(), unique("hooli")
    secret = _secret(f"signing-{uuid.uuid4().hex}")
    token, key, bearer = f"tok{uuid.uuid4().hex}", uuid.uuid4().hex, f"sh{uuid.uuid4().hex}"
    url = f"{receiver.url}/{token}?key={key}"
    ep = pair.store.create(
        tenant, url, secret=secret, secret_headers={"Authorization": f"Bearer {bearer}"}
    )
    pair.store.update(ep, description="updated")  # a second version of every sealed field

    propagated(pair.feed, tenant, receiver)
    request = delivered(receiver, pair.feed.batch(tenant, 1))[0]
    assert request.path == f"/hooks/{token}?key={key}"
    assert request.headers["authorization"] == f"Bearer {bearer}"
    assert verifies(secret, request)

    raw = read_topic(pair.bootstrap, pair.store.topic, expect=ep.offset + 2)
    blob = b"\n".join((m.key() or b"") + b"=" + (m.value() or b"") for m in raw)
    assert ep.id.encode() in blob  # what was read holds the endpoint's records
    for clear in (secret, secret.removeprefix("whsec_"), bearer, token, key, "/hooks"):
        assert clear.encode() not in blob, f"{clear[:8]}... is in the store topic's bytes"
    assert base64.b64decode(secret.removeprefix("whsec_")) not in blob
    logs = "".join(bridge.output() for bridge in pair.bridges)
    for clear in (secret, bearer, token, key):
        assert clear not in logs, f"{clear[:8]}... is in a replica's log"


# --- one bridge per test ----------------------------------------------------------------------


@dataclass
class Running:
    bridges: list[BridgeProcess]
    feed: Events
    group: str
    config: Path


def run(
    store: StoreWriter,
    start_bridge: Start,
    tmp_path: Path,
    replicas: int = 1,
    env: dict[str, str] | None = None,
) -> Running:
    """``replicas`` bridges delivering a new topic of ``replicas`` partitions."""
    topic, group = create_topic(store.bootstrap, unique("calls"), replicas), unique("g")
    config = _config(tmp_path / "r.yaml", store.bootstrap, group, topic, store.topic, store.keys)
    bridges = _start_replicas(lambda: start_bridge(config, env), replicas)
    return Running(bridges, Events(store.bootstrap, topic, replicas), group, config)


def test_a_rotated_secret_signs_with_both_until_the_previous_one_expires(
    store: StoreWriter, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    feed, tenant = run(store, start_bridge, tmp_path).feed, unique("acme")
    first = _secret(f"first-{uuid.uuid4().hex}")
    ep = store.create(tenant, receiver.url, secret=first)
    propagated(feed, tenant, receiver)
    assert all(verifies(first, r) for r in delivered(receiver, feed.batch(tenant)))

    rotated, second = store.rotate(ep)  # the previous one stays valid for 24 h
    propagated(feed, tenant, receiver, accept=lambda r: verifies(second, r))
    for request in delivered(receiver, feed.batch(tenant)):
        assert verifies(first, request) and verifies(second, request)  # each alone

    # a version written while the previous secret was valid, read after it expired
    now = time.time()
    current, previous = rotated.secrets
    lapsed = replace(rotated, secrets=(current, SigningSecret(previous.value, now - 1)))
    lapsed = store.write(lapsed, rotated.offset, now=now - 60)
    propagated(feed, tenant, receiver, accept=lambda r: not verifies(first, r))
    for request in delivered(receiver, feed.batch(tenant)):
        assert verifies(second, request) and not verifies(first, request)

    _, third = store.rotate(lapsed, previous_valid_for=0)  # leaked: expire it now
    propagated(feed, tenant, receiver, accept=lambda r: verifies(third, r))
    for request in delivered(receiver, feed.batch(tenant)):
        assert verifies(third, request)
        assert not verifies(second, request) and not verifies(first, request)


def stop_one_by_one(bridges: list[BridgeProcess]) -> None:
    """Stop the replicas as a rolling stop does: each after the group settled on the rest.
    (On the test broker, a member that leaves while its group rebalances can leave the
    group unable to take a new member for minutes: 1 time in 5 with bridges, and with
    two plain confluent-kafka consumers when the second closes as the first left.)"""

    def owned(running: list[BridgeProcess]) -> set[str]:
        return set().union(*(owned_partitions(b.output()) for b in running))

    every = owned(bridges)
    for n, bridge in enumerate(bridges):
        assert bridge.terminate() == 0, bridge.output()
        rest = bridges[n + 1 :]
        wait_until(lambda rest=rest: not rest or owned(rest) == every, timeout=30)


def test_restarted_replicas_restore_every_endpoint_from_the_topic(
    store: StoreWriter, receivers: Callable[[], Receiver], tmp_path: Path, start_bridge: Start
) -> None:
    running = run(store, start_bridge, tmp_path, replicas=2)
    old, new, rotating, deleted, witness = (receivers() for _ in range(5))
    moved_t, rotating_t, deleted_t = unique("moved"), unique("rotating"), unique("deleted")
    gone = store.create(deleted_t, deleted.url)
    store.update(store.create(moved_t, old.url), url=new.url)
    first = _secret(f"first-{uuid.uuid4().hex}")
    _, second = store.rotate(
        store.create(rotating_t, rotating.url, secret=first), previous_valid_for=0
    )
    store.delete(gone)
    applied_everywhere(store, running.feed, witness)
    stop_one_by_one(running.bridges)

    feed = running.feed  # produced while no replica runs
    sent = {t: feed.batch(t) for t in (moved_t, rotating_t, deleted_t)}
    _start_replicas(lambda: start_bridge(running.config), 1)

    delivered(new, sent[moved_t])
    for request in delivered(rotating, sent[rotating_t]):
        assert verifies(second, request) and not verifies(first, request)
    wait_until(lambda: feed.finished(running.group), timeout=30)
    assert ids_at(old) == [] and ids_at(deleted) == []


def test_a_corrupt_record_leaves_the_previous_version_in_force(
    store: StoreWriter, receivers: Callable[[], Receiver], tmp_path: Path, start_bridge: Start
) -> None:
    port = free_port()
    env = {"KAFKAHOOKS_HTTP_PORT": str(port), "KAFKAHOOKS_HTTP_HOST": "127.0.0.1"}
    feed = run(store, start_bridge, tmp_path, env=env).feed
    good, other, witness, tenant = receivers(), receivers(), receivers(), unique("acme")
    ep = store.create(tenant, good.url)
    propagated(feed, tenant, good)

    store.raw(ep.id, b"\x00\xff{not json")
    moved = json.loads(encode_endpoint(replace(ep, url=other.url), store.keyring,
                                       ep.offset, time.time()))  # fmt: skip
    store.raw(ep.id, json.dumps({**moved, "version": "2.0"}).encode())  # a future major
    applied_everywhere(store, feed, witness)
    delivered(good, feed.batch(tenant))
    assert ids_at(other) == []

    def rejected(reason: str) -> float | None:
        return sample(port, "kafkahooks_store_rejected_total", reason=reason)

    wait_until(lambda: rejected("json") == 1 and rejected("version") == 1, timeout=15)
    # the refused records took nothing: the next good write names the version in force
    store.update(ep, url=other.url)
    propagated(feed, tenant, other)


def test_a_last_write_batch_of_1000_records_is_read_completely(
    store: StoreWriter, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    prefix = unique("bulk")
    endpoints = [new_endpoint(f"{prefix}-{i}", f"{receiver.url}/{i}") for i in range(1000)]
    producer = Producer({
        "bootstrap.servers": store.bootstrap, "enable.idempotence": True, "acks": "all",
        "linger.ms": 1000, "batch.size": 4_000_000, "message.max.bytes": 4_000_000,
    })  # fmt: skip
    for ep in endpoints:
        record = encode_endpoint(ep, store.keyring, -1, time.time())
        producer.produce(store.topic, record, key=ep.id.encode(), partition=0)
    assert producer.flush(30) == 0  # one flush: one produce batch

    feed = run(store, start_bridge, tmp_path).feed
    last, first = endpoints[-1], endpoints[0]
    ids = feed.send(last.tenant, [0]) + feed.send(first.tenant, [0])
    requests = {r.path: r for r in delivered(receiver, ids)}
    assert set(requests) == {"/hooks/999", "/hooks/0"}
    assert verifies(secret_of(last), requests["/hooks/999"])
    assert verifies(secret_of(first), requests["/hooks/0"])


def test_records_under_a_key_the_bridge_lacks_refuse_start_naming_it(
    store: StoreWriter,
    store_writer: Callable[[str, str], StoreWriter],
    receiver: Receiver,
    tmp_path: Path,
    start_bridge: Start,
) -> None:
    other_keys = generate_key_spec("k9")
    foreign = store_writer(store.topic, other_keys)
    for n in range(2):
        foreign.create(unique("acme"), f"{receiver.url}/{n}")
    store.create(unique("acme"), receiver.url)  # one the bridge can read

    topic = create_topic(store.bootstrap, unique("calls"))
    config = _config(tmp_path / "r.yaml", store.bootstrap, unique("g"), topic, store.topic,
                     store.keys)  # fmt: skip
    bridge = start_bridge(config)
    assert bridge.wait(60) == 2
    output = bridge.output()
    assert "'k9' (2 records)" in output, output[-2000:]
    for spec in (store.keys, other_keys):
        assert spec.partition(":")[2] not in output  # no key material
    assert "subscribed" not in output  # it never joined the group
