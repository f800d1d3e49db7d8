#!/usr/bin/env bash
# Build the `helm` binary from the Go module proxy into .stack/bin (cached; idempotent).
#
#   bash scripts/install-helm.sh          # -> .stack/bin/helm
#   HELM_VERSION=v3.21.4 bash scripts/install-helm.sh
#
# Needs Go (>= 1.24). No download site is contacted: `go install` fetches the module
# helm.sh/helm/v3 and its dependencies through GOPROXY and compiles them here.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${ROOT}/.stack/bin"
HELM="${BIN_DIR}/helm"
STAMP="${BIN_DIR}/.helm-version"
K8S_MAJOR="${K8S_VERSION_MAJOR:-1}"
K8S_MINOR="${K8S_VERSION_MINOR:-37}"
WANT="${HELM_VERSION} k8s ${K8S_MAJOR}.${K8S_MINOR}"

if [[ -x "${HELM}" && -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" ]]; then
    echo "helm ${HELM_VERSION} already at ${HELM}"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    if [[ -x /usr/local/go/bin/go ]]; then
        export PATH="/usr/local/go/bin:${PATH}"
    else
        echo "install-helm: Go is not installed (needed to build helm from the Go module proxy)" >&2
        exit 1
    fi
fi

mkdir -p "${BIN_DIR}"
echo "building helm ${HELM_VERSION} with $(go version) (a few minutes the first time)..."
# Helm's own Makefile stamps its version and the Kubernetes version it assumes without a cluster
# (`helm template`, `helm lint`); a plain `go install` would leave v1.20. K8S_VERSION follows the
# k8s.io modules helm 3.22 is built with.
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    LDFLAGS+=" -X ${pkg}.k8sVersionMajor=${K8S_MAJOR} -X ${pkg}.k8sVersionMinor=${K8S_MINOR}"
done
# -trimpath and no VCS stamping: reproducible and independent of the working tree's git state.
GOBIN="${BIN_DIR}" GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath" \
    go install -ldflags "${LDFLAGS}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
echo "${WANT}" >"${STAMP}"
"${HELM}" version --short
