"""nginx as the webhook receiver: no Python in the way of the measurement.

One nginx per measured row, on a free loopback port, from a config written
into a temp dir.  It logs ``$msec $request_time $request_body`` per request,
and the bench reads the bodies afterwards for per-call order and latency.
The slow variant answers after 50 ms with ``echo_sleep`` (Debian package
``libnginx-mod-http-echo``).  Both variants read the body with the echo
module so ``$request_body`` is filled; the fast one answers at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from kafkahooks.demo.broker import free_port

MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules")
ECHO_MODULE = "ngx_http_echo_module.so"
PACKAGES = ["nginx", "libnginx-mod-http-echo"]

_CONF = """\
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process on;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
load_module {module};
events {{ worker_connections 8192; }}
http {{
    access_log off;
    log_format bench escape=none '$msec $request_time $status $request_body';
    client_body_buffer_size 1m;
    client_max_body_size 16m;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            access_log {dir}/access.log bench buffer=1m flush=1s;
{body}
        }}
    }}
}}
"""

# what the location does, per receiver mode
BODIES = {
    "fast": ["echo_read_request_body;", "echo ok;"],
    "slow": ["echo_read_request_body;", "echo_sleep 0.05;", "echo ok;"],
    "down": ["return 503 'down';"],
    "up": ["return 200 'ok';"],
}


def echo_module() -> str | None:
    for folder in MODULE_DIRS:
        candidate = Path(folder) / ECHO_MODULE
        if candidate.exists():
            return str(candidate)
    return None


def ensure_nginx() -> str:
    """Path of the echo module; installs nginx + echo with apt-get if allowed."""
    module = echo_module()
    if shutil.which("nginx") and module:
        return module
    hint = "apt-get update && apt-get install -y " + " ".join(PACKAGES)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"nginx with the echo module is needed; install it with: {hint}")
    print(f"installing {' '.join(PACKAGES)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env)
    module = echo_module()
    if not (shutil.which("nginx") and module):
        sys.exit(f"nginx or its echo module still missing after apt-get; try: {hint}")
    return module


@dataclass
class Hit:
    arrived: float  # epoch seconds the request reached nginx
    status: int
    body: str


class Nginx:
    def __init__(self, workdir: Path, mode: str, module: str, port: int | None = None) -> None:
        self.dir = workdir
        self.mode = mode
        self.module = module
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._proc: subprocess.Popen[bytes] | None = None

    def _write_conf(self, mode: str) -> Path:
        conf = self.dir / "nginx.conf"
        text = _CONF.format(
            dir=self.dir,
            module=self.module,
            port=self.port,
            body="\n".join(" " * 12 + line for line in BODIES[mode]),
        )
        conf.write_text(text)
        return conf

    def start(self) -> Self:
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self._write_conf(self.mode)
        self._proc = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "wb"),  # noqa: SIM115 - lives with the process
        )
        _wait_listening(self.port, self._proc, self.dir)
        return self

    def switch(self, mode: str) -> None:
        """Swap the answer (e.g. 503 → 200) with a graceful reload."""
        assert self._proc is not None
        self.mode = mode
        self._write_conf(mode)
        self._proc.send_signal(signal.SIGHUP)

    @property
    def pids(self) -> list[int]:
        """Master and workers (for CPU accounting)."""
        if self._proc is None:
            return []
        children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children")
        kids = [int(x) for x in children.read_text().split()] if children.exists() else []
        return [self._proc.pid, *kids]

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGQUIT)  # graceful: flushes the buffered access log
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def hits(self) -> list[Hit]:
        path = self.dir / "access.log"
        if not path.exists():
            return []
        out: list[Hit] = []
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                msec, rtime, status, body = line.rstrip("\n").split(" ", 3)
                out.append(Hit(float(msec) - float(rtime), int(status), body))
        return out


def _wait_listening(port: int, proc: subprocess.Popen[bytes], workdir: Path) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (workdir / "stderr.log").read_text(errors="replace")
            raise RuntimeError(f"nginx exited at start: {err}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on port {port}")


@dataclass
class Delivered:
    """What the receiver saw of one row, keyed by (callId, seq)."""

    first: float = 0.0
    arrivals: dict[tuple[str, int], float] = field(default_factory=dict)
    order_violations: int = 0
    requests: int = 0
    events: int = 0
    duplicates: int = 0
    unparsed: int = 0


def analyse(hits: list[Hit]) -> Delivered:
    """Per-call order in the order nginx finished the requests (one worker:
    a call's next event can only be sent after its previous one was answered,
    so the log order is the order the bridge released them)."""
    out = Delivered(first=min((h.arrived for h in hits), default=0.0))
    last_seq: dict[str, int] = {}
    for hit in hits:
        if hit.status != 200:
            continue
        out.requests += 1
        for item in _items(hit.body):
            if isinstance(item, dict) and "callId" not in item:
                item = item.get("data")  # a batch element: {"id": ..., "data": {...}}
            try:
                call_id, seq = str(item["callId"]), int(item["seq"])
            except (KeyError, TypeError, ValueError):
                out.unparsed += 1
                continue
            out.events += 1
            key = (call_id, seq)
            if key in out.arrivals:
                out.duplicates += 1
            else:
                out.arrivals[key] = hit.arrived
            if seq < last_seq.get(call_id, -1):
                out.order_violations += 1
            last_seq[call_id] = max(seq, last_seq.get(call_id, -1))
    return out


def _items(body: str) -> list[Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return [None]
    return data if isinstance(data, list) else [data]
