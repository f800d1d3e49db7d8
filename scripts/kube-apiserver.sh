#!/usr/bin/env bash
# A real Kubernetes API server (kube-apiserver + etcd, no kubelet, no controllers) built from the
# Go module proxy, for installing the Helm chart against what the API server itself enforces:
# schema validation, defaulting, admission (Pod Security), RBAC, immutable fields.
#
#   bash scripts/kube-apiserver.sh build      # -> prints the bin dir (cached; idempotent)
#   bash scripts/kube-apiserver.sh crds       # -> prints the CRD files the chart needs
#   bash scripts/kube-apiserver.sh up DIR     # start both in DIR (DIR/kubeconfig: contexts
#                                             # admin, system:masters, and deployer, no rights)
#   bash scripts/kube-apiserver.sh down DIR   # stop what `up DIR` started
#
# The module deploy/kube-apiserver pins k8s.io/kubernetes and its staging modules; etcd is the
# go.etcd.io/etcd/server/v3 that release requires. Binaries go to KUBE_CACHE_DIR (default
# ~/.cache/vigil/kube/<versions>). Everything listens on 127.0.0.1 only, on free ports.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE="${ROOT}/deploy/kube-apiserver"
PROM_OPERATOR_VERSION="${PROM_OPERATOR_VERSION:-v0.85.0}"
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"

die() {
    echo "kube-apiserver.sh: $*" >&2
    exit 1
}

need_go() {
    if ! command -v go >/dev/null 2>&1; then
        [[ -x /usr/local/go/bin/go ]] || die "Go is not installed (needed to build kube-apiserver and etcd)"
        export PATH="/usr/local/go/bin:${PATH}"
    fi
}

# The version of a module in deploy/kube-apiserver's build list.
module_version() {
    (cd "${MODULE}" && go list -m -f '{{.Version}}' "$1")
}

bin_dir() {
    need_go
    local k8s etcd
    k8s="$(module_version k8s.io/kubernetes)"
    etcd="$(module_version go.etcd.io/etcd/server/v3)"
    echo "${KUBE_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/vigil/kube}/k8s-${k8s}-etcd-${etcd}"
}

