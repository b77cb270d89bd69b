"""The portal's test sends and recovers: the API's own service functions behind the
portal's protocols (``api/portal/activity.py``), so a page does exactly what the
``…/test`` and ``…/recover`` routes do — the same rate limits, guard, audit and store
writes.  Invariant: nothing here decides anything the API does not."""

from __future__ import annotations

from typing import Any

from kafkahooks.api.audit import Audit
from kafkahooks.api.auth import Scope
from kafkahooks.api.portal.activity import PortalActivity
from kafkahooks.api.recover import start_recover
from kafkahooks.api.testsend import send_test
from kafkahooks.api.writes import check_rate
from kafkahooks.endpoints import Endpoint

__all__ = ["ApiRecoverer", "ApiTestSender", "api_activity"]


class ApiTestSender:
    async def send_test(self, scope: Scope, endpoint: Endpoint, event_type: str) -> dict[str, Any]:
        done = await send_test(scope.context, scope.tenant, endpoint.id, event_type or None)
        return {**done, "response": done.get("response_excerpt")}


class ApiRecoverer:
    async def start(self, scope: Scope, endpoint: Endpoint, since: float, rid: str) -> str:
        check_rate(scope)
        audit = Audit(rid, scope.token_id, scope.tenant, "recover",
                      endpoint.id, ("since",))  # fmt: skip
        view, _offset = await start_recover(scope, audit, endpoint.id, since)
        return str(view["job"])


def api_activity() -> PortalActivity:
    """The portal's activity parts served by this API (attempts come from the context)."""
    return PortalActivity(tests=ApiTestSender(), recovers=ApiRecoverer())
