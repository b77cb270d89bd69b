"""The writer's side of the store's revision rule, shared by the operator's CLI and the API.

A writer reads an endpoint's version in force, writes a record naming that version's
offset as its ``revision``, reads the store up to its own record, and then asks whether
its record is the one in force (:func:`written_in_force`): otherwise another writer came
first, every replica ignored the record, and nothing changed (the CLI says "conflict",
the API answers 409).  :func:`version_in_force` refuses a version that is not the one in
force — a replica without the key of the newest record still holds an older version.
Invariant: both answers come from the table alone, so every replica that read the same
offsets answers the same.
"""

from __future__ import annotations

from kafkahooks.endpoints.endpoint import Endpoint
from kafkahooks.endpoints.table import EndpointTable

__all__ = ["version_in_force", "written_in_force"]


def version_in_force(table: EndpointTable, endpoint_id: str) -> Endpoint | None:
    """The endpoint as its record in force says, or ``None`` (no such endpoint, or its
    record in force is under a key id this replica lacks: ``table.offset_of`` is then
    not -1)."""
    ep = table.get(endpoint_id)
    if ep is None or table.offset_of(endpoint_id) != ep.offset:
        return None
    return ep


def written_in_force(table: EndpointTable, key: str, offset: int) -> bool:
    """Whether the record written at ``offset`` for ``key`` is the one in force (call it
    once the table applied ``offset``)."""
    return table.offset_of(key) == offset
