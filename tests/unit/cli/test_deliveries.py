"""``kafkahooks deliveries``: ``--since`` parsing, and what it says without a delivery log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafkahooks.cli.deliveries import parse_since
from kafkahooks.cli.main import main

NOW = 1_718_000_000.0


@pytest.mark.parametrize(
    ("text", "ago"),
    [("10m", 600), ("2h", 7200), ("1d", 86400), ("30s", 30), ("1.5h", 5400), (" 10m ", 600)],
)
def test_relative_times_count_back_from_now(text: str, ago: float) -> None:
    assert parse_since(text, now=NOW) == NOW - ago


def test_relative_times_default_to_the_current_clock() -> None:
    before = datetime.now(UTC).timestamp()
    since = parse_since("1h")
    after = datetime.now(UTC).timestamp()
    assert before - 3600 <= since <= after - 3600


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-10T06:13:20Z",
        "2024-06-10T06:13:20+00:00",
        "2024-06-10T08:13:20+02:00",
        "2024-06-10T06:13:20",  # no zone: UTC, not the machine's local time
    ],
)
def test_iso_times_are_absolute(text: str) -> None:
    assert parse_since(text, now=0.5) == datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("text", ["10 minutes", "yesterday", "10w", ""])
def test_unreadable_times_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_since(text)


def test_deliveries_without_a_log_topic_says_how_to_keep_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "kafka: {bootstrap_servers: 127.0.0.1:9}\n"
        "routes:\n"
        "  - name: calls\n"
        "    topics: [calls]\n"
        "    template: {id: '{{ key }}'}\n"
        "    endpoint: {url: 'https://hooks.example.test/'}\n"
    )
    assert main(["deliveries", "--config", str(routes)]) == 2
    assert "kafka.delivery_log_topic is not set" in capsys.readouterr().err


def test_a_read_that_did_not_reach_the_end_is_an_error_naming_what_was_not_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kafkahooks.cli.deliveries import unread
    from kafkahooks.kafka import ReadResult

    assert unread("log", ReadResult(records=[1, 2]), 5.0) == 0
    assert unread("log", ReadResult(records=[1], unfinished=[0, 2]), 5.0) == 1
    err = capsys.readouterr().err
    assert "partition(s) 0, 2 of 'log' were not read to their end within 5 s" in err


class _Message:
    def __init__(self, value: bytes | None) -> None:
        self._value = value

    def value(self) -> bytes | None:
        return self._value


def test_the_api_followers_markers_are_not_shown_as_attempts() -> None:
    from kafkahooks.cli.deliveries import _attempt

    assert _attempt(_Message(b"")) is None  # type: ignore[arg-type]
    assert _attempt(_Message(b'{"event_id":"evt_1","at":1}')) == {"event_id": "evt_1", "at": 1}  # type: ignore[arg-type]
