#!/usr/bin/env bash
# `make run`: builds what is missing and runs the operator in the foreground. Without KUBECONFIG
# it starts the local sandbox, installs the CRD and the example cluster, and points the operator
# at it; with KUBECONFIG it only runs the operator against that cluster.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
go build -o bin/redis-operator ./cmd/redis-operator

if [[ -z "${KUBECONFIG:-}" ]]; then
    hack/sandbox-binaries.sh
    # Backup Jobs and restore init containers run the operator's image, which the sandbox
    # runs from bin/; built once (make image rebuilds it).
    [[ -f bin/redis-operator.oci.tar ]] || make image
    go build -o bin/sandbox ./cmd/sandbox
    bin/sandbox up
    export KUBECONFIG="${ROOT}/.sandbox/kubeconfig"
    kubectl=(bin/k8s/kubectl --kubeconfig "${KUBECONFIG}")
    "${kubectl[@]}" apply --server-side --force-conflicts -f charts/redis-operator/crds/
    "${kubectl[@]}" wait --for=condition=Established --timeout=60s crd/redisclusters.redis.redis crd/redisclusterbackups.redis.redis
    "${kubectl[@]}" apply -f examples/rediscluster.yaml
    cat <<MSG

The sandbox is up (stop it with: make sandbox-down). Try:
  bin/k8s/kubectl --kubeconfig ${KUBECONFIG} get rdc -A
  curl -s 'http://127.0.0.1:9090/cluster/nodes?clusterName=rediscluster1'
  redis-cli -c -h <ip> -p <port> ping      (an address from the call above)
  bin/k8s/kubectl --kubeconfig ${KUBECONFIG} apply -f examples/backup.yaml    (a backup to the sandbox's S3, and a restore)

MSG
    exec bin/redis-operator --kubeconfig "${KUBECONFIG}" \
        --metrics-addr 127.0.0.1:8080 --http-addr 127.0.0.1:9090 "$@"
fi

exec bin/redis-operator --kubeconfig "${KUBECONFIG}" "$@"
