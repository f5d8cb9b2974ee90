#!/usr/bin/env bash
# Installs what the project and its tests need: Python packages, and the real OPA and MinIO
# binaries built once with the Go toolchain at pinned versions, cached under ~/.cache/greenlang/bin.
set -euo pipefail
cd "$(dirname "$0")/.."

OPA_VERSION=v1.22.2
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c   # MinIO's Go module has no semver tags
CACHE="${GREENLANG_CACHE:-$HOME/.cache/greenlang}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

python3 -m pip install --quiet --disable-pip-version-check -e ".[test,bench]"

build() {  # build NAME MODULE VERSION: go install unless the cached binary is that version
  local name=$1 module=$2 version=$3 stamp="$BIN/.$1.version"
  if [[ -x "$BIN/$name" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then
    return
  fi
  echo "building $name $version with go install (cached in $BIN)" >&2
  GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "$module@$version"
  echo "$version" > "$stamp"
}

build opa github.com/open-policy-agent/opa "$OPA_VERSION" &
opa_pid=$!
build minio github.com/minio/minio "$MINIO_VERSION"
wait "$opa_pid"
opa_version=$("$BIN/opa" version)   # no pipe into head: SIGPIPE under pipefail fails CI
echo "${opa_version%%$'\n'*}" >&2

# ---- Prometheus promtool + Alertmanager amtool (deploy/prometheus, deploy/alertmanager checks) --
# Built from the Go module proxy like OPA (v0.3xx.y is Prometheus 3.x's Go module numbering);
# tests/deploy/ runs `promtool check/test rules` and `amtool check-config`/`config routes test`.
PROMETHEUS_VERSION=v0.316.0
ALERTMANAGER_VERSION=v0.35.0
build promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION"
build amtool github.com/prometheus/alertmanager/cmd/amtool "$ALERTMANAGER_VERSION"

# ---- Jaeger (tests/e2e/test_traces_jaeger.py: traces from sidecar and agent SDK) -----------------
# The all-in-one `jaeger` (v2) program of the Go module github.com/jaegertracing/jaeger, pinned.
# Its go.mod has a replace directive, which `go install module@version` refuses, so `build`
# cannot take it: build_module_main builds it with the module itself as the main module (from
# the module cache, its own go.sum), cached like the others by version stamp.
JAEGER_VERSION=v1.75.0
build_module_main() {  # build_module_main NAME MODULE VERSION PACKAGE_DIR
  local name=$1 module=$2 version=$3 package=$4 stamp="$BIN/.$1.version" dir
  if [[ -x "$BIN/$name" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then
    return
  fi
  echo "building $name $version from its module (cached in $BIN)" >&2
  dir=$(go mod download -json "$module@$version" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  (cd "$dir" && GOFLAGS=-buildvcs=false go build -trimpath -o "$BIN/$name.tmp" "./$package")
  mv "$BIN/$name.tmp" "$BIN/$name"
  echo "$version" > "$stamp"
}
build_module_main jaeger github.com/jaegertracing/jaeger "$JAEGER_VERSION" cmd/jaeger
# ---- end Jaeger ---------------------------------------------------------------------------------

# --- Docker engine and images (the `docker` deployer and its tests) ----------------------------
# docker.io + debootstrap, dockerd started by hand (data root under $CACHE/docker), the base image
# greenlang-base:bookworm, then this tree's greenlang-runtime:<content hash> (reused when unchanged).
# .ci/docker-stop.sh stops the engine and removes what it leaves behind.
bash .ci/docker-engine.sh
echo "runtime image $(python3 -m registry.deployments.docker_image)" >&2

# ---- Kubernetes (tests of the `kubernetes` deployer) -------------------------------------------
# A real kube-apiserver + controller-manager + scheduler and a kwok fake node, built from the Go
# module proxy by ../shared/tools/kubernetes/build.sh and cached under $CACHE/kube (cold ~7 min,
# then a no-op); etcd is Debian's etcd-server. tests/deployments/ starts them with start.sh.
install_kubernetes() {
  local tools=../shared/tools/kubernetes
  [[ -x "$tools/build.sh" ]] || { echo "install.sh: $tools/build.sh missing (../shared beside the repo)" >&2; exit 1; }
  if ! command -v etcd >/dev/null; then
    apt-get update -qq && apt-get install -y -qq etcd-server >/dev/null
  fi
  KUBE_COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler" BUILD_KWOK=1 \
    "$tools/build.sh" "$CACHE/kube/cache" "$CACHE/kube"
}
install_kubernetes

# ---- Chromium (tests/reports: the HTML compliance report rendered and printed headless) ------
if ! command -v chromium >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

# ---- OpenSearch (the log-shipping tests: Elasticsearch's _bulk/_search API) --------------------
# Elasticsearch is not installable here; OpenSearch (Apache-2.0, same API) is assembled from its
# Maven Central jars by ../shared/tools/opensearch/start.sh, cached under $CACHE/opensearch. The
# first start fetches it (then a no-op); tests/support/opensearch.py starts private nodes.
install_opensearch() {
  local tools=../shared/tools/opensearch version=2.19.6
  [[ -x "$tools/start.sh" ]] || { echo "install.sh: $tools/start.sh missing (../shared beside the repo)" >&2; exit 1; }
  [[ -f "$CACHE/opensearch/$version/.complete" ]] && return
  if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then  # JDK 11..23 + Maven
    apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
  fi
  local state; state=$(mktemp -d)
  OPENSEARCH_VERSION=$version OPENSEARCH_DIST_DIR="$CACHE/opensearch/$version" "$tools/start.sh" "$state" >/dev/null
  "$state/stop.sh" --purge
  rm -rf "$state"
}
install_opensearch

# ---- dashboards: docker compose plugin and Prometheus (deploy/compose, tests/deploy) ----------
# `docker compose config` checks deploy/compose/compose.yaml; the e2e test runs a real Prometheus
# (no UI assets: the query API is all it needs). Both built with Go, pinned and cached in $BIN.
COMPOSE_VERSION=v5.6.0
PROMETHEUS_SERVER_VERSION=v0.316.0   # Prometheus v3.16.0, the same module version as promtool
install_compose() {
  # `go install module/cmd@version` refuses compose (its go.mod has exclude directives), so build
  # the module's own source tree as the main module, as its Makefile does (./cmd).
  local stamp="$BIN/.docker-compose.version" plugins="$HOME/.docker/cli-plugins"
  if [[ ! -x "$BIN/docker-compose" || "$(cat "$stamp" 2>/dev/null)" != "$COMPOSE_VERSION" ]]; then
    echo "building docker-compose $COMPOSE_VERSION with go build (cached in $BIN)" >&2
    local module=github.com/docker/compose/v5 src tmp
    src=$(go mod download -json "$module@$COMPOSE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    tmp=$(mktemp -d)
    cp -r "$src/." "$tmp" && chmod -R u+w "$tmp"
    (cd "$tmp" && GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-X $module/internal.Version=$COMPOSE_VERSION" -o "$BIN/docker-compose" ./cmd)
    rm -rf "$tmp"
    echo "$COMPOSE_VERSION" > "$stamp"
  fi
  mkdir -p "$plugins"
  ln -sf "$BIN/docker-compose" "$plugins/docker-compose"
}
install_compose
build prometheus github.com/prometheus/prometheus/cmd/prometheus "$PROMETHEUS_SERVER_VERSION"

# ---- Redis (the sidecar's shared rate store, --rate-store; tests/contract, tests/e2e) ---------
# Debian's redis-server; never run as a service: tests/support/redis_server.py starts private
# servers on free ports, without persistence, in temp dirs.
if ! command -v redis-server >/dev/null; then
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi

# ---- nginx (bench/sidecar_bench.py target (x): the plain proxy a user would pick) -------------
if [[ ! -x /usr/sbin/nginx ]] && ! command -v nginx >/dev/null; then
  apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null
fi
