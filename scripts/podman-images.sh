#!/usr/bin/env bash
# Build Vigil's images with podman on a machine without any reachable image registry (CI, the
# development machines): first the local STAND-INS for the base images the Dockerfiles name, then
# the Vigil images themselves. Used by tests/deploy/test_images_podman.py; run as root.
#
#   bash scripts/podman-images.sh                 # stand-ins (cached) + vigil, vigil-camera, vigil-fusion
#   bash scripts/podman-images.sh standins        # only the stand-in base images
#   bash scripts/podman-images.sh vigil camera    # only some Vigil images
#   bash scripts/podman-images.sh kafka redis prometheus   # the compose stand-ins (not in the default set)
#
# THE STAND-INS ARE FOR TESTS ONLY. They are tagged with the names the Dockerfiles use
# (docker.io/library/debian:bookworm-slim, docker.io/library/python:3.11-slim-bookworm) so the
# Dockerfiles build unchanged, but they are not those images:
#   - debian:bookworm-slim  <- `debootstrap --variant=minbase bookworm` from the host's Debian mirror;
#   - python:3.11-slim-bookworm <- that plus Debian's python3 (3.11), python3-venv, ca-certificates
#     and a `python` link (the real image has a python.org build under /usr/local);
#   - the fusion image is built on the Debian stand-in instead of its CUDA base (nvidia/cuda is not
#     reachable here): ONNX Runtime uses its CPU provider there.
#   - apache/kafka:4.1.0, redis:7.4-alpine, prom/prometheus:v3.5.0 (targets kafka, redis, prometheus:
#     the third-party services of docker-compose.yml, to test it with podman-compose) <- the
#     Debian stand-in plus Debian's openjdk-17-jre-headless and the Kafka jars of
#     scripts/stack/kafka-pom.xml (4.4.0) with kafka-tools, Debian's redis-server (7.0), Debian's
#     prometheus (2.42); deploy/podman/{kafka,redis,prometheus}-standin.Containerfile. Grafana has no
#     Debian package: no stand-in, the compose test leaves it out.
# Both stand-ins carry the HOST's CA bundle and pip.conf, so pip in a build trusts this machine's
# HTTPS proxy; they are labelled org.vigil.test-stand-in=true. Never push them anywhere.
#
# Caches (so a warm run takes seconds): the debootstrapped rootfs as a tarball under
# $PODMAN_STANDIN_CACHE (default ~/.cache/vigil/podman); the stand-ins in podman's storage, rebuilt
# only when their inputs change (a hash in a label); podman's layer cache for the Vigil images
# (the dependency layers are rebuilt only when pyproject.toml or the sources change).
#
# The Kafka jars are fetched once with Maven (~/.m2 as the stack's) into $PODMAN_STANDIN_CACHE/kafka-libs-*.
#
# Environment: CONTAINERS_CONF (default: deploy/podman/containers.conf of this checkout: runtime
# runc, ulimits this machine allows), PODMAN_IMAGE_TAG (default "test"), DEBIAN_MIRROR (default: the
# first Debian mirror of /etc/apt/sources.list*), PODMAN_STANDIN_REFRESH=1 to rebuild the stand-ins.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/deploy/podman/containers.conf}"
CACHE="${PODMAN_STANDIN_CACHE:-${HOME:-/root}/.cache/vigil/podman}"
TAG="${PODMAN_IMAGE_TAG:-test}"
SUITE=bookworm
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm
STANDIN_LABEL=org.vigil.test-stand-in
ROOTFS_IMAGE=localhost/vigil-standin/debian-rootfs:$SUITE
# The third-party images of docker-compose.yml (test stand-ins: targets kafka, redis, prometheus)
KAFKA_IMAGE=docker.io/apache/kafka:4.1.0
REDIS_IMAGE=docker.io/library/redis:7.4-alpine
PROMETHEUS_IMAGE=docker.io/prom/prometheus:v3.5.0