cmd_build() {
    need_go
    local dir k8s minor want started
    dir="$(bin_dir)"
    k8s="$(module_version k8s.io/kubernetes)"
    # The stamp also covers go.sum, so a changed dependency set rebuilds.
    want="${k8s} $(go env GOVERSION) $(sha256sum "${MODULE}/go.sum" | cut -c1-16)"
    if [[ -x "${dir}/kube-apiserver" && -x "${dir}/etcd" && "$(cat "${dir}/.stamp" 2>/dev/null)" == "${want}" ]]; then
        echo "kube-apiserver ${k8s} and etcd already built in ${dir}" >&2
        echo "${dir}"
        return
    fi
    mkdir -p "${dir}"
    echo "building kube-apiserver ${k8s} and etcd with $(go version) (several minutes the first time)..." >&2
    started="$(date +%s)"
    minor="${k8s#v1.}"
    minor="${minor%%.*}"
    # What hack/lib/version.sh stamps; without it the server reports v0.0.0-master.
    local ldflags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X ${pkg}.gitVersion=${k8s} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
        ldflags+=" -X ${pkg}.gitTreeState=clean"
    done
    (cd "${MODULE}" && GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath -mod=readonly" \
        go build -ldflags "${ldflags}" -o "${dir}/" \
        k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3)
    # go names the binary of go.etcd.io/etcd/server/v3 after "server".
    mv "${dir}/server" "${dir}/etcd"
    echo "${want}" >"${dir}/.stamp"
    echo "built in $(($(date +%s) - started)) s: ${dir}" >&2
    echo "${dir}"
}

# The module's directory in the module cache (downloaded through GOPROXY if needed).
module_dir() {
    local dir
    # Outside any module so the request does not touch a go.mod.
    dir="$(cd / && GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    [[ -n "${dir}" && -d "${dir}" ]] || die "go mod download $1 gave no directory"
    echo "${dir}"
}

cmd_crds() {
    need_go
    local prom keda
    prom="$(module_dir "github.com/prometheus-operator/prometheus-operator@${PROM_OPERATOR_VERSION}")"
    keda="$(module_dir "github.com/kedacore/keda/v2@${KEDA_VERSION}")"
    for f in "${prom}/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
        "${prom}/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
        "${keda}/config/crd/bases/keda.sh_scaledobjects.yaml" \
        "${keda}/config/crd/bases/keda.sh_triggerauthentications.yaml"; do
        [[ -f "${f}" ]] || die "CRD file missing: ${f}"
        echo "${f}"
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Poll URL (with curl's extra args) until it answers 200 or the process in PIDFILE dies.
wait_ready() {
    local name="$1" pidfile="$2" log="$3" url="$4"
    shift 4
    local deadline=$((SECONDS + ${KUBE_START_TIMEOUT:-180}))
    until curl -fsS -o /dev/null "$@" "${url}" 2>/dev/null; do
        if ! kill -0 "$(cat "${pidfile}")" 2>/dev/null; then
            tail -n 30 "${log}" >&2
            die "${name} exited during start-up (log: ${log})"
        fi
        ((SECONDS < deadline)) || {
            tail -n 30 "${log}" >&2
            die "${name} not ready at ${url} after ${KUBE_START_TIMEOUT:-180} s (log: ${log})"
        }
        sleep 0.5
    done
}

cmd_up() {
    local dir="${1:?usage: up DIR}" bin
    bin="$(cmd_build)"
    mkdir -p "${dir}"
    dir="$(cd "${dir}" && pwd)"
    local etcd_port peer_port api_port token deployer_token
    etcd_port="$(free_port)"
    peer_port="$(free_port)"
    api_port="$(free_port)"

    # etcd: one member, data in DIR.
    setsid "${bin}/etcd" --name vigil-test --data-dir "${dir}/etcd-data" \
        --listen-client-urls "http://127.0.0.1:${etcd_port}" \
        --advertise-client-urls "http://127.0.0.1:${etcd_port}" \
        --listen-peer-urls "http://127.0.0.1:${peer_port}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${peer_port}" \
        --initial-cluster "vigil-test=http://127.0.0.1:${peer_port}" \
        --quota-backend-bytes 1073741824 --log-level warn \
        </dev/null >"${dir}/etcd.log" 2>&1 &
    echo $! >"${dir}/etcd.pid"
    wait_ready etcd "${dir}/etcd.pid" "${dir}/etcd.log" "http://127.0.0.1:${etcd_port}/health"

    # Serving certificate (self-signed, also the kubeconfig's CA), service-account key pair, an
    # admin token in system:masters and a "deployer" token with no permissions until a
    # (Cluster)RoleBinding grants some.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kube-apiserver" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "${dir}/serving.key" -out "${dir}/serving.crt" 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${dir}/sa.key" 2>/dev/null
    openssl pkey -in "${dir}/sa.key" -pubout -out "${dir}/sa.pub" 2>/dev/null
    token="$(openssl rand -hex 24)"
    deployer_token="$(openssl rand -hex 24)"
    printf '%s\n' "${token},admin,admin,system:masters" "${deployer_token},deployer,deployer" >"${dir}/tokens.csv"
    echo "${token}" >"${dir}/token"
    chmod 600 "${dir}/tokens.csv" "${dir}/token" "${dir}/serving.key" "${dir}/sa.key"

    # Default admission plugins (PodSecurity among them); RBAC authorization.
    setsid "${bin}/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:${etcd_port}" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "${api_port}" \
        --tls-cert-file "${dir}/serving.crt" --tls-private-key-file "${dir}/serving.key" \
        --token-auth-file "${dir}/tokens.csv" \
        --authorization-mode Node,RBAC \
        --service-account-key-file "${dir}/sa.pub" \
        --service-account-signing-key-file "${dir}/sa.key" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range 10.96.0.0/16 \
        --endpoint-reconciler-type none \
        --cert-dir "${dir}/certs" \
        --profiling=false \
        </dev/null >"${dir}/kube-apiserver.log" 2>&1 &
    echo $! >"${dir}/kube-apiserver.pid"
    local server="https://127.0.0.1:${api_port}"
    wait_ready kube-apiserver "${dir}/kube-apiserver.pid" "${dir}/kube-apiserver.log" "${server}/readyz" \
        --cacert "${dir}/serving.crt" -H "Authorization: Bearer ${token}"

    cat >"${dir}/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster:
      server: ${server}
      certificate-authority-data: $(base64 -w0 "${dir}/serving.crt")
users:
  - name: admin
    user:
      token: ${token}
  - name: deployer
    user:
      token: ${deployer_token}
contexts:
  - name: admin
    context: {cluster: test, user: admin}
  - name: deployer
    context: {cluster: test, user: deployer}
current-context: admin
EOF
    chmod 600 "${dir}/kubeconfig"
    echo "${server}" >"${dir}/server"
    echo "kube-apiserver ready at ${server} (KUBECONFIG=${dir}/kubeconfig)" >&2
}

cmd_down() {
    local dir="${1:?usage: down DIR}" name pid
    # The API server first, so it does not log etcd's absence while stopping.
    for name in kube-apiserver etcd; do
        [[ -f "${dir}/${name}.pid" ]] || continue
        pid="$(cat "${dir}/${name}.pid")"
        if kill -TERM "${pid}" 2>/dev/null; then
            for _ in $(seq 1 100); do
                kill -0 "${pid}" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "${pid}" 2>/dev/null || true
        fi
        rm -f "${dir}/${name}.pid"
    done
}

case "${1:-}" in
build) cmd_build ;;
crds) cmd_crds ;;
up) cmd_up "${2:-}" ;;
down) cmd_down "${2:-}" ;;
*) die "usage: $0 build | crds | up DIR | down DIR" ;;
esac
