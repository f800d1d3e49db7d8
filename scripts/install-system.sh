#!/usr/bin/env bash
# Debian packages Vigil's local stack and tests need (run as root on Debian 12+; idempotent).
# Skips apt entirely when everything is present; otherwise runs `apt-get update` once and installs
# only what is missing. Java 17+ and Maven are installed only when `java` / `mvn` are not found.
set -euo pipefail

PACKAGES=(
    python3-venv            # `make install` creates .venv with the system python
    redis-server            # Redis for alerts (redis-cli comes with redis-tools, a dependency)
    prometheus              # promtool, for rule checks, and a server for dashboard queries
    gir1.2-gst-rtsp-server-1.0 python3-gi   # the RTSP test camera (scripts/stack/rtsp_server.py)
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    # Images: built and run with Debian's podman (rootful; runtime runc, see
    # deploy/podman/containers.conf) by scripts/podman-images.sh and tests/deploy/test_images_podman.py
    podman runc conmon buildah golang-github-containers-common
    fuse-overlayfs slirp4netns uidmap        # storage and networking helpers podman 4.3 recommends
    netavark aardvark-dns iptables           # rootful container networks (netavark needs iptables)
    catatonit                                # podman run --init (the images carry tini themselves)
    debootstrap                              # the local stand-in base images (no registry here)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    # "install ok installed" is dpkg's status for a fully installed package.
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

java_ok() {  # Kafka 4 needs Java 17 or newer
    command -v java >/dev/null || return 1
    local v
    v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
    [[ -n "$v" && "$v" -ge 17 ]]
}
java_ok || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)

if ((${#missing[@]} == 0)); then
    echo "[install-system] all system packages present"
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    SUDO=(sudo)
else
    SUDO=()
fi
echo "[install-system] installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

# Debian starts a system-wide redis-server on 6379 when the package is installed; the local stack
# runs its own on that port (data under .stack/redis), so stop and disable the system one.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
    "${SUDO[@]}" systemctl disable --now redis-server || true
elif [[ -x /etc/init.d/redis-server ]] && pgrep -x redis-server >/dev/null 2>&1; then
    "${SUDO[@]}" /etc/init.d/redis-server stop || true
fi
