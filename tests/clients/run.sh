#!/usr/bin/env bash
# Drives the dualrpc gateway with real Solana JavaScript clients (@solana/kit and
# @solana/web3.js v1) against `dualrpc sim`, using Node's built-in test runner.
#
#   bash tests/clients/run.sh                    # npm ci, cargo build, node --test
#   DUALRPC_BIN=path/to/dualrpc bash tests/clients/run.sh   # skip the cargo build
#   bash tests/clients/run.sh --test-name-pattern kit       # extra args go to node --test
#
# Needs Node.js >= 20.18 and npm (the packages come from the npm registry via npm ci).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

node_version="$(node --version)"
node_major_minor="${node_version#v}"
IFS=. read -r major minor _ <<<"$node_major_minor"
if ((major < 20 || (major == 20 && minor < 18))); then
  echo "tests/clients: Node.js >= 20.18 is required (found $node_version)" >&2
  exit 1
fi

echo "== tests/clients: npm ci"
(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

if [[ -z "${DUALRPC_BIN:-}" ]]; then
  echo "== tests/clients: cargo build -p dualrpc-cli"
  (cd "$root" && cargo build -q -p dualrpc-cli)
  DUALRPC_BIN="$root/target/debug/dualrpc"
fi
export DUALRPC_BIN

echo "== tests/clients: node --test (DUALRPC_BIN=$DUALRPC_BIN)"
cd "$here"
exec node --test --test-reporter=spec --test-timeout=60000 "$@" gateway.test.mjs
