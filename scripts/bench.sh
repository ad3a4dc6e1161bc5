#!/usr/bin/env bash
# Runs `dualrpc bench` after making sure nginx (the peer) and wrk (the overhead
# benchmark's load) are installed.
# Usage: scripts/bench.sh [bench options...]    e.g. --profile seed, --overhead, --budget, --streaming
set -euo pipefail

cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
have nginx || missing+=(nginx-light)
have wrk || missing+=(wrk)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update
        # nginx-light is a transitional package on newer Debian; fall back to nginx.
        apt-get install -y "${missing[@]}" || apt-get install -y nginx wrk
    else
        echo "not installed and this is not root: ${missing[*]}; install them first" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        echo "continuing without them: the nginx arm and the overhead benchmark need them" >&2
    fi
fi

exec cargo run --release -p dualrpc-cli -- bench "$@"
