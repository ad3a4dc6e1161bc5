#!/usr/bin/env bash
# Tests of dualrpc-rpc-sender, the solana-rpc-client adapter. It is its own workspace
# (excluded from the root one: the Solana client takes minutes and ~1 GB to build), with
# its own Cargo.lock and target dir (crates/rpc-sender/target, or $CARGO_TARGET_DIR when set).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test --manifest-path crates/rpc-sender/Cargo.toml "$@"
