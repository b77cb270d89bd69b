"""Load time and memory of a replica's endpoint table: 100,000 endpoints, 20,000 tenants.

Typical records (URL ~80 characters with a token in the query, one signing secret,
one plain and one secret header, a description) are encoded once into a temporary
file; a fresh process then imports the whole bridge (as a replica does), reads the
records and applies them to an ``EndpointTable``, decrypting every sealed field::

    PYTHONPATH=src .venv/bin/python bench/endpoint_table.py [endpoints] [tenants]

Printed: µs per record (JSON, schema, AES-GCM, index), the RSS the table adds and
the process's RSS with the table loaded.  No Kafka here: the store topic's read time
is the store reader's.
"""

from __future__ import annotations

import gc
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _generate(path: Path, count: int, tenants: int, key_spec: str) -> None:
    from kafkahooks.endpoints import EndpointSpec, Keyring, create_endpoint, encode_endpoint

    keyring = Keyring.parse(key_spec)
    now = time.time()
    with path.open("wb") as out:
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
            ep = create_endpoint(spec, f"tenant-{i % tenants}", now=now)
            value = encode_endpoint(ep, keyring, -1, now)
            key = ep.id.encode()
            out.write(struct.pack(">HI", len(key), len(value)) + key + value)


def _load(path: Path, key_spec: str) -> None:
    import kafkahooks.app  # noqa: F401 - a replica's whole import set, for its baseline RSS
    from kafkahooks.endpoints import EndpointTable, Keyring

    gc.collect()
    baseline = _rss_mb()
    table = EndpointTable(Keyring.parse(key_spec))
    count = 0
    started, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as records:  # one record at a time, as the store reader hands them
        while header := records.read(6):
            klen, vlen = struct.unpack(">HI", header)
            key, value = records.read(klen).decode(), records.read(vlen)
            table.apply(key, value, count)
            count += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    gc.collect()
    grown = _rss_mb() - baseline
    tenants = len({ep.tenant for ep in table.endpoints()})
    print(
        f"{count:,} records ({len(table):,} endpoints, {tenants:,} tenants) applied in "
        f"{elapsed:.2f} s ({cpu:.2f} s CPU): {cpu / count * 1e6:.1f} µs CPU/record, file "
        "reads included"
    )
    print(
        f"table RSS growth {grown:.0f} MB ({grown * 2**20 / count:,.0f} B/endpoint); "
        f"process RSS {_rss_mb():.0f} MB with the table loaded "
        f"(after the imports, before the table: {baseline:.0f} MB)"
    )


def main() -> None:
    if sys.argv[1:2] == ["--load"]:
        _load(Path(sys.argv[2]), sys.argv[3])
        return
    from kafkahooks.endpoints import generate_key_spec

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    tenants = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    key_spec = generate_key_spec("bench")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.bin"
        _generate(path, count, tenants, key_spec)
        subprocess.run([sys.executable, __file__, "--load", str(path), key_spec], check=True)


if __name__ == "__main__":
    main()
