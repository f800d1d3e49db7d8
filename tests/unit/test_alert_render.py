"""Pretty alert lines and the printing sink (used by ``vigil alerts tail`` and ``vigil demo``)."""

from __future__ import annotations

import io

from services.alert.events import build_alert
from services.alert.render import PrintingSink, pretty
from tests.unit.test_alert_schema import raised_event


def test_pretty_line_has_camera_class_summary_and_latency() -> None:
    event = raised_event()
    alert = build_alert(event, now_ns=event.window.scored_ns, inline_max_bytes=0, evidence_ttl_s=60)
    line = pretty(alert.event)
    assert "ALERT" in line and "cam-1" in line and "gunshot 0.90" in line
    assert "gunshot-like bang with people scattering" in line
    assert "capture-to-alert 0.50s" in line and event.incident_id in line


def test_printing_sink_is_idempotent_on_the_alert_id() -> None:
    event = raised_event()
    alert = build_alert(event, now_ns=0, inline_max_bytes=0, evidence_ttl_s=60)
    out = io.StringIO()
    sink = PrintingSink(out)
    assert sink.deliver(alert) is True
    assert sink.deliver(alert) is False
    assert len(out.getvalue().splitlines()) == 1
    assert sink.ready()[0]
