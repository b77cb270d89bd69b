"""The fault suite: every test in this folder carries the ``faults`` marker, so the
default run (``-m 'not faults'``) skips it and ``make test-faults`` runs it alone."""

from __future__ import annotations

from pathlib import Path

import pytest

# the real endpoint store, for tests of routes with ``endpoints:``
from tests.integration.conftest import store, store_keys, store_writer  # noqa: F401

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.faults)
