"""Human-readable alert lines (``vigil alerts tail``, ``vigil demo``) and an in-process printing sink."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from streaming.alert_store import Alert

_MARK = {"raised": "ALERT ", "updated": "UPDATE", "resolved": "CLEAR "}


def pretty(event: dict[str, Any]) -> str:
    """One line: time, lifecycle, camera, class, score, summary, latency."""
    data = event.get("data", {})
    kind = str(event.get("type", "")).removeprefix("vigil.alert.").removesuffix(".v1")
    window = data.get("window", {})
    return (
        f"{event.get('time', '?')} {_MARK.get(kind, kind.upper()):6} {data.get('camera', '?')}  "
        f"{data.get('class', '?')} {float(data.get('peak_score', data.get('score', 0.0))):.2f}  {data.get('summary', '')}  "
        f"[window {str(window.get('start', '?'))[11:23]}-{str(window.get('end', '?'))[11:23]}, "
        f"capture-to-alert {float(data.get('capture_to_alert_seconds', 0.0)):.2f}s, "
        f"incident {data.get('incident_id', '?')}]"
    )


class PrintingSink:
    """An :class:`~streaming.alert_store.AlertSink` that prints alerts (and remembers them).

    Idempotent like the Redis store: an id seen before is not printed again.
    """

    def __init__(self, out: TextIO | None = None, *, formatter: Callable[[Alert], str] | None = None) -> None:
        self._out = out or sys.stdout
        self._format = formatter or (lambda alert: pretty(alert.event))
        self._lock = threading.Lock()
        self.alerts: list[Alert] = []
        self._ids: set[str] = set()

    def deliver(self, alert: Alert) -> bool:
        """Print ``alert`` unless it was delivered before."""
        with self._lock:
            if alert.id in self._ids:
                return False
            self._ids.add(alert.id)
            self.alerts.append(alert)
            print(self._format(alert), file=self._out, flush=True)
            return True

    def ready(self) -> tuple[bool, str]:
        """Always ready."""
        return True, "printing sink"

    def close(self) -> None:
        """Nothing to release."""
