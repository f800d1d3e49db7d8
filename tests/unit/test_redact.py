"""Credentials never survive redaction, in URLs, text or log records."""

from __future__ import annotations

import logging

import pytest

from streaming.redact import RedactingFilter, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/s1", "rtsp://***@10.0.0.5:554/s1"),
        ("rtsp://token@cam/s", "rtsp://***@cam/s"),
        ("rtsp://cam/s?user=a&password=hunter2", "rtsp://cam/s?user=a&password=***"),
        ("/data/clip.mp4", "/data/clip.mp4"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_in_error_message() -> None:
    msg = "Connection to tcp://10.0.0.5 failed: rtsp://admin:p%40ss@10.0.0.5/s1: 401 Unauthorized"
    assert "p%40ss" not in redact_text(msg)


def test_log_filter_scrubs_args(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info("opening %s", "rtsp://admin:hunter2@cam/s1")
    assert "hunter2" not in caplog.text
    assert "rtsp://***@cam/s1" in caplog.text


def test_log_filter_scrubs_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact.exc")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redact.exc"):
        try:
            raise OSError("cannot open rtsp://admin:hunter2@cam/s1")
        except OSError:
            logger.exception("camera failed")
    assert "hunter2" not in caplog.text
    assert "rtsp://***@cam/s1" in caplog.text
