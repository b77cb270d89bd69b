"""Endpoint ids: ep_ + a ULID, sortable in creation order."""

from __future__ import annotations

import time

from kafkahooks.endpoints import is_endpoint_id, new_endpoint_id


def test_ids_have_the_ulid_shape() -> None:
    made = new_endpoint_id()
    assert made.startswith("ep_") and len(made) == 29
    assert is_endpoint_id(made)
    assert not is_endpoint_id("ep_" + "U" * 26)  # U is not Crockford base32
    assert not is_endpoint_id("route/x")


def test_ids_made_in_one_millisecond_still_sort_in_creation_order() -> None:
    made = [new_endpoint_id() for _ in range(5000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_sort_by_time_and_carry_the_creation_millisecond() -> None:
    first = new_endpoint_id()
    time.sleep(0.002)
    second = new_endpoint_id()
    assert first < second
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    ms = 0
    for char in second[3:13]:  # the first 10 characters: 48 bits of Unix milliseconds
        ms = ms * 32 + alphabet.index(char)
    assert abs(ms / 1000 - time.time()) < 5
