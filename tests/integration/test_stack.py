"""The local stack answers real clients: Kafka, Redis, and the RTSP test camera (read with PyAV)."""

from __future__ import annotations

import av
import pytest

from tests.integration.conftest import AuthRtspServer, LocalStack

RTSP_OPTIONS = {"rtsp_transport": "tcp", "timeout": "5000000"}


def _read(url: str, video_frames: int = 8) -> tuple[set[str], int, int]:
    """Open ``url`` like the ingest does; decode until ``video_frames`` pictures arrived."""
    n_video = n_audio = 0
    with av.open(url, options=RTSP_OPTIONS, timeout=(5, 5)) as container:
        kinds: set[str] = {str(s.type) for s in container.streams}
        for packet in container.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    n_video += 1
                elif isinstance(frame, av.AudioFrame):
                    n_audio += 1
            if n_video >= video_frames:
                break
    return kinds, n_video, n_audio


def test_incident_mount_serves_video_and_audio(stack: LocalStack) -> None:
    kinds, n_video, n_audio = _read(stack.rtsp_url("incident"))
    assert kinds == {"video", "audio"}
    assert n_video >= 8
    assert n_audio > 0


def test_noaudio_mount_serves_video_only(stack: LocalStack) -> None:
    kinds, n_video, n_audio = _read(stack.rtsp_url("noaudio"), video_frames=3)
    assert kinds == {"video"}
    assert (n_video, n_audio) == (3, 0)


def test_rtsp_server_stop_and_start(stack: LocalStack) -> None:
    try:
        stack.rtsp_stop()
        assert not stack.rtsp_running()
        with pytest.raises(av.FFmpegError):
            av.open(stack.rtsp_url("incident"), options=RTSP_OPTIONS, timeout=(5, 5))
    finally:
        stack.rtsp_start()
    kinds, n_video, _ = _read(stack.rtsp_url("incident"), video_frames=2)
    assert "video" in kinds and n_video == 2


def test_rtsp_basic_auth(rtsp_auth_server: AuthRtspServer) -> None:
    kinds, n_video, _ = _read(rtsp_auth_server.url(), video_frames=2)
    assert kinds == {"video", "audio"} and n_video == 2
    with pytest.raises(av.HTTPUnauthorizedError):
        av.open(rtsp_auth_server.url(password="wrong"), options=RTSP_OPTIONS, timeout=(5, 5))


def test_redis_answers(stack: LocalStack) -> None:
    import redis

    client = redis.Redis.from_url(stack.redis_url, socket_timeout=5)
    try:
        assert client.ping()
    finally:
        client.close()


def test_kafka_answers(stack: LocalStack) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, request_timeout_ms=10000)
    try:
        assert len(admin.describe_cluster()["brokers"]) == 1
    finally:
        admin.close()
