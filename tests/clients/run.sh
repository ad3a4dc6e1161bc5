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
  # Cargo says where it put the binary (compiler-artifact messages on stdout; diagnostics
  # still go to stderr as usual), so CARGO_TARGET_DIR, build.target-dir or a --target
  # triple from the environment are all honoured. A relative CARGO_TARGET_DIR is relative
  # to the workspace root, where cargo runs.
  DUALRPC_BIN="$(
    cd "$root" &&
      cargo build -q -p dualrpc-cli --bin dualrpc --message-format=json-render-diagnostics |
      node -e '
        let exe = "";
        let failed = false;
        for (const line of require("node:fs").readFileSync(0, "utf8").split("\n")) {
          if (!line.startsWith("{")) continue;
          const m = JSON.parse(line);
          if (m.reason === "compiler-artifact" && m.executable && m.target.name === "dualrpc") {
            exe = m.executable;
          }
          if (m.reason === "build-finished" && !m.success) failed = true;
        }
        if (failed) process.exit(1); // cargo has already printed why
        if (!exe) {
          console.error("tests/clients: cargo build reported no dualrpc executable");
          process.exit(1);
        }
        console.log(exe);
      '
  )"
fi
export DUALRPC_BIN

echo "== tests/clients: node --test (DUALRPC_BIN=$DUALRPC_BIN)"
cd "$here"
exec node --test --test-reporter=spec --test-timeout=60000 "$@" gateway.test.mjs subscriptions.test.mjs
