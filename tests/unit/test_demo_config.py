"""``vigil demo --config``: the demo runs the configured policy, model and window settings."""

from __future__ import annotations

from pathlib import Path

from services.demo import CAMERA, demo_config
from streaming.config import VigilConfig


def test_demo_keeps_policy_model_and_window_settings(tmp_path: Path) -> None:
    base = VigilConfig.model_validate(
        {
            "cameras": {"gate-3": {"url": "rtsp://user:pw@10.0.0.5/s"}},
            "fusion": {"model_path": str(tmp_path / "m.onnx"), "lateness_s": 1.0, "idle_timeout_s": 4.0},
            "alert": {
                "default_policy": {"raise_k": 1, "raise_n": 1, "classes": {"gunshot": {"threshold": 0.3}}},
                "cameras": {"gate-3": {"anomaly_threshold": 0.7}},
            },
        }
    )
    cfg = demo_config(tmp_path / "clip.mp4", 0, base=base, camera_id="gate-3")
    assert cfg.bus == "memory"
    assert list(cfg.cameras) == ["gate-3"]
    assert cfg.cameras["gate-3"].resolved_url() == str(tmp_path / "clip.mp4")
    assert cfg.ingest.realtime
    assert cfg.fusion.model_path == tmp_path / "m.onnx"
    assert (cfg.fusion.lateness_s, cfg.fusion.idle_timeout_s) == (1.0, 4.0)
    assert cfg.fusion.providers == ["CPUExecutionProvider"]
    assert cfg.alert.default_policy.classes["gunshot"].threshold == 0.3
    assert cfg.alert.cameras["gate-3"].anomaly_threshold == 0.7


def test_demo_defaults_and_model_override(tmp_path: Path) -> None:
    cfg = demo_config(tmp_path / "clip.mp4", 9100, model=tmp_path / "other.onnx")
    assert list(cfg.cameras) == [CAMERA]
    assert cfg.fusion.model_path == tmp_path / "other.onnx"
    assert cfg.fusion.idle_timeout_s == 1.5
    assert cfg.log_level == "WARNING"
    assert cfg.http.port == 9100
    assert cfg.alert == VigilConfig().alert


def test_live_pipeline_alerts_on_a_clip_with_the_configured_policy(tmp_path: Path) -> None:
    """The demo's live mode (services in threads) raises and resolves the clip's one incident."""
    import io
    import time

    from services.alert.render import PrintingSink
    from services.pipeline import InProcessPipeline
    from tests.evaluate_clips import write_test_clip
    from tests.fusion_stub_model import build_stub_model

    clip = write_test_clip(tmp_path / "clip.mp4", 12, [(4, 8)])
    base = VigilConfig.model_validate(
        {
            "fusion": {"model_path": str(build_stub_model(tmp_path / "stub.onnx"))},
            "alert": {
                "default_policy": {
                    "anomaly_threshold": 0.3,
                    "classes": {"explosion": {"threshold": 0.3}},
                    "raise_k": 1,
                    "raise_n": 1,
                    "resolve_m": 2,
                }
            },
        }
    )
    cfg = demo_config(clip, 0, base=base).model_copy(
        update={"ingest": base.ingest.model_copy(update={"realtime": False})}
    )
    sink = PrintingSink(io.StringIO())
    pipeline = InProcessPipeline(cfg, sink=sink).start()
    try:
        assert pipeline.wait_ingest(30)
        deadline = time.monotonic() + 30
        while [a.type for a in sink.alerts] != ["raised", "resolved"] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        pipeline.stop()
    assert [(a.type, a.event["data"]["class"]) for a in sink.alerts] == [
        ("raised", "explosion"),
        ("resolved", "explosion"),
    ]
