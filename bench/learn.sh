#!/usr/bin/env bash
# Benchmark: what `learn` costs a workload (not a timed test).
#
#   bench/learn.sh          (as root; builds the static binary for this machine)
#
# Interleaves, ROUNDS times each (default 15, BENCH_ROUNDS), three ways of
# running the same workload: bare (as uid 1500 through setpriv), under
# `run --init` with a policy that lets it through, and under `learn`; and
# prints one markdown table of medians with the overhead of learn over run
# and per observed call. Two workloads: Python importing a few standard
# modules (startup-heavy, ~100 observed calls), and Python opening one file
# 2000 times (one notification per open). Compare within one run: timing
# varies by machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. cross/common.sh

ROUNDS=${BENCH_ROUNDS:-15}
[ "$(id -u)" = 0 ] || die "run as root (the workload runs as uid 1500)"
PY=/usr/bin/python3
for c in setpriv "$PY"; do command -v "$c" >/dev/null || die "$c not found"; done

cross/build.sh "$(uname -m)" >&2
B=$(binary_path "$(triples_for "$(uname -m)")")

W=$(mktemp -d /run/openshell-bench-learn.XXXXXX 2>/dev/null || mktemp -d /var/tmp/openshell-bench-learn.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
mkdir -m 777 "$W/work"
cat >"$W/base.yaml" <<'Y'
version: 1
process: {run_as_user: 1500, run_as_group: 1500}
Y
cat >"$W/run.yaml" <<Y
version: 1
process: {run_as_user: 1500, run_as_group: 1500}
filesystem_policy:
  read_only: [/usr, /etc, /lib, /lib64, /proc]
  read_write: [$W/work, /dev/null]
Y

IMPORTS='import json, decimal, email.utils, argparse, csv, hashlib, pathlib, subprocess'
OPENS='for i in range(2000): open("/etc/hostname").close()'

now() { date +%s%N; }
# time_ns CMD...: wall time of one run in ns (output discarded).
time_ns() {
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>&1 || die "failed: $*"
  t1=$(now)
  echo $((t1 - t0))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v n="$1" 'BEGIN {printf "%.1f ms", n/1e6}'; }

calls_of() { # the learn log's "N calls observed"
  "$B" learn --policy "$W/base.yaml" --output "$W/learned.yaml" --workdir "$W/work" -- "$PY" -B -c "$1" 2>&1 >/dev/null |
    sed -n 's/.*learn: \([0-9]*\) calls observed.*/\1/p'
}

echo "| workload | bare | run --init | learn | learn - run | per observed call |"
echo "|---|---|---|---|---|---|"
for name in imports opens; do
  if [ "$name" = imports ]; then code=$IMPORTS; else code=$OPENS; fi
  : >"$W/bare" && : >"$W/run" && : >"$W/learn"
  for _ in $(seq "$ROUNDS"); do
    time_ns setpriv --reuid=1500 --regid=1500 --clear-groups -- "$PY" -B -c "$code" >>"$W/bare"
    time_ns "$B" --init --log-level error --policy "$W/run.yaml" --workdir "$W/work" -- "$PY" -B -c "$code" >>"$W/run"
    time_ns "$B" learn --log-level error --policy "$W/base.yaml" --output "$W/learned.yaml" --workdir "$W/work" -- "$PY" -B -c "$code" >>"$W/learn"
  done
  bare=$(median <"$W/bare")
  run=$(median <"$W/run")
  learn=$(median <"$W/learn")
  calls=$(calls_of "$code")
  per=$(awk -v d=$((learn - run)) -v c="$calls" 'BEGIN {printf "%.1f µs (%d calls)", d/c/1e3, c}')
  echo "| python3 $name | $(ms "$bare") | $(ms "$run") | $(ms "$learn") | +$(ms $((learn - run))) ×$(awk -v a="$learn" -v b="$run" 'BEGIN {printf "%.2f", a/b}') | $per |"
done
echo
echo "Machine: $(uname -srm), $(nproc) cores; $ROUNDS interleaved rounds, medians."
