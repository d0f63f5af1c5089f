#!/usr/bin/env bash
# Write cross/launch-order/<arch>.txt: the functions a launch runs, which
# cross/build.sh links first (--symbol-ordering-file, from build.rs) so
# that a launch maps the code it runs, about 520 of 836 KiB on x86_64,
# instead of all of it.
#
#   cross/launch-order.sh        (as root, x86_64, with gcc; about 3 minutes)
#
# Builds both architectures as cross/build.sh does, keeping the symbols
# (same profile, so the same names as the release link), in a separate
# target directory. On x86_64 it runs the launches a pod makes under
# cross/fntrace.c, a breakpoint at every function: a 20-path policy in
# exec and init mode, with one and eight CDI devices, with one GPU of an
# NVIDIA-shaped spec, and the embedded default policy; each launch must
# succeed. The aarch64 names are those
# of the same functions (equal once demangled without the crates' ids,
# which differ per target), in the same order. Run it again, and commit
# the lists, when cross/verify.sh says a build has lost much of its list:
# most names carry the crate's id, which cargo derives from the package
# version, the dependencies (Cargo.lock), the profile and the toolchain,
# so a change to any of them renames most functions; a change to the
# launch's code adds and removes some. An outdated list only costs memory
# (functions it misses are linked with the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
. cross/common.sh

[ "$(id -u)" = 0 ] || die "run as root (the launches switch to uid 65534)"
[ "$(uname -m)" = x86_64 ] || die "runs on x86_64 only (cross/fntrace.c reads rip)"
need_cmd gcc gcc
need_cmd nm binutils

root=$PWD
tdir=$(target_dir)/launch-order
OPENSHELL_KEEP_SYMBOLS=1 CARGO_TARGET_DIR=$tdir cross/build.sh all >&2

W=$(mktemp -d /run/openshell-order.XXXXXX 2>/dev/null || mktemp -d /var/tmp/openshell-order.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
gcc -O2 -o "$W/fntrace" cross/fntrace.c
mkdir -m 755 "$W/bin" "$W/cdi"
gcc -nostdlib -static -o "$W/bin/true" bench/true.S

# A policy like bench/run.sh's 20-path one, and its CDI spec.
{
  echo "version: 1"
  echo "filesystem_policy:"
  echo "  include_workdir: true"
  echo "  read_only: [/usr, /bin, /sbin, /lib, /etc, /proc, /dev/urandom, $W/bin]"
  echo "  read_write: [/tmp, /dev/null]"
  echo "landlock: {compatibility: best_effort, require: {filesystem: true}}"
  echo "process: {run_as_user: 65534, run_as_group: 65534}"
} >"$W/policy.yaml"
example_cdi_spec "$W/cdi/order.yaml" "$W"
mkdir -m 755 "$W/cdi-nv"
nvidia_cdi_lookalike "$W/cdi-nv/nvidia.yaml" "$W/nv"
dev8=()
for i in 0 1 2 3 4 5 6 7; do dev8+=(--device "example.com/dev=$i"); done

B=$(CARGO_TARGET_DIR=$tdir binary_path x86_64-unknown-linux-musl)
nm "$B" | awk '$2 ~ /^[tTwW]$/ { print $1 }' >"$W/funcs"
# Each launch ten times: some functions run only in some launches (hash
# tables are seeded at random, and a collision takes another path). The
# list is in tiers, each after the one before: what a plain launch runs,
# then what init mode, a CDI device, eight, a GPU and the embedded policy add,
# so a launch that needs less maps less.
tier=0
trace() {
  local i
  tier=$((tier + 1))
  for ((i = 0; i < 10; i++)); do
    (cd "$W" && "$W/fntrace" "$W/funcs" "$W/ran.$tier.$i" -- "$B" "$@" >/dev/null 2>"$W/err") ||
      die "fntrace $*: $(tail -n 3 "$W/err")"
    grep -q '^fntrace: ' "$W/err" || die "fntrace $*: no count; $(tail -n 3 "$W/err")"
  done
}
P=(--policy "$W/policy.yaml")
trace "${P[@]}" --exec -- "$W/bin/true"
trace "${P[@]}" --init -- "$W/bin/true"
trace "${P[@]}" --exec --cdi-dir "$W/cdi" --device example.com/dev=0 -- "$W/bin/true"
trace "${P[@]}" --exec --cdi-dir "$W/cdi" "${dev8[@]}" -- "$W/bin/true"
trace "${P[@]}" --exec --cdi-dir "$W/cdi-nv" --device nvidia.com/gpu=0 -- "$W/bin/true"
# The embedded policy lets the workload execute only from the system
# directories.
trace -- /bin/true

# Addresses -> names, tier by tier (by name within a tier, each function
# once); then the same functions' names in the aarch64 build, in the same
# order.
nm "$B" | awk '$2 ~ /^[tTwW]$/ { a = $1; sub(/^0*/, "", a); print a, $3 }' >"$W/syms"
for ((t = 1; t <= tier; t++)); do
  cat "$W"/ran.$t.* | sed 's/^0*//' | sort -u |
    awk 'NR == FNR { ran[$1] = 1; next } ($1 in ran) { print $2 }' - "$W/syms" | sort -u
done | awk '!seen[$0]++' >"$W/names"
names_of() { # names_of BINARY: "demangled, no crate hashes<TAB>mangled" of its functions
  nm "$1" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u >"$W/m"
  # c++filt prints a crate's hash as hex without leading zeros.
  paste <(c++filt <"$W/m" | sed -E 's/\[[0-9a-f]+\]//g') "$W/m"
}
names_of "$B" >"$W/x86"
mkdir -p cross/launch-order
for t in "${TRIPLES_ALL[@]}"; do
  arch=${t%%-*}
  {
    echo "# The functions a launch runs on $arch, linked first (build.rs, --symbol-ordering-file)."
    echo "# Written by cross/launch-order.sh; do not edit."
    echo "# rustc: $(rustc -V)"
    if [ "$arch" = x86_64 ]; then
      cat "$W/names"
    else
      names_of "$(CARGO_TARGET_DIR=$tdir binary_path "$t")" >"$W/other"
      awk -F'\t' '
        FILENAME == ARGV[1] { other[$1] = other[$1] $2 "\n"; next }
        FILENAME == ARGV[2] { dem[$2] = $1; next }
        ($0 in dem) && (dem[$0] in other) && !done[dem[$0]]++ { printf "%s", other[dem[$0]] }
      ' "$W/other" "$W/x86" "$W/names"
    fi
  } >"$W/order.$arch"
done
# Nearly every function has its counterpart; far fewer means the names
# were not matched (a demangler that prints them another way).
x=$(grep -vc '^#' "$W/order.x86_64" || true)
a=$(grep -vc '^#' "$W/order.aarch64" || true)
[ "$x" -gt 0 ] || die "no x86_64 function was traced"
[ $((a * 100)) -ge $((x * 95)) ] || die "only $a aarch64 names for $x x86_64 functions"
for t in "${TRIPLES_ALL[@]}"; do
  arch=${t%%-*}
  mv "$W/order.$arch" "cross/launch-order/$arch.txt"
  printf '%s: %s functions\n' "$arch" "$(grep -vc '^#' "cross/launch-order/$arch.txt")"
done
