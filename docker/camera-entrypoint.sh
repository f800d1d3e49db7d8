#!/bin/sh
# Generate the sample clips (deterministic: same seed, same clip), then serve them over RTSP.
# `--style scene` draws them with the look of the model's synthetic training data, as `vigil demo`
# does, so the bundled model recognises the sample incident (the default "basic" flash-and-bang
# is a plumbing test pattern it does not).
# Every RTSP session plays a clip from its start and ends with it; ingest reconnects, so the
# incident at t=4 s comes back on every replay.
set -eu
mkdir -p "${CLIP_DIR}"
[ -s "${CLIP_DIR}/incident.mp4" ] || vigil make-clip --style scene --seed 7 --incident 4:gunshot --duration 30 -o "${CLIP_DIR}/incident.mp4"
[ -s "${CLIP_DIR}/quiet.mp4" ] || vigil make-clip --style scene --seed 7 --duration 30 -o "${CLIP_DIR}/quiet.mp4"
[ -s "${CLIP_DIR}/noaudio.mp4" ] || vigil make-clip --style scene --seed 7 --duration 30 --no-audio -o "${CLIP_DIR}/noaudio.mp4"
exec /usr/bin/python3 /opt/camera/rtsp_server.py --host 0.0.0.0 --port "${RTSP_PORT}" \
    --mount "/incident=${CLIP_DIR}/incident.mp4" \
    --mount "/quiet=${CLIP_DIR}/quiet.mp4" \
    --mount "/noaudio=${CLIP_DIR}/noaudio.mp4"
