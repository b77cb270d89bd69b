"""``kafkahooks demo --endpoints``: customers' own endpoints, created with the CLI, receiving.

Three tenants (the event's ``companionId``) each get a verifying receiver of their own and
an endpoint registered in the endpoint store by ``kafkahooks endpoints create`` — run as a
separate process, exactly as printed, so the demo shows the operator's commands.  Calls of
all three are produced interleaved; the summary shows per tenant the deliveries verified
with that tenant's own secret, and that none reached another tenant's endpoint.

The demo also serves the management API (``demo/api.py``) on loopback and prints its
URL, an admin token (demo only) and curl examples; at the end it reads one tenant's
endpoint and its delivery stats through it.

Invariant: the demo succeeds only if every event reached its own tenant's receiver, every
signature verified with that tenant's secret, and no receiver saw another tenant's call.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping

from kafkahooks.app import Bridge, EndpointDirectories, Settings
from kafkahooks.config import load_config
from kafkahooks.demo.api import DemoApi, with_demo_api
from kafkahooks.demo.broker import EmbeddedBroker
from kafkahooks.demo.receiver import VerifyingReceiver
from kafkahooks.demo.run import TOPIC, produce, project_file
from kafkahooks.endpoints import generate_key_spec
from kafkahooks.telemetry import setup_logging

__all__ = ["TENANTS", "run_endpoints_demo"]

TENANTS = ("cmp_acme", "cmp_globex", "cmp_initech")
CONFIG = "examples/demo-endpoints.yaml"


def _cli(args: list[str], env: Mapping[str, str], stdin: str | None = None) -> str:
    """Run ``kafkahooks ARGS`` as its own process (printed first, secrets never); its
    output, or exit with what it said."""
    print("  $ kafkahooks " + shlex.join(args), flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", *args],
        input=stdin, env=dict(env), capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"kafkahooks {args[0]} {args[1]} failed:\n{done.stderr}{done.stdout}")
    return done.stdout


def _register(receivers: Mapping[str, VerifyingReceiver], env: Mapping[str, str]) -> None:
    """One endpoint per tenant; each tenant's secret is its receiver's (given on stdin, as
    a platform migrating its customers would do), so the CLI prints none."""
    for tenant, receiver in receivers.items():
        _cli(
            ["endpoints", "create", "--config", CONFIG, "--tenant", tenant, "--url", receiver.url,
             "--description", f"{tenant} call webhooks", "--secret-from-stdin"],
            env, stdin=receiver.secret.decode(),
        )
    for line in _cli(["endpoints", "list", "--config", CONFIG], env).splitlines():
        print(f"    {line}")


async def _deliver(
    bridge: Bridge, receivers: Mapping[str, VerifyingReceiver], expected: int, timeout: float
) -> float:
    task = asyncio.create_task(bridge.run())
    started = time.monotonic()
    shown = -1
    while time.monotonic() - started < timeout and not task.done():
        await asyncio.sleep(0.1)
        arrived = sum(len(r.state.ids) for r in receivers.values())
        if arrived != shown:
            shown = arrived
            print(f"  delivered {arrived:>6} / {expected}", flush=True)
        if arrived + bridge.stats.dead_lettered >= expected:
            break
    elapsed = time.monotonic() - started
    bridge.stop()
    await task
    return elapsed


def _show_api(api: DemoApi, tenant: str, received: int) -> None:
    """What the tenant's code would see through the API once the events were delivered
    (the stats follow the delivery log: they reach ``received`` a moment after the last
    delivery)."""
    (endpoint,) = api.get(f"/v1/tenants/{tenant}/endpoints")["data"]
    path = f"/v1/tenants/{tenant}/endpoints/{endpoint['id']}"
    deadline = time.monotonic() + 10
    stats = api.get(f"{path}/stats")
    while stats["deliveries"] < received and time.monotonic() < deadline:
        time.sleep(0.2)
        stats = api.get(f"{path}/stats")
    p50 = stats["p50"]["estimate_ms"] if stats["p50"] else None
    print(f"  via the API: {tenant} endpoint {endpoint['id']} enabled={endpoint['enabled']}; "
          f"24 h: {stats['deliveries']} delivered, {stats['failures']} failed, "
          f"p50 ≈ {p50} ms (bucket estimate)", flush=True)  # fmt: skip


def _summary(receivers: Mapping[str, VerifyingReceiver], produced: int, dead: int) -> bool:
    print("\nsummary")
    print(f"  events produced   {produced}   dead-lettered {dead}")
    print(f"  {'tenant':<14}{'delivered':>10}{'verified':>10}{'rejected':>10}{'foreign':>9}")
    total, ok = 0, True
    for tenant, receiver in receivers.items():
        state = receiver.state
        # a call id starts with its tenant (demo/run.py produce): any other is a leak
        foreign = sum(1 for key in state.by_key if not key.startswith(f"{tenant}/"))
        total += len(state.ids)
        ok = ok and state.rejected == 0 and foreign == 0 and state.verified >= len(state.ids)
        print(f"  {tenant:<14}{len(state.ids):>10}{state.verified:>10}{state.rejected:>10}"
              f"{foreign:>9}")
    ok = ok and total == produced and dead == 0
    print("  result            " + ("OK" if ok else "FAILED"))
    return ok


def run_endpoints_demo(events: int = 600, timeout: float = 300.0) -> int:
    setup_logging("WARNING", "text")
    with EmbeddedBroker() as broker:
        receivers = {t: VerifyingReceiver(secrets.token_hex(32)).start() for t in TENANTS}
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": broker.bootstrap,
            "SOURCE_TOPIC": TOPIC,
            "SESSION_TIMEOUT_MS": "6000",
            "HEARTBEAT_INTERVAL_MS": "1000",
            "KAFKAHOOKS_ENCRYPTION_KEYS": generate_key_spec("demo"),
            "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",  # the receivers are on loopback
        }
        print(f"kafkahooks demo --endpoints: broker {broker.bootstrap}; "
              f"{len(TENANTS)} customers register their endpoints")
        os.chdir(project_file(CONFIG).parents[1])  # the printed commands name CONFIG as is
        _register(receivers, env)
        produced = produce(broker.bootstrap, events, max(1, events // 4), tenants=TENANTS)
        print(f"  produced {produced} call-status events of {len(TENANTS)} tenants to {TOPIC}")
        config, admin_token = with_demo_api(load_config(project_file(CONFIG), env))
        api = DemoApi(config, admin_token)
        api.print_intro(TENANTS[0])
        settings = Settings(allow_local_targets=True, shutdown_timeout=5, http_port=0)
        directories = EndpointDirectories(config, settings, status=True)
        directory = directories.open()
        bridge = Bridge(config, settings, directory=directory, health=directories.health)
        try:
            asyncio.run(_deliver(bridge, receivers, produced, timeout))
            _show_api(api, TENANTS[0], len(receivers[TENANTS[0]].state.ids))
        finally:
            api.close()
            directories.close()
            for receiver in receivers.values():
                receiver.stop()
    ok = _summary(receivers, produced, bridge.stats.dead_lettered)
    sys.stdout.flush()
    return 0 if ok else 1
