"""Hot reload: a valid routes file is applied, anything else leaves the running config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kafkahooks.config import RoutesFile
from kafkahooks.reload import Reloader, ReloadError

ROUTES = """
kafka: {{bootstrap_servers: 127.0.0.1:9, group_id: reload-test}}
routes:
  - name: {name}
    topics: [calls]
    template: {{id: "{{{{ key }}}}"}}
    endpoint: {{url: "https://hooks.example.test/{name}"}}
"""


class FakeBridge:
    """Stands in for the Bridge: records what it was given, or refuses it."""

    def __init__(self, refuse: Exception | None = None) -> None:
        self.applied: list[RoutesFile] = []
        self.refuse = refuse

    async def apply(self, config: RoutesFile) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.applied.append(config)

    @property
    def route_names(self) -> list[list[str]]:
        return [[r.name for r in c.routes] for c in self.applied]


def _write(path: Path, text: str, mtime: float | None = None) -> Path:
    path.write_text(text)
    if mtime is not None:  # an explicit mtime: coarse file-system clocks can't hide a change
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    return _write(tmp_path / "routes.yaml", ROUTES.format(name="calls"), mtime=1_700_000_000)


def test_a_valid_file_is_applied(routes: Path) -> None:
    bridge = FakeBridge()
    reloader = Reloader(bridge, routes)
    _write(routes, ROUTES.format(name="calls-v2"))
    assert asyncio.run(reloader.reload()) is True
    assert bridge.route_names == [["calls-v2"]]
    assert (reloader.applied, reloader.rejected) == (1, 0)


def test_an_invalid_file_is_rejected_logged_and_counted(
    routes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = FakeBridge()
    reloader = Reloader(bridge, routes)
    _write(routes, ROUTES.format(name="calls").replace("https://", "ftp://"))
    with caplog.at_level(logging.ERROR, logger="kafkahooks.reload"):
        assert asyncio.run(reloader.reload()) is False
    assert bridge.applied == []
    assert (reloader.applied, reloader.rejected) == (0, 1)
    (record,) = caplog.records
    assert "running config stays" in record.getMessage()
    problems: list[str] = record.__dict__["problems"]
    assert any("route 'calls' → endpoint.url" in p for p in problems)


def test_a_missing_file_is_rejected(routes: Path) -> None:
    bridge = FakeBridge()
    reloader = Reloader(bridge, routes)
    routes.unlink()
    assert asyncio.run(reloader.reload()) is False
    assert (bridge.applied, reloader.rejected) == ([], 1)


def test_a_change_that_needs_a_restart_is_rejected(
    routes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = FakeBridge(refuse=ReloadError("kafka.group_id changed: restart to apply"))
    reloader = Reloader(bridge, routes)
    with caplog.at_level(logging.ERROR, logger="kafkahooks.reload"):
        assert asyncio.run(reloader.reload()) is False
    assert (reloader.applied, reloader.rejected) == (0, 1)
    assert caplog.records[0].__dict__["problems"] == ["kafka.group_id changed: restart to apply"]


def test_a_bug_while_applying_is_rejected_not_raised(routes: Path) -> None:
    reloader = Reloader(FakeBridge(refuse=RuntimeError("boom")), routes)
    assert asyncio.run(reloader.reload()) is False
    assert reloader.rejected == 1


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the watcher run until ``condition`` holds (it checks every 0.05 s)."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {timeout} s")


def test_the_watcher_reloads_when_the_file_changes_and_on_request(routes: Path) -> None:
    bridge = FakeBridge()
    reloader = Reloader(bridge, routes, interval=0.05)

    async def scenario() -> None:
        watcher = asyncio.create_task(reloader.watch())
        try:
            # several intervals with no change: nothing is reloaded
            await asyncio.sleep(0.2)
            assert bridge.applied == []
            _write(routes, ROUTES.format(name="edited"), mtime=1_700_000_100)
            await _until(lambda: reloader.applied == 1)
            assert bridge.route_names == [["edited"]]
            reloader.request()  # SIGHUP: reload even though the file did not change
            await _until(lambda: reloader.applied == 2)
            # a broken edit is rejected, and the watcher keeps watching
            _write(routes, "routes: [", mtime=1_700_000_200)
            await _until(lambda: reloader.rejected == 1)
            _write(routes, ROUTES.format(name="fixed"), mtime=1_700_000_300)
            await _until(lambda: reloader.applied == 3)
            assert not watcher.done()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        assert bridge.route_names == [["edited"], ["edited"], ["fixed"]]

    asyncio.run(scenario())
