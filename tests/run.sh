#!/usr/bin/env bash
# The whole test suite, as the README's set-up runs it and as .ci/run calls it:
#   1. cargo test: unit tests, and integration tests that start the real binary on
#      127.0.0.1 and talk to it over HTTP (and drive the TUI in tmux);
#   2. the patched tiny_http's own unit tests (vendor/tiny_http, its own lock file);
#   3. tests/interop/run.sh: the release binary against third-party clients.
# Besides the Rust toolchain the tests use curl, jq, openssl and tmux (and the interop
# suite CPython 3.11 and nginx-light, which it installs itself). As root on Debian or
# Ubuntu the missing ones are installed with apt-get; otherwise they are named.
#
#   tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in curl jq openssl tmux; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "tests/run.sh: installing ${missing[*]} with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
  else
    echo "tests/run.sh: missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]}), or run this as root to let it do so" >&2
    exit 1
  fi
fi

cargo test
(cd vendor/tiny_http && cargo test --lib --locked --target-dir ../../target/vendor-tiny_http)
tests/interop/run.sh