log() { printf '[podman-images %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
now() { date +%s; }
timed() {  # timed LABEL CMD...: run, then print how long it took
    local label="$1" t0
    shift
    t0="$(now)"
    "$@"
    log "$label: $(($(now) - t0)) s"
}

[[ "$(id -u)" -eq 0 ]] || { log "run as root (rootful podman, debootstrap)"; exit 1; }
for tool in podman debootstrap runc; do
    command -v "$tool" >/dev/null || { log "$tool missing: run scripts/install-system.sh"; exit 1; }
done

debian_mirror() {
    if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    # deb822 "URIs:" lines and one-line "deb URL suite ..." entries; the first plain Debian archive.
    local m
    m="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | sed -n -e 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' \
        | grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)"
    echo "${m:-http://deb.debian.org/debian}"
}

# The label value that says which inputs a stand-in was built from.
image_label() {
    podman image inspect --format "{{ index .Labels \"$2\" }}" "$1" 2>/dev/null || true
}

rootfs_tarball() {  # debootstrap once; the tarball is the cache
    local tarball="$CACHE/debian-$SUITE-minbase.tar"
    if [[ -s "$tarball" && "${PODMAN_STANDIN_REFRESH:-0}" != 1 ]]; then
        echo "$tarball"
        return
    fi
    mkdir -p "$CACHE"
    local mirror work
    mirror="$(debian_mirror)"
    work="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    log "debootstrap --variant=minbase $SUITE from $mirror (a few minutes, once)"
    # Keep documentation and foreign locales out of the rootfs, as the slim images do.
    local t0
    t0="$(now)"
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$work/rootfs" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
    log "debootstrap: $(($(now) - t0)) s"
    cat >"$work/rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
    cat >"$work/rootfs/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb ${mirror%/debian*}/debian-security $SUITE-security main
EOF
    find "$work/rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
    rm -rf "$work/rootfs/usr/share/man/"* "$work/rootfs/usr/share/info/"* "$work/rootfs/usr/share/locale/"* \
        "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/cache/apt/archives/"*.deb \
        "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/log/"*.log "$work/rootfs/tmp/"*
    tar --numeric-owner -C "$work/rootfs" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$work"
    echo "$tarball"
}

build_standins() {
    local tarball ctx inputs
    tarball="$(rootfs_tarball)"
    # Stand-ins are rebuilt when the rootfs, the host's CA bundle / pip.conf or their recipe change.
    inputs="$( (stat -c '%s %Y' "$tarball"; cat /etc/ssl/certs/ca-certificates.crt; cat /etc/pip.conf 2>/dev/null;
        cat "$ROOT/deploy/podman/debian-standin.Containerfile" "$ROOT/deploy/podman/python-standin.Containerfile") \
        | sha256sum | cut -c1-16)"
    if [[ "$(image_label "$PYTHON_IMAGE" org.vigil.inputs)" == "$inputs" \
        && "$(image_label "$DEBIAN_IMAGE" org.vigil.inputs)" == "$inputs" && "${PODMAN_STANDIN_REFRESH:-0}" != 1 ]]; then
        log "stand-in base images up to date ($DEBIAN_IMAGE, $PYTHON_IMAGE; inputs $inputs)"
        return
    fi
    timed "podman import rootfs" podman import --quiet \
        --change "LABEL $STANDIN_LABEL=true" --change 'CMD ["bash"]' \
        "$tarball" "$ROOTFS_IMAGE" >/dev/null
    ctx="$(mktemp -d)"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
    if [[ -f /etc/pip.conf ]]; then cp /etc/pip.conf "$ctx/pip.conf"; else : >"$ctx/pip.conf"; fi
    timed "stand-in $DEBIAN_IMAGE" podman build --quiet --pull=never --network host --format docker \
        --build-arg "ROOTFS_IMAGE=$ROOTFS_IMAGE" --label "org.vigil.inputs=$inputs" \
        -f "$ROOT/deploy/podman/debian-standin.Containerfile" -t "$DEBIAN_IMAGE" "$ctx" >/dev/null
    timed "stand-in $PYTHON_IMAGE" podman build --quiet --pull=never --network host --format docker \
        --build-arg "BASE_IMAGE=$DEBIAN_IMAGE" --label "org.vigil.inputs=$inputs" \
        -f "$ROOT/deploy/podman/python-standin.Containerfile" -t "$PYTHON_IMAGE" "$ctx" >/dev/null
    rm -rf "$ctx"
}

