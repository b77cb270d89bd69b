"""The browser suite (``make test-browser``): Debian's Chromium driven by Playwright.

Chromium is the system package (``/usr/bin/chromium``; Playwright's own download is
never used).  A missing browser **fails** the suite: it is never skipped.  Chromium
is started with its background traffic off and a resolver that knows no name, so it
can reach nothing but the loopback addresses a test gives it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KAFKAHOOKS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
    "--metrics-recording-only", "--disable-domain-reliability", "--disable-breakpad",
    # no name resolves: only 127.0.0.1, the address every test serves on, is reachable
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test-browser` installs it "
                    "(apt-get install chromium chromium-driver)")  # fmt: skip
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM, args=ARGS, headless=True,
            env={**os.environ, "HOME": str(tmp_path_factory.mktemp("chromium-home"))},
        )  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where pages are photographed: ``KAFKAHOOKS_SCREENSHOTS`` (``make
    portal-screenshots`` gives docs/portal), else the test's own temporary folder."""
    folder = Path(os.environ.get("KAFKAHOOKS_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
