#!/usr/bin/env bash
# Local Vigil stack for tests and benchmarks: Kafka 4 (KRaft, one combined node), Redis and a
# GStreamer RTSP test server playing generated clips. Everything lives under .stack/ (git-ignored).
#
#   scripts/stack.sh up | down | status | logs
#   scripts/stack.sh rtsp-start | rtsp-stop | rtsp-restart   # simulate a camera dropping
#   scripts/stack.sh kafka-up | kafka-down                     # Kafka alone (broker outages)
#   scripts/stack.sh secure-up | secure-down                   # the secured stack (below)
#
# Idempotent: `up` starts only what is not running and waits until each part answers a real client;
# `down` stops what `up` started (pid files) and succeeds when nothing runs.
# Addresses: Kafka 127.0.0.1:9092 (controller 9093), Redis 127.0.0.1:6379,
# RTSP rtsp://127.0.0.1:8554/{incident,quiet,noaudio}.
#
# The secured stack, as production runs it, beside the plain one: Kafka with SASL_SSL (SCRAM-SHA-512
# over TLS, ACLs) on 127.0.0.1:9094, Redis with TLS and ACL users (default user off) on
# 127.0.0.1:6380; a CA and server certificate made with openssl and random passwords, all under
# .stack/secure/ (tls/, secrets/, owner-only), and .stack/secure/vigil.yaml: Vigil's configuration
# for it, every secret read from a file.
#
# A private Kafka for tests that stop the broker (the shared one stays up for everyone else):
#   STACK_DIR=/tmp/x STACK_KAFKA_LIBS=.stack/kafka/libs STACK_KAFKA_PORT=19092 \
#   STACK_KAFKA_CONTROLLER_PORT=19093 scripts/stack.sh kafka-up     (then kafka-down)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/scripts/stack"
STACK="${STACK_DIR:-$ROOT/.stack}"
PY="${STACK_PYTHON:-$ROOT/.venv/bin/python}"
SYS_PY="${STACK_SYSTEM_PYTHON:-/usr/bin/python3}"

