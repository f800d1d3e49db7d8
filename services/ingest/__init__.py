"""Ingest: decode cameras (RTSP or files) with PyAV and publish analysis frames and audio chunks.

Modules, from pure to I/O:

- :mod:`.timing`     PTS sampling grid, session clock (capture wall time), audio chunker
- :mod:`.backoff`    reconnect backoff with jitter and the crash-loop guard
- :mod:`.analysis`   the analysis geometry (fps, size, sample rate) from the model contract
- :mod:`.metrics`    Prometheus metrics of ingest
- :mod:`.publisher`  non-blocking, bounded publishing of records (drops are counted)
- :mod:`.session`    one connection to one camera (:class:`CameraSession`)
- :mod:`.supervisor` per-camera watchdog + reconnect loop (:class:`CameraSupervisor`)
- :mod:`.service`    :class:`IngestService`, all cameras of this process (embeddable)
- :mod:`.cli`        ``vigil ingest``
"""
