#!/usr/bin/env bash
# Builds every function as a Lambda zip: target/lambda/<name>/bootstrap.zip.
# Keeps the workspace's release profile: cargo-lambda's own tweaks (panic=abort,
# a target-cpu) are switched off with --disable-optimizations.
set -euo pipefail
arch="${1:-arm64}"
case "$arch" in
  arm64) flag=--arm64; target=aarch64-unknown-linux-gnu ;;
  x86_64) flag=--x86-64; target=x86_64-unknown-linux-gnu ;;
  *) echo "ARCH must be arm64 or x86_64, got $arch" >&2; exit 2 ;;
esac
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
cargo lambda build --release "$flag" --disable-optimizations --output-format zip \
  --bin failover --bin replication-monitor --bin concurrency-scheduler
for f in failover replication-monitor concurrency-scheduler; do
  ls -l "target/lambda/$f/bootstrap.zip"
done
