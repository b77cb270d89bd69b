"""Progress records: finished offsets above a position, as compact ranges."""

from __future__ import annotations

import pytest

from kafkahooks.kafka.progress import Progress, decode_progress, encode_progress, progress_key


@pytest.mark.parametrize(
    "progress",
    [
        Progress(0, 0, ()),
        Progress(7, 12, ((13, 14),)),
        Progress(2**40, 2**40 + 5, ((2**40 + 6, 2**40 + 9), (2**40 + 300, 2**40 + 301))),
    ],
)
def test_a_record_reads_back_as_written(progress: Progress) -> None:
    assert decode_progress(encode_progress(progress)) == progress


def test_the_worst_case_stays_small() -> None:
    # every other offset finished behind a stuck one: 25,000 ranges in a 50,000-offset hold
    ranges = tuple((1_000_000 + 2 * i + 1, 1_000_000 + 2 * i + 2) for i in range(25_000))
    progress = Progress(1_000_000, 1_000_000, ranges)
    data = encode_progress(progress)
    assert len(data) < 60_000  # far inside the default 1 MB record limit
    assert decode_progress(data) == progress
    assert progress.count == 25_000


@pytest.mark.parametrize(
    "data",
    [b"", b"\x02\x00\x00\x00", b"\x01\x00\x00\x02\x01", b"\x01\x00\x00\x01\x01\x00", b"\x01\x80"],
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_progress(data)


def test_ranges_below_the_position_cannot_be_written() -> None:
    with pytest.raises(ValueError):
        encode_progress(Progress(0, 10, ((5, 6),)))


def test_the_key_names_group_topic_and_partition() -> None:
    assert progress_key("my/group", ("orders", 3)) == "my/group/orders/3"
