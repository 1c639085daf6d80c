#!/usr/bin/env bash
# Measures, in the sandbox and in one run, the MB/s of the operator's backup of a 3x1 cluster
# holding about 1 GB (persistence on) into S3 (versitygw on loopback), and of its restore onto a
# new cluster of 3 masters, beside stock tools on the same nodes and server: redis-cli --rdb of
# every master at once then `aws s3 cp`, and `aws s3 cp` back then redis-server on each file.
# BENCH_BACKUP_MB (1000) sets the data written; AWS_CLI the aws program (default: the one on PATH,
# Debian's awscli installed when there is none).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
hack/sandbox-binaries.sh >/dev/null
# The Jobs and init containers run the operator's image: rebuild it when a source is newer.
if [[ ! -f bin/redis-operator.oci.tar ]] ||
    [[ -n "$(find cmd pkg go.mod go.sum -newer bin/redis-operator.oci.tar -type f -print -quit)" ]]; then
    make image >/dev/null
fi
if [[ -z "${AWS_CLI:-}" ]]; then
    if ! command -v aws >/dev/null; then
        if [[ "$(id -u)" == 0 ]]; then
            apt-get install -y awscli >/dev/null
        else
            sudo apt-get install -y awscli >/dev/null
        fi
    fi
    AWS_CLI="$(command -v aws)"
    # A pyenv shim runs pyenv's bash before the CLI, about 0.3 s a call: time the CLI alone.
    if [[ "${AWS_CLI}" == */shims/aws ]] && command -v pyenv >/dev/null; then
        AWS_CLI="$(pyenv which aws)"
    fi
fi
export AWS_CLI
# 40m leaves room for waiting on another e2e run's lock.
go test ./test/e2e -run '^$' -bench '^BenchmarkBackupAndRestore$' -benchtime 1x -count 1 -timeout 40m
