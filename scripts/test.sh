#!/usr/bin/env bash
# Every test: the Rust workspace (unit, integration, the real binary), then the real
# Solana JavaScript clients (@solana/kit, @solana/web3.js v1) through the gateway.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace
# The micro-benchmarks, each run once: they keep compiling and working.
cargo test --workspace --bench hot_path
bash tests/clients/run.sh