# A KRaft cluster id: 16 random bytes, URL-safe base64 without padding. Like Kafka's own
# Uuid.randomUuid, never one that starts with '-': `format --cluster-id -x...` is then read as an
# option and fails (1 run in 64 did).
new_cluster_id() {
    "$SYS_PY" -c 'import base64, uuid
while (s := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
    pass
print(s)'
}
LOGS="$STACK/logs"
PIDS="$STACK/pids"
CLIPS="$STACK/clips"
KAFKA_DIR="$STACK/kafka"
KAFKA_LIBS="${STACK_KAFKA_LIBS:-$KAFKA_DIR/libs}"
KAFKA_PORT="${STACK_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${STACK_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${STACK_KAFKA_HEAP:--Xmx512m -Xms256m}"
RTSP_PORT=8554
SECURE="$STACK/secure"
SECURE_KAFKA_PORT="${STACK_SECURE_KAFKA_PORT:-9094}"
SECURE_KAFKA_CONTROLLER_PORT="${STACK_SECURE_KAFKA_CONTROLLER_PORT:-9095}"
SECURE_REDIS_PORT="${STACK_SECURE_REDIS_PORT:-6380}"

log() { printf '[stack] %s\n' "$*" >&2; }

die() {  # die MESSAGE [LOGFILE]: print the message and the log's tail, then exit 1
    log "ERROR: $1"
    if [[ -n "${2:-}" && -f "$2" ]]; then
        log "last lines of $2:"
        tail -n 40 "$2" >&2
    fi
    exit 1
}

pid_of() {  # pid_of NAME MARKER: print the pid of a running process we started, or nothing
    local file="$PIDS/$1.pid" pid
    [[ -f "$file" ]] || return 0
    pid="$(tr -dc 0-9 <"$file")"
    # The marker guards against a recycled pid belonging to another program.
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"; then
        echo "$pid"
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_pid() {  # stop_pid NAME MARKER: TERM, wait up to 30 s, then KILL
    local pid i
    pid="$(pid_of "$1" "$2")"
    if [[ -z "$pid" ]]; then
        rm -f "$PIDS/$1.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$1 (pid $pid) ignored TERM for 30 s: killing"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDS/$1.pid"
    log "$1 stopped"
}

spawn() {  # spawn NAME LOGFILE CMD...: start CMD in its own session, detached, and record its pid
    local name="$1" logfile="$2"
    shift 2
    # 9>&-: the child must not inherit (and so keep holding) this script's lock.
    setsid nohup "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
    echo $! >"$PIDS/$name.pid"
}

# ---------------------------------------------------------------------------------------- kafka

kafka_fetch() {
    if compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
        return 0
    fi
    log "fetching Kafka jars with Maven (once) into $KAFKA_LIBS"
    mkdir -p "$KAFKA_LIBS.tmp"
    mvn -q -B -f "$HERE/kafka-pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp" >"$LOGS/mvn.log" 2>&1 ||
        die "mvn could not fetch Kafka (network? ~/.m2 settings?)" "$LOGS/mvn.log"
    rm -rf "$KAFKA_LIBS"
    mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

kafka_java() {  # kafka_java: set JAVA_CMD, the JVM command line shared by the storage tool and the broker
    local heap
    read -r -a heap <<<"$KAFKA_HEAP"
    JAVA_CMD=(java "${heap[@]}" -Djava.awt.headless=true
        -Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dkafka.logs.dir="$LOGS"
        -cp "$KAFKA_LIBS/*")
}

kafka_up() {
    if [[ -n "$(pid_of kafka kafka.Kafka)" ]]; then
        log "kafka already running (pid $(pid_of kafka kafka.Kafka))"
    else
        port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by a process this script did not start"
        kafka_fetch
        kafka_java
        sed -e "s#@LOG_DIR@#$KAFKA_DIR/data#" -e "s#@PORT@#$KAFKA_PORT#g" \
            -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" "$HERE/server.properties.in" \
            >"$KAFKA_DIR/server.properties"
        if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
            log "formatting the KRaft log dir (once)"
            local cluster_id
            cluster_id="$(new_cluster_id)"
            "${JAVA_CMD[@]}" kafka.tools.StorageTool format --cluster-id "$cluster_id" \
                --config "$KAFKA_DIR/server.properties" >>"$LOGS/kafka-format.log" 2>&1 ||
                die "kafka storage format failed" "$LOGS/kafka-format.log"
        fi
        log "starting kafka"
        spawn kafka "$LOGS/kafka.out" "${JAVA_CMD[@]}" kafka.Kafka "$KAFKA_DIR/server.properties"
    fi
    "$PY" "$HERE/probe.py" kafka "127.0.0.1:$KAFKA_PORT" --timeout "${STACK_KAFKA_TIMEOUT:-120}" \
        --pid "$(pid_of kafka kafka.Kafka || true)" >&2 ||
        { tail -n 20 "$LOGS/kafka.out" >&2 || true; die "kafka did not become ready" "$LOGS/kafka.log"; }
}

# ---------------------------------------------------------------------------------------- redis

redis_up() {
    if [[ -n "$(pid_of redis redis-server)" ]]; then
        log "redis already running (pid $(pid_of redis redis-server))"
    else
        port_open 6379 && die "port 6379 is taken by a process this script did not start"
        mkdir -p "$STACK/redis"
        log "starting redis"
        redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --dir "$STACK/redis" \
            --appendonly yes --pidfile "$PIDS/redis.pid" --logfile "$LOGS/redis.log" >/dev/null 9>&- ||
            die "redis-server did not start" "$LOGS/redis.log"
    fi
    wait_pong "redis" "$LOGS/redis.log" redis-cli -h 127.0.0.1 -p 6379
}

wait_pong() {  # wait_pong NAME LOGFILE REDIS-CLI...: until `REDIS-CLI... ping` answers PONG (20 s)
    local name="$1" logfile="$2" i
    shift 2
    for ((i = 0; i < 100; i++)); do
        [[ "$("$@" ping 2>/dev/null)" == PONG ]] && { log "$name ready"; return 0; }
        sleep 0.2
    done
    die "$name did not answer PING within 20 s" "$logfile"
}

redis_down() {
    local pid
    pid="$(pid_of redis redis-server)"
    # SHUTDOWN flushes the append-only file; fall back to signals.
    if [[ -n "$pid" ]]; then
        redis-cli -h 127.0.0.1 -p 6379 shutdown >/dev/null 2>&1 || true
        stop_pid redis redis-server
        log "redis stopped"
    fi
}

# ---------------------------------------------------------------------------------------- clips

make_clip() {  # make_clip NAME ARGS...: generate .stack/clips/NAME.mp4 once
    local out="$CLIPS/$1.mp4"
    shift
    [[ -s "$out" ]] && return 0
    log "generating clip $out"
    (cd "$ROOT" && "$PY" -m services.clips --output "$out.tmp.mp4" "$@") >>"$LOGS/clips.log" 2>&1 ||
        die "clip generation failed" "$LOGS/clips.log"
    mv "$out.tmp.mp4" "$out"
}

clips_up() {
    mkdir -p "$CLIPS"
    local common=(--duration 30 --width 640 --height 360 --fps 15 --seed 7)
    make_clip incident "${common[@]}" --incident 4:gunshot
    make_clip quiet "${common[@]}"
    make_clip noaudio "${common[@]}" --no-audio
}

# ----------------------------------------------------------------------------------------- rtsp

rtsp_start() {
    if [[ -n "$(pid_of rtsp rtsp_server.py)" ]]; then
        log "rtsp server already running (pid $(pid_of rtsp rtsp_server.py))"
    else
        clips_up
        port_open "$RTSP_PORT" && die "port $RTSP_PORT is taken by a process this script did not start"
        log "starting rtsp server"
        spawn rtsp "$LOGS/rtsp.log" "$SYS_PY" "$HERE/rtsp_server.py" --host 127.0.0.1 --port "$RTSP_PORT" \
            --mount "/incident=$CLIPS/incident.mp4" --mount "/quiet=$CLIPS/quiet.mp4" \
            --mount "/noaudio=$CLIPS/noaudio.mp4"
    fi
    "$PY" "$HERE/probe.py" rtsp "rtsp://127.0.0.1:$RTSP_PORT/incident" --timeout 30 \
        --pid "$(pid_of rtsp rtsp_server.py || true)" >&2 ||
        die "rtsp server did not serve /incident" "$LOGS/rtsp.log"
}

rtsp_stop() { stop_pid rtsp rtsp_server.py; }

# -------------------------------------------------------------------------------- secured stack

secure_files() {  # a CA, the servers' certificate and the passwords: made once, owner-only
    local tls="$SECURE/tls" secrets="$SECURE/secrets" name
    (umask 077 && mkdir -p "$tls" "$secrets" "$SECURE/logs")
    if [[ ! -s "$tls/server-bundle.pem" ]]; then
        log "making a CA and the servers' certificate with openssl"
        (
            umask 077
            cd "$tls"
            openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Vigil local stack CA" \
                -keyout ca.key -out ca.pem
            openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
            printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth" \
                "basicConstraints=CA:FALSE" "subjectKeyIdentifier=hash" \
                "authorityKeyIdentifier=keyid,issuer" >server.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
                -extfile server.ext -out server.pem
            cat server.key server.pem >server-bundle.pem.tmp # Kafka's PEM key store: key, then chain
            mv server-bundle.pem.tmp server-bundle.pem
        ) >>"$SECURE/logs/openssl.log" 2>&1 ||
            die "openssl could not make the certificates" "$SECURE/logs/openssl.log"
    fi
    for name in kafka-admin kafka-vigil redis-vigil redis-subscriber; do
        [[ -s "$secrets/$name.password" ]] || (umask 077 && openssl rand -hex 24 >"$secrets/$name.password")
    done
}

secret() { tr -d '\n' <"$SECURE/secrets/$1.password"; }

secure_kafka_up() {
    # LOGS is local: the secured broker's logs (and its log4j files) stay under .stack/secure/logs
    local dir="$SECURE/kafka" props="$SECURE/kafka/server.properties" LOGS="$SECURE/logs"
    if [[ -n "$(pid_of kafka-secure "$props")" ]]; then
        log "secured kafka already running (pid $(pid_of kafka-secure "$props"))"
    else
        port_open "$SECURE_KAFKA_PORT" &&
            die "port $SECURE_KAFKA_PORT is taken by a process this script did not start"
        kafka_fetch
        kafka_java
        (umask 077 && mkdir -p "$dir" && sed -e "s#@LOG_DIR@#$dir/data#" -e "s#@PORT@#$SECURE_KAFKA_PORT#g" \
            -e "s#@CONTROLLER_PORT@#$SECURE_KAFKA_CONTROLLER_PORT#g" -e "s#@TLS_DIR@#$SECURE/tls#g" \
            -e "s#@ADMIN_USER@#admin#g" -e "s#@ADMIN_PASSWORD@#$(secret kafka-admin)#g" \
            "$HERE/server-secure.properties.in" >"$props")
        if [[ ! -f "$dir/data/meta.properties" ]]; then
            log "formatting the secured KRaft log dir with its SCRAM users (once)"
            local cluster_id
            cluster_id="$(new_cluster_id)"
            "${JAVA_CMD[@]}" kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$props" \
                --add-scram "SCRAM-SHA-512=[name=admin,password=$(secret kafka-admin)]" \
                --add-scram "SCRAM-SHA-512=[name=vigil,password=$(secret kafka-vigil)]" \
                >>"$LOGS/kafka-format.log" 2>&1 ||
                die "secured kafka storage format failed" "$LOGS/kafka-format.log"
        fi
        log "starting secured kafka (SASL_SSL on 127.0.0.1:$SECURE_KAFKA_PORT)"
        spawn kafka-secure "$LOGS/kafka.out" "${JAVA_CMD[@]}" kafka.Kafka "$props"
    fi
    "$PY" "$HERE/secure_setup.py" kafka-acls "$SECURE" --bootstrap "127.0.0.1:$SECURE_KAFKA_PORT" \
        --timeout "${STACK_KAFKA_TIMEOUT:-120}" >&2 ||
        { tail -n 20 "$LOGS/kafka.out" >&2 || true; die "secured kafka did not become ready" "$LOGS/server.log"; }
}

secure_redis_acl() { # the ACL file: the default user off, the services' user, a read-only subscriber
    local vigil_hash sub_hash
    vigil_hash="$(secret redis-vigil | sha256sum | cut -d' ' -f1)"
    sub_hash="$(secret redis-subscriber | sha256sum | cut -d' ' -f1)"
    (umask 077 && mkdir -p "$SECURE/redis")
    (umask 077 && printf '%s\n' \
        "user default off" \
        "user vigil on #$vigil_hash ~vigil:* &vigil:* +@all -@dangerous" \
        "user subscriber on #$sub_hash resetkeys ~vigil:alerts resetchannels &vigil:alerts:live -@all +ping +hello +auth +client|setname +xread +xreadgroup +xack +xautoclaim +xclaim +xpending +xrange +xrevrange +xlen +xinfo|stream +xinfo|groups +xinfo|consumers +xgroup|create +xgroup|createconsumer +subscribe +unsubscribe" \
        >"$SECURE/redis/users.acl")
}

redis_tls_cli() { # redis-cli over TLS as the services' user (the password in the environment, not argv)
    REDISCLI_AUTH="$(secret redis-vigil)" redis-cli --tls --cacert "$SECURE/tls/ca.pem" \
        -h 127.0.0.1 -p "$SECURE_REDIS_PORT" --user vigil --no-auth-warning "$@"
}

secure_redis_up() {
    if [[ -n "$(pid_of redis-secure redis-server)" ]]; then
        log "secured redis already running (pid $(pid_of redis-secure redis-server))"
    else
        port_open "$SECURE_REDIS_PORT" &&
            die "port $SECURE_REDIS_PORT is taken by a process this script did not start"
        secure_redis_acl
        log "starting secured redis (TLS and ACL users on 127.0.0.1:$SECURE_REDIS_PORT)"
        redis-server --bind 127.0.0.1 --port 0 --tls-port "$SECURE_REDIS_PORT" \
            --tls-cert-file "$SECURE/tls/server.pem" --tls-key-file "$SECURE/tls/server.key" \
            --tls-ca-cert-file "$SECURE/tls/ca.pem" --tls-auth-clients no \
            --aclfile "$SECURE/redis/users.acl" --daemonize yes --dir "$SECURE/redis" --appendonly yes \
            --pidfile "$PIDS/redis-secure.pid" --logfile "$SECURE/logs/redis.log" >/dev/null 9>&- ||
            die "secured redis-server did not start" "$SECURE/logs/redis.log"
    fi
    wait_pong "secured redis (TLS)" "$SECURE/logs/redis.log" redis_tls_cli
}

secure_up() {
    [[ -x "$PY" ]] || die "$PY not found: run 'make install' first"
    secure_files
    secure_redis_up
    secure_kafka_up
    "$PY" "$HERE/secure_setup.py" write-config "$SECURE" --bootstrap "127.0.0.1:$SECURE_KAFKA_PORT" \
        --redis-port "$SECURE_REDIS_PORT" >&2
    log "secured stack up: kafka SASL_SSL 127.0.0.1:$SECURE_KAFKA_PORT, redis rediss://127.0.0.1:$SECURE_REDIS_PORT; config $SECURE/vigil.yaml"
}

secure_down() {
    if [[ -n "$(pid_of redis-secure redis-server)" ]]; then
        redis_tls_cli shutdown >/dev/null 2>&1 || true
    fi
    stop_pid redis-secure redis-server
    stop_pid kafka-secure "$SECURE/kafka/server.properties"
}

# --------------------------------------------------------------------------------------- status

status() {
    local name marker pid rc=0
    for name in kafka redis rtsp; do
        case "$name" in
            kafka) marker=kafka.Kafka ;;
            redis) marker=redis-server ;;
            rtsp) marker=rtsp_server.py ;;
        esac
        pid="$(pid_of "$name" "$marker")"
        if [[ -n "$pid" ]]; then
            printf '%-6s running (pid %s)\n' "$name" "$pid"
        else
            printf '%-6s stopped\n' "$name"
            rc=3
        fi
    done
    return "$rc"
}

