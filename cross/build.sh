#!/usr/bin/env bash
# Build the static release binaries.
#
#   cross/build.sh [x86_64|aarch64|all]      (default: all)
#
# One cargo invocation, one target directory and one set of flags for both
# architectures, like a build matrix sharing its cache. Both targets link
# with the rust-lld that ships inside the Rust toolchain against the musl C
# runtime that ships with the rustup target ("self-contained"), so no C
# cross toolchain, container or downloaded toolchain is involved. Results:
#
#   target/x86_64-unknown-linux-musl/release/openshell-sandbox
#   target/aarch64-unknown-linux-musl/release/openshell-sandbox
#
# Reproducible: every absolute path that could leak into the binary (this
# checkout, the target directory, $CARGO_HOME, the toolchain sysroot) is
# remapped to a fixed name, and the commit and dirty flag are passed to
# build.rs explicitly, so a copy of the same tree elsewhere builds the
# same bytes (cross/verify.sh --reproducible checks it).
set -euo pipefail
cd "$(dirname "$0")/.."
. cross/common.sh

arch=${1:-all}
[ $# -le 1 ] || die "usage: cross/build.sh [x86_64|aarch64|all]"
read -r -a triples <<<"$(triples_for "$arch")" ||
  die "unknown architecture \"$arch\" (x86_64, aarch64 or all)"

for c in cargo rustc rustup; do
  command -v "$c" >/dev/null 2>&1 || die "$c not found; hint: install a Rust toolchain with rustup (https://rustup.rs)"
done
installed=$(rustup target list --installed)
for t in "${triples[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
# The standard library is compiled from the toolchain's own source (see
# build_std below); the rustup component holds it.
rustup component list --installed | grep -qx 'rust-src' || rustup component add rust-src

sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
# std's source is named as in the prebuilt std: /rustc/<commit>/library/...
rustc_commit=$(rustc -vV | sed -n 's/^commit-hash: //p')
lld="$sysroot/lib/rustlib/$host/bin/rust-lld"
[ -x "$lld" ] || die "rust-lld not found at $lld; hint: use a rustup toolchain (rust-lld ships with it)"

root=$PWD
tdir=$(target_dir)
cargo_home=${CARGO_HOME:-$HOME/.cargo}

# Flags shared by both targets. Later --remap-path-prefix entries win, so
# the more specific target directory comes after the checkout it may sit in.
#
# relocation-model=static: with crt-static this links a static non-PIE
# executable (ELF type EXEC, loaded at a fixed address) instead of the
# static-PIE that x86_64-unknown-linux-musl makes by default (aarch64 was
# already non-PIE). Measured on x86_64, 2 cores, same day, 20-path policy
# launching a no-libc true: 60 KiB smaller (1,874,520 -> 1,814,144 bytes:
# the 49 KiB .rela.dyn goes and the 40 KiB .data.rel.ro becomes read-only
# .rodata), 2,092 relative relocations -> 0, 1.7% fewer instructions to
# exec (callgrind: 2.72 M -> 2.67 M), ~13 fewer page faults, 88 KiB less
# peak RSS and 44 KiB less private memory per launch; wall time within
# the noise of interleaved runs. RELR-packed PIE (--pack-dyn-relocs=relr)
# keeps the relocations (2,096, packed to 712 bytes), saves 50 KiB and no
# time or memory. What ASLR of this image would protect: the supervisor
# runs for about a millisecond and parses a root-owned policy (it refuses
# one the workload could rewrite) and the node's CDI specs, in safe Rust
# with unsafe fenced in src/sys; the PID-1 parent reads only fixed-size signalfd records and
# wait statuses under its own seccomp filter. Neither takes input an
# attacker shapes, and both exec or wait rather than parse at length.
# What a fixed address gives away: the image and the heap arena in .bss
# (src/alloc.rs) sit at known addresses; stack, mmap and vDSO stay
# randomized, and the workload's own image is its own (ASLR as usual).
# Without a memory-safety bug in either process to aim with, that is
# worth less than the size, time and memory above.
#
# force-unwind-tables=no: no .eh_frame for the crate or for std (built
# here, below). With panic = "abort" nothing unwinds, and std's backtrace
# printer is compiled out, so the tables had no reader left but a debugger
# or profiler walking a stripped binary's stack (a build with debuginfo
# serves those better). Measured on x86_64: .eh_frame and its index went
# from 170,624 to 112 bytes, the binary from 1,216,528 to 1,046,064; the
# tables were never paged in, so peak RSS and launch time did not move.
#
# The launch's functions first (build.rs, with OPENSHELL_LINK_LAYOUT=1):
# each architecture links with --symbol-ordering-file=cross/launch-order/
# <arch>.txt (written by cross/launch-order.sh), so the functions a launch
# runs sit first and side by side, and with cross/launch.ld, which puts
# the C runtime's .init/.fini (called at start) before the code instead
# of after it. The kernel maps a binary's pages 64 KiB and more around
# each fault (fault-around, and the page cache's large folios, as big as
# the writes that made the file), so code a launch never ran was mapped
# anyway wherever it sat among code it did. Measured on x86_64, 20-path
# launch, the binary a cp'd copy: code mapped 836 -> 520 KiB, ru_maxrss
# 1,088 -> 840 KiB, the PID-1 parent's VmRSS 1,184 -> 864 KiB, launch
# time within noise (the madvise(MADV_POPULATE_READ) of all the code that
# src/main.rs made went with it). A list names symbols, and most names
# carry the crate's id, which cargo derives from the package version, the
# dependencies, the profile and the toolchain: functions a list lacks are
# linked with the rest (memory, never correctness), and cross/verify.sh
# fails when a build has lost much of its list (the link map,
# target/link-maps/<triple>.map, says where each name went). So that the
# names are the same whether or not symbols are kept, the strip is a link
# argument (below), not the profile's `strip`, which changes the id.
# OPENSHELL_KEEP_SYMBOLS=1 keeps them, for cross/launch-order.sh, and
# only into another target directory.
flags=(
  -C target-feature=+crt-static
  -C relocation-model=static
  -C force-unwind-tables=no
  -C link-self-contained=yes
  "--remap-path-prefix=$cargo_home=/cargo"
  "--remap-path-prefix=$sysroot=/rustc-sysroot"
  "--remap-path-prefix=$sysroot/lib/rustlib/src/rust=/rustc/$rustc_commit"
  "--remap-path-prefix=$root=/build/openshell-sandbox"
  "--remap-path-prefix=$tdir=/build/target"
)
if [ "${OPENSHELL_KEEP_SYMBOLS:-0}" = 1 ]; then
  [ "$(realpath -m "$tdir")" != "$(realpath -m "$root/target")" ] ||
    die "OPENSHELL_KEEP_SYMBOLS=1 builds unstripped binaries: set CARGO_TARGET_DIR to another directory than target/"
else
  flags+=(-Clink-arg=--strip-all)
fi
CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; echo "${flags[*]}")
export CARGO_ENCODED_RUSTFLAGS
unset RUSTFLAGS
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER="$lld"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER="$lld"
export CARGO_TARGET_DIR="$tdir"
export OPENSHELL_LINK_LAYOUT=1 OPENSHELL_LINK_MAP_DIR="$tdir/link-maps"

