#!/usr/bin/env bash
# The full test suite: installs what it needs on a fresh Debian machine,
# then runs every layer. Run it as root (the kernel and pod tests need it).
#
#   tests/run.sh            # everything
#   OPENSHELL_TEST_STRICT=1 tests/run.sh   # what CI runs: a skip is a failure
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "install test dependencies"
need_pkgs=()
for pair in runc:runc busybox:busybox-static qemu-aarch64-static:qemu-user-static \
            readelf:binutils gcc:gcc python3:python3 unshare:util-linux \
            newuidmap:uidmap podman:podman catatonit:catatonit dockerd:docker.io \
            useradd:passwd tar:tar; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
python3 -c 'import jsonschema' 2>/dev/null || need_pkgs+=(python3-jsonschema)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "missing packages (run as root to install): ${need_pkgs[*]}" >&2
  fi
fi
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done
# cross/build.sh compiles std from the toolchain's source.
rustup component list --installed | grep -qx rust-src || rustup component add rust-src

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

step "static cross builds (amd64, arm64): checks and reproducibility"
cross/build.sh all
cross/verify.sh --reproducible

step "release bundles"
cross/bundle.sh
v=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
for a in amd64 arm64; do cross/verify-bundle.sh "dist/openshell-sandbox-$v-$a.tar.gz" "$a"; done

step "release build (the README's first command, run by tests/readme.rs, reuses it)"
cargo build --release --locked

step "unit, kernel and integration tests"
rm -f target/test-skips.txt
cargo test --locked -- --test-threads=2

step "skipped tests"
if [ -s target/test-skips.txt ]; then
  sort target/test-skips.txt
  echo "$(wc -l < target/test-skips.txt) test(s) skipped"
else
  echo "none"
fi
