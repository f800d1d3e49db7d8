#!/usr/bin/env bash
# Print the path of the pinned uv, installing it once per machine into a small venv under
# ~/.cache/vigil (uv comes from PyPI like everything else; nothing else is downloaded).
#
#   UV="$(bash scripts/uv.sh)" && "$UV" --version
#
# uv installs every checkout's .venv exactly from the lock files (requirements/*.txt), linking
# files from its machine-wide cache (~/.cache/uv), so a fresh clone's venv takes seconds once the
# wheels are cached. This file is the one place that names uv's version.
set -euo pipefail

UV_VERSION=0.13.9
TOOL_DIR="${HOME}/.cache/vigil/uv-${UV_VERSION}"

if [[ ! -x "${TOOL_DIR}/bin/uv" ]]; then
    echo "installing uv ${UV_VERSION} into ${TOOL_DIR} (once per machine)" >&2
    rm -rf "${TOOL_DIR}"
    "${PY_BOOT:-python3}" -m venv "${TOOL_DIR}" >&2
    "${TOOL_DIR}/bin/pip" install -q --disable-pip-version-check "uv==${UV_VERSION}" >&2
fi
echo "${TOOL_DIR}/bin/uv"
