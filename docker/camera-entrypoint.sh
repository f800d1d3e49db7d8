#!/bin/sh
# Generate the sample clips (deterministic: same seed, same clip), then serve them over RTSP.
# Every RTSP session plays a clip from its start and ends with it; ingest reconnects, so the
# incident at t=4 s comes back on every replay.
set -eu
mkdir -p "${CLIP_DIR}"
[ -s "${CLIP_DIR}/incident.mp4" ] || vigil make-clip --incident 4:gunshot --duration 30 -o "${CLIP_DIR}/incident.mp4"
[ -s "${CLIP_DIR}/quiet.mp4" ] || vigil make-clip --duration 30 -o "${CLIP_DIR}/quiet.mp4"
[ -s "${CLIP_DIR}/noaudio.mp4" ] || vigil make-clip --duration 30 --no-audio -o "${CLIP_DIR}/noaudio.mp4"
exec /usr/bin/python3 /opt/camera/rtsp_server.py --host 0.0.0.0 --port "${RTSP_PORT}" \
    --mount "/incident=${CLIP_DIR}/incident.mp4" \
    --mount "/quiet=${CLIP_DIR}/quiet.mp4" \
    --mount "/noaudio=${CLIP_DIR}/noaudio.mp4"