build_vigil() {  # build_vigil NAME DOCKERFILE [podman build args...]
    local name="$1" dockerfile="$2"
    shift 2
    # --format docker keeps HEALTHCHECK (OCI image configs have no field for it); --pull=never: the
    # bases are the local stand-ins; --network host: RUN steps reach PyPI and the Debian mirror the
    # way the host does. The .dockerignore next to each Dockerfile filters the context.
    timed "image localhost/$name:$TAG" podman build --pull=never --network host --format docker --layers \
        -f "$ROOT/$dockerfile" -t "localhost/$name:$TAG" "$@" "$ROOT" >&2
}

kafka_libs() {  # the jars of scripts/stack/kafka-pom.xml + kafka-tools, fetched once into the cache
    local pom="$ROOT/scripts/stack/kafka-pom.xml" version dir
    version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
    dir="$CACHE/kafka-libs-$(cat "$pom" | sha256sum | cut -c1-16)"
    if ! compgen -G "$dir/kafka-tools-*.jar" >/dev/null; then
        command -v mvn >/dev/null || { log "mvn missing: run scripts/install-system.sh"; exit 1; }
        log "fetching Kafka $version jars with Maven into $dir (once)"
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
        mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir.tmp" >&2
        mvn -q -B -f "$pom" dependency:copy -Dartifact="org.apache.kafka:kafka-tools:$version" \
            -DoutputDirectory="$dir.tmp" >&2
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
    fi
    echo "$dir"
}

build_service_standin() {  # build_service_standin IMAGE CONTAINERFILE [CONTEXT]: a compose test stand-in
    local image="$1" containerfile="$2" ctx="${3:-}"
    if [[ -z "$ctx" ]]; then ctx="$(mktemp -d)"; fi
    timed "stand-in $image" podman build --quiet --pull=never --network host --format docker --layers \
        --build-arg "BASE_IMAGE=$DEBIAN_IMAGE" -f "$ROOT/deploy/podman/$containerfile" -t "$image" "$ctx" >/dev/null
    rm -rf "$ctx"
}

build_kafka_standin() {
    local ctx libs
    libs="$(kafka_libs)"
    ctx="$(mktemp -d)"
    cp -r "$libs" "$ctx/libs"
    cp -r "$ROOT/deploy/podman/kafka-standin" "$ctx/kafka-standin"
    build_service_standin "$KAFKA_IMAGE" kafka-standin.Containerfile "$ctx"
}

targets=("$@")
((${#targets[@]})) || targets=(standins vigil camera fusion)
t_all="$(now)"
log "CONTAINERS_CONF=$CONTAINERS_CONF; cache $CACHE; targets: ${targets[*]}"
for target in "${targets[@]}"; do
    case "$target" in
    standins) timed "stand-in base images" build_standins ;;
    vigil) build_vigil vigil docker/Dockerfile ;;
    camera) build_vigil vigil-camera docker/Dockerfile.camera ;;
    fusion) build_vigil vigil-fusion docker/Dockerfile.fusion --build-arg "CUDA_IMAGE=$DEBIAN_IMAGE" ;;
    kafka) build_kafka_standin ;;
    redis) build_service_standin "$REDIS_IMAGE" redis-standin.Containerfile ;;
    prometheus) build_service_standin "$PROMETHEUS_IMAGE" prometheus-standin.Containerfile ;;
    *) log "unknown target '$target' (standins, vigil, camera, fusion, kafka, redis, prometheus)"; exit 2 ;;
    esac
done
log "total: $(($(now) - t_all)) s"
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
    | grep -E "^(localhost/vigil|$DEBIAN_IMAGE|$PYTHON_IMAGE|$KAFKA_IMAGE|$REDIS_IMAGE|$PROMETHEUS_IMAGE)" >&2 || true
