"""The endpoints a replica holds: the store's records applied in offset order.

One thread (the store follower) calls :meth:`EndpointTable.apply` for every record;
any thread reads.  Rules (issue 15: "Conflicting writes", "Bad records never delete"):

* keys ``health/<id>`` are the bridge's status records (``endpoints/status.py``): the same
  revision rule, per key; a status is attached to its endpoint (``Endpoint.status``) only
  while it names the endpoint's current revision (a tenant write voids it); a status of an
  id the table does not hold is ignored and listed in :meth:`EndpointTable.orphans` until a
  tombstone removes it, and a deleted endpoint's status is dropped the same way;
* keys ``recover/<id>`` are recover jobs (``endpoints/recover.py``): the same revision
  rule, per key; a job of an id the table does not hold is ignored, and a deleted
  endpoint's job is dropped with it (the deleting writer tombstones its key);
* other keys not starting with ``ep_`` are other kinds of record: ignored here;
* a tombstone deletes its key, always;
* a record applies only if its ``revision`` is the offset of the record held for
  its key (-1 when none); otherwise it lost a race and is ignored
  (``conflicts_ignored``) — every replica reads one order, so every replica decides
  the same;
* a record that cannot be read (JSON, schema, another major version, id not its key,
  a tag that does not verify, a tenant other than the held one) leaves the last good
  version in force and counts in ``kafkahooks_store_rejected_total{reason}``;
* a record under a key id missing from the keyring is held (its offset is the one
  the next revision must name, as on a replica that has the key) while the last
  decrypted version stays in force; ``missing_keys`` names such key ids and their
  record counts, and the process must not become ready while any is listed.

Invariant for readers: a tenant's endpoints are one immutable tuple, replaced as a
whole on change; no structure a reader sees is mutated in place.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from typing import Any, NamedTuple

from kafkahooks.endpoints.crypto import Keyring
from kafkahooks.endpoints.directory import NO_ENDPOINTS, TenantGroup
from kafkahooks.endpoints.endpoint import Endpoint
from kafkahooks.endpoints.errors import MissingKeyError, StoreRecordError
from kafkahooks.endpoints.ids import ENDPOINT_ID_PREFIX
from kafkahooks.endpoints.records import open_record, parse_record, record_kids
from kafkahooks.endpoints.recover import RECOVER_PREFIX, RecoverJob, parse_job
from kafkahooks.endpoints.status import (
    STATUS_PREFIX,
    EndpointStatus,
    StatusListener,
    endpoint_of,
    parse_status,
    status_key,
)
from kafkahooks.telemetry import METRICS

__all__ = ["EndpointTable"]

log = logging.getLogger("kafkahooks.store")


class _Unreadable(NamedTuple):
    """A held record this replica cannot decrypt (a key id it does not have)."""

    offset: int
    tenant: str
    missing: tuple[str, ...]


class EndpointTable:
    """An :class:`~kafkahooks.endpoints.EndpointDirectory` built from the store."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._by_id: dict[str, Endpoint] = {}
        self._by_tenant: dict[str, TenantGroup] = {}
        self._unreadable: dict[str, _Unreadable] = {}
        # key -> the key ids its held record uses, kept only when not just the first key's
        # (the usual case costs no entry: memory is per endpoint, 100,000 of them)
        self._kids: dict[str, tuple[str, ...]] = {}
        self._usual = (keyring.primary,)
        self._kid_tuples: dict[tuple[str, ...], tuple[str, ...]] = {}  # one copy of each
        self._kid_counts: Counter[str] = Counter()
        self._gauges: dict[str, Any] = {}  # kid -> its gauge child, reading _kid_counts
        # endpoint id -> its held status record (about any revision: the next status write
        # names its offset); few entries: only endpoints that failed or were disabled
        self._status: dict[str, EndpointStatus] = {}
        self._orphans: set[str] = set()  # status keys of endpoints not held, not tombstoned
        self._jobs: dict[str, RecoverJob] = {}  # endpoint id -> its recover job in force
        self.listener: StatusListener | None = None  # the bridge's EndpointHealth
        self.records_read = 0  # every record seen, applied or not, superseded included
        self.conflicts_ignored = 0
        self.rejected: Counter[str] = Counter()

    # -- reading (any thread) -------------------------------------------------------------

    def for_tenant(self, tenant: str) -> tuple[Endpoint, ...]:
        return self.group(tenant).endpoints

    def group(self, tenant: str) -> TenantGroup:
        return self._by_tenant.get(tenant, NO_ENDPOINTS)

    def get(self, endpoint_id: str) -> Endpoint | None:
        return self._by_id.get(endpoint_id)

    def offset_of(self, key: str) -> int:
        """The store offset of the record held for ``key`` (-1: none): the revision the
        next write of ``key`` must name, and how a writer learns it won."""
        if key.startswith(STATUS_PREFIX):
            status = self._status.get(endpoint_of(key))
            return -1 if status is None else status.offset
        if key.startswith(RECOVER_PREFIX):
            job = self._jobs.get(key[len(RECOVER_PREFIX) :])
            return -1 if job is None else job.offset
        unreadable = self._unreadable.get(key)
        if unreadable is not None:
            return unreadable.offset
        ep = self._by_id.get(key)
        return -1 if ep is None else ep.offset

    def _lost(self, key: str, revision: int) -> bool:
        """Whether a record for ``key`` naming ``revision`` lost a race (the revision rule,
        every kind of key): it is ignored and counted."""
        if revision == self.offset_of(key):
            return False
        self.conflicts_ignored += 1
        return True

    def status_of(self, endpoint_id: str) -> EndpointStatus | None:
        """The status record held for an endpoint, whichever revision it is about."""
        return self._status.get(endpoint_id)

    def recover_of(self, endpoint_id: str) -> RecoverJob | None:
        """The endpoint's recover job in force (any state), or ``None``."""
        return self._jobs.get(endpoint_id)

    def recover_jobs(self) -> tuple[RecoverJob, ...]:
        """Every recover job held (a snapshot; few: one per recovered endpoint)."""
        return tuple(self._jobs.values())

    def orphans(self) -> tuple[str, ...]:
        """Status keys whose endpoint the table does not hold and that no tombstone
        removed yet (the next writer tombstones them)."""
        return tuple(self._orphans)

    def is_orphan(self, key: str) -> bool:
        return key in self._orphans

    def count_for(self, tenant: str) -> int:
        return len(self.for_tenant(tenant))

    def __len__(self) -> int:
        return len(self._by_id)

    def endpoints(self) -> Iterator[Endpoint]:
        """Every endpoint held (a snapshot: safe while records are applied)."""
        return iter(tuple(self._by_id.values()))

    def keys_of(self, key: str) -> tuple[str, ...]:
        """The key ids the record held for ``key`` is encrypted under (``reencrypt``
        rewrites a record whose ids are not exactly the keyring's first)."""
        unusual = self._kids.get(key)
        if unusual is not None:
            return unusual
        return self._usual if self._holds(key) else ()

    def ids_to_reencrypt(self) -> tuple[str, ...]:
        """Endpoints whose record is not wholly under the keyring's first key and that
        this replica can read (what ``reencrypt`` rewrites)."""
        return tuple(
            key for key in tuple(self._kids) if key in self._by_id and key not in self._unreadable
        )

    def _holds(self, key: str) -> bool:
        return key in self._by_id or key in self._unreadable

    @property
    def records_by_key(self) -> dict[str, int]:
        """Held records per key id (a key can be removed from the spec at zero)."""
        return {kid: n for kid, n in tuple(self._kid_counts.items()) if n}  # tuple(): atomic

    @property
    def missing_keys(self) -> dict[str, int]:
        """Key ids held records use that the keyring lacks, with their record counts."""
        counts: Counter[str] = Counter()
        for unreadable in tuple(self._unreadable.values()):  # a snapshot: the applier runs on
            counts.update(unreadable.missing)
        return dict(counts)

    # -- applying (the store follower's thread only) --------------------------------------

    def apply(self, key: str, value: bytes | None, offset: int) -> bool:
        """Apply one store record; ``True`` when it changed what this table holds."""
        self.records_read += 1
        if not key.startswith(ENDPOINT_ID_PREFIX):
            if key.startswith(STATUS_PREFIX):
                return self._apply_status(key, value, offset)
            if key.startswith(RECOVER_PREFIX):
                return self._apply_job(key, value, offset)
            return False
        if value is None:
            return self._delete(key)
        try:
            record = parse_record(key, value)
        except StoreRecordError as exc:
            return self._reject(key, offset, exc.reason)
        if self._lost(key, record["revision"]):
            return False
        held_tenant = self._tenant_of(key)
        if held_tenant is not None and held_tenant != record["tenant"]:
            return self._reject(key, offset, "tenant-change")
        kids = record_kids(record)
        held = self._by_id.get(key)
        # one copy of the id string per endpoint (100,000 of them): the key's for a create,
        # the held version's (already the dicts' key) for an update
        record["id"] = key if held is None else held.id
        try:
            ep = open_record(record, offset, self._keyring)
        except MissingKeyError:
            missing = tuple(k for k in kids if k not in self._keyring)
            self._set_kids(record["id"], kids)
            self._unreadable[record["id"]] = _Unreadable(offset, record["tenant"], missing)
            log.error(
                "store record %s at offset %d is encrypted under key id(s) %s, which "
                "the configured keys lack",
                key,
                offset,
                ", ".join(missing),
            )
            return False
        except StoreRecordError as exc:
            return self._reject(key, offset, exc.reason)
        self._set_kids(ep.id, kids)
        self._unreadable.pop(key, None)
        status = self._status.get(ep.id)
        self._put(ep)  # a new revision: no status is about it yet
        if status is not None and status.disabled is not None:
            self._tell("voided", ep.id)
        return True

    def _apply_status(self, key: str, value: bytes | None, offset: int) -> bool:
        endpoint_id = endpoint_of(key)
        if value is None:  # a tombstone always applies
            self._orphans.discard(key)
            old = self._status.pop(endpoint_id, None)
            self._attach(endpoint_id, None)
            return old is not None
        try:
            status, revision = parse_status(key, value, offset)
        except StoreRecordError as exc:
            return self._reject(key, offset, exc.reason)
        tenant = self._tenant_of(endpoint_id)
        if tenant is None:  # unknown or deleted: ignored, and tombstoned by the next writer
            self._orphans.add(key)
            self._tell("orphaned", key)
            return False
        if self._lost(key, revision):
            return False
        old = self._status.get(endpoint_id)
        self._status[endpoint_id] = status
        self._attach(endpoint_id, status)
        self._tell("status_applied", endpoint_id, tenant, old, status)
        return True

    def _apply_job(self, key: str, value: bytes | None, offset: int) -> bool:
        endpoint_id = key[len(RECOVER_PREFIX) :]
        if value is None:  # a tombstone always applies
            return self._jobs.pop(endpoint_id, None) is not None
        try:
            job, revision = parse_job(key, value, offset)
        except StoreRecordError as exc:
            return self._reject(key, offset, exc.reason)
        if self._tenant_of(endpoint_id) is None:  # unknown or deleted: ignored
            return False
        if self._lost(key, revision):
            return False
        self._jobs[endpoint_id] = job
        return True

    def _attach(self, endpoint_id: str, status: EndpointStatus | None) -> None:
        """Give the held endpoint ``status`` if it is about its current revision."""
        ep = self._by_id.get(endpoint_id)
        if ep is None:
            return
        shown = status if status is not None and status.about(ep.offset) else None
        if shown is not ep.status:
            self._put(replace(ep, status=shown))

    def _tell(self, what: str, *args: object) -> None:
        """Call the listener; its failure is logged, never the table's."""
        if self.listener is None:
            return
        try:
            getattr(self.listener, what)(*args)
        except Exception:
            log.exception("endpoint status listener failed", extra={"call": what})

    def _tenant_of(self, key: str) -> str | None:
        unreadable = self._unreadable.get(key)
        if unreadable is not None:
            return unreadable.tenant
        ep = self._by_id.get(key)
        return None if ep is None else ep.tenant

    def _reject(self, key: str, offset: int, reason: str) -> bool:
        self.rejected[reason] += 1
        METRICS.store_rejected.labels(reason).inc()
        log.warning(
            "store record %s at offset %d refused (%s); its last good version stays in force",
            key,
            offset,
            reason,
        )
        return False

    def _put(self, ep: Endpoint) -> None:
        self._by_id[ep.id] = ep
        self._by_tenant[ep.tenant] = self.group(ep.tenant).put(ep)

    def _delete(self, key: str) -> bool:
        self._jobs.pop(key, None)  # its recover job goes with it
        if self._status.pop(key, None) is not None:  # its status goes with it
            self._orphans.add(status_key(key))
            self._tell("orphaned", status_key(key))
        self._set_kids(key, ())
        unreadable = self._unreadable.pop(key, None)
        ep = self._by_id.pop(key, None)
        if ep is not None:
            rest = self.group(ep.tenant).without(key)
            if rest.endpoints:
                self._by_tenant[ep.tenant] = rest
            else:
                self._by_tenant.pop(ep.tenant, None)
        return ep is not None or unreadable is not None

    def _set_kids(self, key: str, kids: tuple[str, ...]) -> None:
        """Record the key ids of ``key``'s new held record (``()``: none); call before
        the record itself is stored or removed."""
        old = self.keys_of(key)
        self._kids.pop(key, None)
        if kids and kids != self._usual:
            self._kids[key] = self._kid_tuples.setdefault(kids, kids)
        if old == kids:
            return
        for kid in old:
            self._kid_counts[kid] -= 1
        for kid in kids:
            self._kid_counts[kid] += 1
        for kid in kids:
            if kid not in self._gauges:  # read at scrape time: no gauge call per record
                gauge = self._gauges[kid] = METRICS.store_records_by_key.labels(kid)
                gauge.set_function(partial(self._kid_counts.__getitem__, kid))