logs() {
    local f
    for f in "$LOGS"/*.log "$LOGS"/*.out; do
        [[ -f "$f" ]] || continue
        printf '===== %s (last %s lines) =====\n' "$f" "${1:-50}"
        tail -n "${1:-50}" "$f"
    done
}

main() {
    mkdir -p "$LOGS" "$PIDS" "$KAFKA_DIR"
    # One stack.sh at a time per stack dir: two test sessions starting the stack at once would
    # otherwise both try to start each service.
    case "${1:-}" in
        status | logs) ;;
        *)
            exec 9>"$STACK/.lock"
            flock -w 600 9 || die "another scripts/stack.sh still holds $STACK/.lock after 10 min"
            ;;
    esac
    case "${1:-}" in
        up)
            [[ -x "$PY" ]] || die "$PY not found: run 'make install' first"
            redis_up
            kafka_up
            rtsp_start
            log "stack up: kafka 127.0.0.1:9092, redis redis://127.0.0.1:6379/0, rtsp rtsp://127.0.0.1:$RTSP_PORT/{incident,quiet,noaudio}"
            ;;
        down)
            secure_down
            rtsp_stop
            stop_pid kafka kafka.Kafka
            redis_down
            ;;
        status) status ;;
        logs) logs "${2:-50}" ;;
        rtsp-start) rtsp_start ;;
        rtsp-stop) rtsp_stop ;;
        rtsp-restart) rtsp_stop && rtsp_start ;;
        kafka-up) kafka_up ;;
        kafka-down) stop_pid kafka kafka.Kafka ;;
        clips) clips_up ;;
        secure-up) secure_up ;;
        secure-down) secure_down ;;
        *)
            echo "usage: $0 up|down|status|logs [N]|rtsp-start|rtsp-stop|rtsp-restart|kafka-up|kafka-down|secure-up|secure-down|clips" >&2
            exit 2
            ;;
    esac
}

main "$@"
