#!/usr/bin/env bash
# Runs `dualrpc bench` (all arms, nginx included) after making sure nginx is installed.
# Usage: scripts/bench.sh [bench options...]
set -euo pipefail

cd "$(dirname "$0")/.."

have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }

if ! have_nginx; then
    if [ "$(id -u)" -eq 0 ]; then
        # nginx-light is a transitional package on newer Debian; fall back to nginx.
        apt-get update
        apt-get install -y nginx-light || apt-get install -y nginx
    else
        echo "nginx is not installed and this is not root; install it first" >&2
        echo "  sudo apt-get install -y nginx-light   (or your system's nginx package)" >&2
        echo "continuing without it: the nginx arm needs it" >&2
    fi
fi

exec cargo run --release -p dualrpc-cli -- bench "$@"
