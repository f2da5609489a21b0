#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (redis-server for the
# Redis store tests), then runs formatting, lints, every test and every doc test.
#
#   bash scripts/test.sh
#
# A component that cannot be installed fails the run loudly; nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# The OIDC end-to-end test drives headless Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if ((${#need_apt[@]})); then
    log "installing ${need_apt[*]}"
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
command -v redis-server >/dev/null || { echo "redis-server is required by the tests" >&2; exit 1; }
# The tests start their own redis-server instances on free ports; make sure no packaged
# service is needed.

# The OIDC end-to-end test runs the `oidc-provider` package (tests/idp, lockfile committed).
if [[ ! -d tests/idp/node_modules ]]; then
    log "npm ci --prefix tests/idp"
    command -v npm >/dev/null || { echo "node and npm are required by the OIDC tests" >&2; exit 1; }
    npm ci --prefix tests/idp --no-audit --no-fund
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (all targets, all features, warnings denied)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

log "fuzz targets: fmt and clippy (they build on stable; running them needs cargo-fuzz, see fuzz/README.md)"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --target-dir "${CARGO_TARGET_DIR:-target}" -- -D warnings

log "tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --all-features --no-fail-fast
else
    cargo test --workspace --all-features --no-fail-fast --lib --bins --tests --examples
fi

log "doc tests"
cargo test --workspace --all-features --doc

log "docs build without broken links"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet
