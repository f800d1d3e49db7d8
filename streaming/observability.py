"""Metrics and health endpoints shared by every service, and logging set-up.

One HTTP port per process serves ``/metrics`` (Prometheus text), ``/healthz`` (liveness: the
service loop's heartbeat is fresh) and ``/readyz`` (readiness: the service says it can do work).
Health checks are plain callables returning ``(ok, detail)`` so services stay free of HTTP code.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from streaming.redact import RedactingFilter

HealthCheck = Callable[[], tuple[bool, str]]

log = logging.getLogger(__name__)


class Heartbeat:
    """A loop calls :meth:`beat` every iteration; liveness fails when it stops for ``max_age_s``."""

    def __init__(self, name: str, max_age_s: float = 30.0) -> None:
        self.name = name
        self.max_age_s = max_age_s
        self._last = time.monotonic()

    def beat(self) -> None:
        """Record that the loop is alive."""
        self._last = time.monotonic()

    def check(self) -> tuple[bool, str]:
        """Healthy while the last beat is fresh."""
        age = time.monotonic() - self._last
        return age <= self.max_age_s, f"{self.name} loop last beat {age:.1f}s ago"


class HealthServer:
    """Serves /metrics, /healthz and /readyz on one port in a daemon thread."""

    def __init__(self, registry: CollectorRegistry, host: str = "0.0.0.0", port: int = 0) -> None:
        self.registry = registry
        self._live: list[HealthCheck] = []
        self._ready: list[HealthCheck] = []
        server = self
        self._started = False

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body = generate_latest(server.registry)
                    self._send(200, body, CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    checks = server._live if path == "/healthz" else server._live + server._ready
                    ok, details = server._run(checks)
                    payload = json.dumps({"ok": ok, "checks": details}).encode()
                    self._send(200 if ok else 503, payload, "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
                return

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="health-http", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        return int(self._httpd.server_address[1])

    def add_liveness(self, check: HealthCheck) -> None:
        """Add a check to /healthz (and /readyz)."""
        self._live.append(check)

    def add_readiness(self, check: HealthCheck) -> None:
        """Add a check to /readyz only."""
        self._ready.append(check)

    @staticmethod
    def _run(checks: list[HealthCheck]) -> tuple[bool, list[dict[str, object]]]:
        results: list[dict[str, object]] = []
        ok = True
        for check in checks:
            try:
                passed, detail = check()
            except Exception as exc:  # a broken check is a failing check, not a 500
                passed, detail = False, f"check raised {type(exc).__name__}"
            ok = ok and passed
            results.append({"ok": passed, "detail": detail})
        return ok, results

    def start(self) -> HealthServer:
        """Start serving in the background."""
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._started:
            self._httpd.shutdown()
        self._httpd.server_close()


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with timestamps; every record passes through the credential scrubber."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(getattr(h, "_vigil", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        handler._vigil = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for noisy in ("kafka", "urllib3", "libav"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
