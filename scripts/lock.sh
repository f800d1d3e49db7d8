#!/usr/bin/env bash
# Compile the lock files from pyproject.toml: requirements/{run,fusion,dev}.txt, every package
# pinned to one version with its hashes, for CPython 3.11 on linux/x86_64 (the images' and CI's
# platform). `make`, CI and every image install from these files, never from pyproject's ranges,
# so a fresh machine next month installs exactly what was tested.
#
#   bash scripts/lock.sh            # rewrite requirements/*.txt (after editing pyproject.toml)
#   bash scripts/lock.sh --check    # exit 1, with a diff, if they are not what pyproject gives
#
# The resolution ignores anything published after LOCK_DATE, so compiling again later gives the
# same files; move the date forward on purpose to take newer releases.
set -euo pipefail

LOCK_DATE="2026-12-01T00:00:00Z"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV="$(bash "${ROOT}/scripts/uv.sh")"
cd "${ROOT}"

check=false
case "${1:-}" in
    "") ;;
    --check) check=true ;;
    *) echo "usage: bash scripts/lock.sh [--check]" >&2; exit 2 ;;
esac

# name -> extras: run = what every service needs (the ingest/alert and camera images); fusion =
# run + ONNX Runtime (the fusion image, `make demo`); dev = everything (training, tests, tools).
declare -A EXTRAS=([run]="" [fusion]="--extra fusion" [dev]="--extra fusion --extra train --extra dev")

out_dir="requirements"
if ${check}; then
    out_dir="$(mktemp -d)"
    trap 'rm -rf "${out_dir}"' EXIT
fi
for name in run fusion dev; do
    # shellcheck disable=SC2086  # EXTRAS holds several words on purpose
    "${UV}" pip compile -q pyproject.toml ${EXTRAS[$name]} \
        --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
        --generate-hashes --exclude-newer "${LOCK_DATE}" \
        --custom-compile-command "bash scripts/lock.sh" \
        -o "${out_dir}/${name}.txt"
done
if ${check}; then
    stale=0
    for name in run fusion dev; do
        diff -u "requirements/${name}.txt" "${out_dir}/${name}.txt" || stale=1
    done
    if ((stale)); then
        echo "lock files are stale: run 'bash scripts/lock.sh' and commit requirements/" >&2
        exit 1
    fi
    echo "lock files match pyproject.toml"
fi