# build.rs asks git itself, but a copy of the tree (cross/verify.sh
# --reproducible) has no .git: compute the facts here, the same way.
export_build_facts

# The standard library is built with the binary instead of linked from the
# prebuilt copy: the same toolchain's source (the rust-src component, so
# the same std code), in one LTO unit with the crate, with two of std's
# features changed:
#   - no "backtrace": std's symbolizer (gimli, addr2line, object and
#     miniz_oxide, about 170 KB) is left out. A panic still prints its
#     message and location; RUST_BACKTRACE adds nothing. The release
#     binary is stripped, so there were no names to show.
#   - "optimize_for_size": std picks its smaller variants (heapsort for
#     sort_unstable, a byte-wise memchr, smaller formatting).
# core, alloc and std are compiled at opt-level 2 rather than the crate's
# "z": at "z" their small helpers (allocation layouts, Vec growth) stop
# being inlined, and planning a 20-path launch took 7% more instructions.
# Measured on x86_64, same tree, same day, with unwind tables still in
# (callgrind instructions of `plan --format text` for a 20-path policy;
# bytes of the stripped binary):
#   prebuilt std                               1,553,792 B   1.404 M
#   built, std at "z"                          1,255,608 B   1.508 M
#   built, std at 3, without optimize_for_size 1,265,552 B   1.405 M
#   built, std at 3                            1,220,176 B   1.431 M
#   built, std at 2 (this)                     1,216,528 B   1.429 M
# bench/run.sh, prebuilt std as BENCH_BASELINE in the same rounds: the
# launch of a 20-path policy 13 to 30 us faster than with prebuilt std.
# -Zbuild-std is a Cargo feature that the stable channel gates; the
# toolchain's own RUSTC_BOOTSTRAP switch lifts the gate for this one
# invocation (the Linux kernel builds its Rust code on stable the same
# way). std's source comes with the toolchain and its dependencies are
# pinned by the Cargo.lock in that source, so cross/verify.sh
# --reproducible still compares byte for byte.
build_std=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
for c in core alloc std; do
  build_std+=(--config "profile.release.package.$c.opt-level=2")
done
target_args=()
for t in "${triples[@]}"; do target_args+=(--target "$t"); done
# strip=false: see --strip-all above.
RUSTC_BOOTSTRAP=1 cargo build --release --locked "${target_args[@]}" "${build_std[@]}" \
  --config profile.release.strip=false

for t in "${triples[@]}"; do
  b=$(binary_path "$t")
  [ -f "$b" ] || die "$b: missing after the build"
  printf '%s  %s bytes\n' "${b#"$root"/}" "$(stat -c %s "$b")"
done
