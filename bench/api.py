"""The management API at scale: 100,000 endpoints in the store, one replica, real broker.

Writes N typical endpoints (as ``bench/endpoint_table.py`` makes them; one tenant has 100
of them, the rest are spread over 20,000 tenants) to a store topic on the embedded broker,
starts ``kafkahooks api --config`` as a process, and prints its start-up (store load) time
and RSS, then the latency of ``GET …/endpoints/{id}``, ``GET …/endpoints`` (a page of 50)
and ``POST …/endpoints`` (each create answers after the broker's ack and this replica
applying it) from one keep-alive client::

    PYTHONPATH=src .venv/bin/python bench/api.py [endpoints] [requests]

Issue 17's targets: get p99 ≤ 20 ms, list (50) p99 ≤ 50 ms, create p99 ≤ 250 ms, index RSS
≤ 300 MB, start-up ≤ 30 s.  Everything runs on loopback; the endpoints' names are never
resolved (``KAFKAHOOKS_ALLOW_LOCAL_TARGETS`` skips the write-time lookup).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

BIG = "tenant-big"


def _records(count: int, key_spec: str) -> list[tuple[str, bytes]]:
    from kafkahooks.endpoints import EndpointSpec, Keyring, create_endpoint, encode_endpoint

    keyring = Keyring.parse(key_spec)
    now = time.time()
    out = []
    for i in range(count):
        spec = EndpointSpec.parse(
            {
                "url": f"https://hooks.customer-{i % 500}.example.com/webhooks/{i:08d}"
                f"?token=tk{i:012d}",
                "description": f"Production webhook of customer {i} for call events",
                "event_types": ["call.completed", "call.failed"],
                "headers": {"X-Customer": f"cust-{i}"},
                "secret_headers": {"Authorization": f"Bearer tok_{i:020d}"},
            }
        )
        tenant = BIG if i < 100 else f"tenant-{i % 20_000}"
        ep = create_endpoint(spec, tenant, now=now)
        out.append((ep.id, encode_endpoint(ep, keyring, -1, now)))
    return out


def _fill(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    from kafkahooks.kafka import StoreLog, ensure_store_topic

    props = {"bootstrap.servers": bootstrap}
    ensure_store_topic(props, topic, 30)
    log = StoreLog(props, topic, lambda *_: None, name="bench")
    try:
        for start in range(0, len(records), 5_000):
            results = log.write_many(records[start : start + 5_000], 120)
            failed = [r for r in results if not isinstance(r, int)]
            if failed:
                raise RuntimeError(f"store writes failed: {failed[0]}")
    finally:
        log.close()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _timed(label: str, call: object, n: int) -> None:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        answer = call()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
        assert answer.status_code in (200, 201), answer.text
    print(f"{label:<28} n={n:<5} p50 {_p(times, 0.5):6.1f} ms  p99 {_p(times, 0.99):6.1f} ms  "
          f"mean {statistics.mean(times) * 1000:6.1f} ms")  # fmt: skip


def main() -> None:
    from kafkahooks.api import new_token
    from kafkahooks.demo import EmbeddedBroker
    from kafkahooks.endpoints import generate_key_spec

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    key_spec = generate_key_spec("bench")
    admin = new_token("bench")
    started = time.perf_counter()
    records = _records(count, key_spec)
    print(f"encoded {count:,} endpoints in {time.perf_counter() - started:.1f} s")
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        topic = "bench.endpoints"
        started = time.perf_counter()
        _fill(broker.bootstrap, topic, records)
        print(f"wrote them to the store topic in {time.perf_counter() - started:.1f} s")
        port = 18000 + random.randrange(1000)
        config = Path(tmp) / "routes.yaml"
        doc = {
            "kafka": {"bootstrap_servers": broker.bootstrap, "delivery_log_topic": "deliveries"},
            "endpoint_store": {"topic": topic, "encryption_keys": key_spec,
                               "max_endpoints_per_tenant": 100_000},
            "api": {"listen": f"127.0.0.1:{port}", "write_burst": 100_000,
                    "writes_per_second": 10_000,
                    "admin_tokens": [{"id": admin.id, "sha256": admin.sha256}]},
            "routes": [{"name": "calls", "topics": ["calls"], "template": {"k": "{{ key }}"},
                        "endpoints": {"tenant": "value.tenant"},
                        "signing": {"scheme": "standard-webhooks"}}],
        }  # fmt: skip
        config.write_text(yaml.safe_dump(doc))
        env = {**os.environ, "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
               "KAFKAHOOKS_LOG_LEVEL": "WARNING"}  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "kafkahooks.cli.main", "api", "--config", str(config)],
            env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError("the API did not start")
                time.sleep(0.1)
            ready, rss = time.perf_counter() - started, _rss_mb(process.pid)
            print(f"api process ready in {ready:.1f} s (interpreter, imports, store load), "
                  f"RSS {rss:.0f} MB")  # fmt: skip
            _measure(url, admin.value, [k for k, _ in records[:100]], requests)
            print(f"api process RSS after the requests: {_rss_mb(process.pid):.0f} MB")
        finally:
            process.terminate()
            _, err = process.communicate(timeout=30)
        print(next((line for line in err.splitlines() if "store loaded in" in line), ""))


def _measure(url: str, token: str, big_ids: list[str], n: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/v1/tenants/{BIG}/endpoints"
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _ in range(50):  # warm up
            client.get(f"{base}/{big_ids[0]}")
        _timed("get one", lambda: client.get(f"{base}/{random.choice(big_ids)}"), n)
        _timed("list (a page of 50)", lambda: client.get(base, params={"limit": 50}), n)
        body = {"url": "https://hooks.new.example/in", "event_types": ["call.completed"]}
        _timed("create (acked + applied)",
               lambda: client.post(f"/v1/tenants/new-{random.randrange(10**9)}/endpoints",
                                   json=body), max(n // 5, 50))  # fmt: skip


if __name__ == "__main__":
    main()
