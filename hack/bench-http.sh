#!/usr/bin/env bash
# Load run of GET /cluster/nodes against the real operator in the sandbox: a Ready 3x1 cluster,
# the operator held to one core (GOMAXPROCS=1 and taskset to CPU 0), hey (hack/tools/hey) on the
# other core. Prints requests/s and p99 beside the target: 20,000 requests/s on one core with p99
# under 2 ms. DURATION (10s) and CONCURRENCY (8) tune the run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
DURATION="${DURATION:-10s}"
CONCURRENCY="${CONCURRENCY:-8}"
# basePort 19800 (nodes 19800-19805, bus +10000, exporter +20000) and the operator's two ports
# are used by no test.
BASE_PORT=19800
HTTP_ADDR=127.0.0.1:19890
METRICS_ADDR=127.0.0.1:19891

hack/sandbox-binaries.sh >/dev/null
hack/test-tools.sh hey >/dev/null
go build -o bin/redis-operator ./cmd/redis-operator
go build -o bin/sandbox ./cmd/sandbox

export KUBECONFIG="${ROOT}/.sandbox/kubeconfig"
kubectl=(bin/k8s/kubectl --kubeconfig "${KUBECONFIG}")
started_sandbox=""
if [[ "$(bin/sandbox status)" == "sandbox down" ]]; then
    bin/sandbox up
    started_sandbox=1
fi
work="$(mktemp -d)"
ns="bench-http-$$"
operator=""
cleanup() {
    if [[ -n "${operator}" ]]; then
        kill "${operator}" 2>/dev/null || true
        wait "${operator}" 2>/dev/null || true
    fi
    "${kubectl[@]}" delete namespace "${ns}" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    if [[ -n "${started_sandbox}" ]]; then
        bin/sandbox down
    fi
    rm -rf "${work}"
}
trap cleanup EXIT

"${kubectl[@]}" apply --server-side --force-conflicts -f charts/redis-operator/crds/ >/dev/null
"${kubectl[@]}" wait --for=condition=Established --timeout=60s crd/redisclusters.redis.redis >/dev/null
"${kubectl[@]}" create namespace "${ns}" >/dev/null
"${kubectl[@]}" apply -f - >/dev/null <<EOF
apiVersion: redis.redis/v1beta1
kind: RedisCluster
metadata: {name: rediscluster1, namespace: ${ns}}
spec: {image: "awbrg789/redis:latest", masters: 3, replicas: 1, basePort: ${BASE_PORT}, maxMemory: 512mb}
EOF

GOMAXPROCS=1 taskset -c 0 bin/redis-operator --kubeconfig "${KUBECONFIG}" --http-addr "${HTTP_ADDR}" \
    --metrics-addr "${METRICS_ADDR}" --log-level warn >"${work}/operator.log" 2>&1 &
operator=$!
"${kubectl[@]}" -n "${ns}" wait --for=condition=Ready rdc/rediscluster1 --timeout=3m >/dev/null
url="http://${HTTP_ADDR}/cluster/nodes?clusterName=rediscluster1&namespace=${ns}"
nodes="$(curl -fsS "${url}" | grep -o '"ip"' | wc -l)"
if [[ "${nodes}" != 6 ]]; then
    echo "discovery lists ${nodes} nodes, want 6" >&2
    exit 1
fi

# A short warm-up, then the measured run; hey keeps its connections alive, as clients polling
# discovery would.
taskset -c 1 bin/tools/hey -n 5000 -c "${CONCURRENCY}" "${url}" >/dev/null
taskset -c 1 bin/tools/hey -z "${DURATION}" -c "${CONCURRENCY}" "${url}" >"${work}/hey.txt"
rps="$(awk '/Requests\/sec:/ {printf "%d", $2}' "${work}/hey.txt")"
p99="$(awk '/ 99%+ in / {printf "%.3f", $3 * 1000}' "${work}/hey.txt")"
p50="$(awk '/ 50%+ in / {printf "%.3f", $3 * 1000}' "${work}/hey.txt")"
codes="$(sed -n '/Status code distribution:/,/^$/p' "${work}/hey.txt" | tail -n +2 | xargs)"
if ! [[ "${codes}" =~ ^\[200\]\ [0-9]+\ responses$ ]]; then
    cat "${work}/hey.txt" >&2
    echo "not every response was 200: ${codes}" >&2
    exit 1
fi

echo
echo "GET /cluster/nodes (6 nodes), operator on one core, ${CONCURRENCY} connections, ${DURATION}: ${codes}"
printf '%-14s %12s %12s\n' "" measured target
printf '%-14s %12s %12s\n' "requests/s" "${rps}" ">= 20000"
printf '%-14s %12s %12s\n' "p99 latency" "${p99} ms" "< 2 ms"
printf '%-14s %12s %12s\n' "p50 latency" "${p50} ms" ""
