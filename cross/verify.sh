#!/usr/bin/env bash
# Check the binaries cross/build.sh produced.
#
#   cross/verify.sh [--reproducible]
#
# For each architecture: static (no program interpreter, no NEEDED
# libraries), the ELF machine matches, the size is within budget (goal
# 1.25 MiB, stretch 1 MiB, failure above 2 MiB), stripped, most of the
# launch's functions listed in cross/launch-order/ still in the build
# (linked first), and the binary runs —
# natively or under qemu user-mode emulation — for --version, version
# --json, `check` of every policy in policy/ and `plan` of each.
#
# --reproducible: also copy the tree to a fresh directory, build it there
# with a fresh target directory and require byte-identical binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
. cross/common.sh

reproducible=false
case "${1:-}" in
  "") ;;
  --reproducible) reproducible=true ;;
  *) die "usage: cross/verify.sh [--reproducible]" ;;
esac
[ $# -le 1 ] || die "usage: cross/verify.sh [--reproducible]"

need_cmd readelf binutils
need_cmd python3 python3
need_cmd sha256sum coreutils

GOAL=$((5 * 1024 * 1024 / 4))
STRETCH=$((1024 * 1024))
LIMIT=$((2 * 1024 * 1024))
policies=(policy/*.yaml policy/examples/*.yaml)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
failed=0

fail() {
  printf 'FAIL %s\n' "$*" >&2
  failed=1
}

mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }

# sections BINARY: readelf's section lines without their "[ N]": name,
# type, address, offset, size, ...
sections() { readelf -SW "$1" | sed -n 's/^ *\[ *[0-9]*\] *//p'; }

# The launch's functions linked first (cross/build.sh, build.rs): how many
# of the names in cross/launch-order/<arch>.txt this binary's link map
# (target/link-maps/<triple>.map, lld's, names not demangled) places at
# the start of .text, before the first input section that defines none of
# them; and .init/.fini before .text (cross/launch.ld). The map must be
# this binary's: its .text where readelf finds it. Most names carry the
# crate's id, which cargo derives from the package version, the
# dependencies, the profile and the toolchain; when one of those changes,
# or the launch's code does, the list falls behind, and a launch maps code
# it does not run (memory, not safety). Built with another rustc than the
# one the list records, that is a warning, not a failure.
launch_order() {
  local t=$1 b=$2 list map listed placed text maptext written used
  list=cross/launch-order/${t%%-*}.txt
  map=$(target_dir)/link-maps/$t.map
  if [ ! -f "$list" ]; then
    fail "$t: $list missing; hint: run cross/launch-order.sh (as root, on x86_64)"
    return
  fi
  if [ ! -f "$map" ]; then
    fail "$t: $map missing; hint: run cross/build.sh (touch build.rs first if it finds nothing to do)"
    return
  fi
  text=$(sections "$b" | awk '$1 == ".text" { a = $3; z = $5; sub(/^0+/, "", a); sub(/^0+/, "", z); print a, z }')
  maptext=$(awk '$NF == ".text" && NF == 5 { print $1, $3; exit }' "$map")
  if [ -z "$text" ] || [ "$text" != "$maptext" ]; then
    fail "$t: $map is not this binary's (.text ${maptext:-absent} in the map, ${text:-absent} in the binary); hint: run cross/build.sh (touch build.rs first if it finds nothing to do)"
    return
  fi
  if [ "$(sections "$b" | awk '$1 == ".init" || $1 == ".text" { printf "%s ", $1 }')" != ".init .text " ]; then
    fail "$t: .init is not before .text (cross/launch.ld was not used)"
  fi
  listed=$(grep -vc '^#' "$list" || true)
  if [ "$listed" -eq 0 ]; then
    fail "$t: $list names no function; hint: run cross/launch-order.sh (as root, on x86_64)"
    return
  fi
  placed=$(awk '
    NR == FNR { if ($0 !~ /^#/ && NF) want[$0] = 1; next }
    FNR == 1 { out = index($0, "Out"); in_ = index($0, "In "); sym = index($0, "Symbol"); next }
    substr($0, out, 1) != " " { text = ($NF == ".text"); next } # an output section
    !text || done { next }
    substr($0, in_, 1) != " " { if (open && !hit) done = 1; open = 1; hit = 0; next } # an input section
    { name = substr($0, sym) }
    name in want { hit = 1; if (!seen[name]++) n++ }
    END { print n + 0 }' "$list" "$map")
  # A new toolchain renames nearly every function: say so, but do not
  # fail a build for the compiler it was given.
  written=$(sed -n 's/^# rustc: //p' "$list")
  used=$(rustc -V)
  if [ $((placed * 100)) -ge $((listed * 90)) ]; then
    echo "ok   launch order: $placed of the $listed functions $list names linked first"
  elif [ -n "$written" ] && [ "$written" != "$used" ]; then
    echo "WARN launch order: only $placed of the $listed functions $list names are linked first: the list was written with $written, this build used $used; hint: run cross/launch-order.sh (as root, on x86_64) and commit the lists"
  else
    fail "$t: only $placed of the $listed functions $list names are linked first, so a launch maps code it does not run; hint: run cross/launch-order.sh (as root, on x86_64) and commit the lists"
  fi
}

verify_one() {
  local t=$1 b run out size machine
  b=$(binary_path "$t")
  echo "== $t"
  if [ ! -f "$b" ]; then
    fail "$b: missing; run cross/build.sh first"
    return
  fi

  if readelf -lW "$b" | grep -q 'INTERP'; then
    fail "$t: has a program interpreter: $(readelf -lW "$b" | grep -o 'interpreter: [^]]*')"
  else
    echo "ok   no program interpreter"
  fi
  if readelf -dW "$b" | grep -q '(NEEDED)'; then
    fail "$t: needs shared libraries: $(readelf -dW "$b" | grep '(NEEDED)' | tr -s ' ' | tr '\n' ';')"
  else
    echo "ok   no NEEDED libraries"
  fi
  machine=$(readelf -hW "$b" | sed -n 's/^ *Machine: *//p')
  if [ "$machine" = "$(elf_machine "$t")" ]; then
    echo "ok   ELF machine $machine"
  else
    fail "$t: ELF machine is \"$machine\", expected \"$(elf_machine "$t")\""
  fi

  size=$(stat -c %s "$b")
  if [ "$size" -gt "$LIMIT" ]; then
    fail "$t: size $size bytes ($(mib "$size")) is above the 2 MiB limit"
  elif [ "$size" -gt "$GOAL" ]; then
    echo "WARN size $size bytes ($(mib "$size")): above the 1.25 MiB goal (limit 2 MiB)"
  elif [ "$size" -gt "$STRETCH" ]; then
    echo "ok   size $size bytes ($(mib "$size")): within the 1.25 MiB goal, above the 1 MiB stretch"
  else
    echo "ok   size $size bytes ($(mib "$size")): within the 1 MiB stretch goal"
  fi

  local unstripped
  unstripped=$(sections "$b" | awk '$1 ~ /^\.(symtab|debug_[a-z_]+)$/ { printf "%s ", $1 }')
  if [ -n "$unstripped" ]; then
    fail "$t: not stripped: $unstripped"
  else
    echo "ok   stripped: no .symtab, no .debug_*"
  fi
  launch_order "$t" "$b"

  run=$(runner_for "$t")
  local -a cmd=()
  [ -n "$run" ] && cmd=("$run")
  cmd+=("$b")
  echo "     running with: ${run:-native}"

  if out=$("${cmd[@]}" --version 2>&1) && [[ "$out" == "openshell-sandbox $version ("*", $t)" ]]; then
    echo "ok   --version: $out"
  else
    fail "$t: --version printed \"$out\", expected \"openshell-sandbox $version (..., $t)\""
  fi
  if out=$("${cmd[@]}" version --json 2>&1) &&
    python3 -c '
import json, sys
v = json.loads(sys.argv[1])
assert v["target"] == sys.argv[2], "target " + v["target"]
assert v["profile"] == "release", "profile " + v["profile"]
assert v["version"] == sys.argv[3], "version " + v["version"]
print("ok   version --json: target %s, profile release, commit %s, reproducible_clean %s"
      % (v["target"], v["commit"][:12], str(v.get("reproducible_clean")).lower()))
' "$out" "$t" "$version"; then
    :
  else
    fail "$t: version --json: $out"
  fi
  if out=$("${cmd[@]}" check "${policies[@]}" 2>&1); then
    echo "ok   check: ${#policies[@]} policies"
  else
    fail "$t: check failed: $out"
  fi
  local p n=0
  for p in "${policies[@]}"; do
    if out=$("${cmd[@]}" plan --format json --policy "$p" -- /bin/true 2>&1) &&
      python3 -c 'import json, sys; json.loads(sys.argv[1])["command"]' "$out" 2>/dev/null; then
      n=$((n + 1))
    else
      fail "$t: plan --policy $p: $out"
    fi
  done
  echo "ok   plan: $n of ${#policies[@]} policies"
}

# Copy the tree as git sees it (tracked and untracked-but-not-ignored files,
# with their working-tree contents) to DIR.
copy_tree() {
  local dst=$1
  mkdir -p "$dst"
  if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
      tar --null -T - -cf - | tar -xf - -C "$dst"
  else
    tar --exclude=./target --exclude=./dist -cf - . | tar -xf - -C "$dst"
  fi
}

verify_reproducible() {
  local tmp t a b ha hb
  echo "== reproducible: second build from a copy of the tree in a fresh directory"
  tmp=$(mktemp -d /tmp/openshell-repro.XXXXXX)
  # The copy has no .git: hand it this tree's commit and dirty flag.
  export_build_facts
  if [ "${OPENSHELL_BUILD_DIRTY:-}" = true ]; then
    echo "note the tree has uncommitted changes: comparing two builds of the working tree"
  fi
  copy_tree "$tmp/src"
  (cd "$tmp/src" && CARGO_TARGET_DIR="$tmp/target" cross/build.sh all) >"$tmp/build.log" 2>&1 || {
    cat "$tmp/build.log" >&2
    fail "reproducible: the second build failed (log above)"
    rm -rf "$tmp"
    return
  }
  for t in "${TRIPLES_ALL[@]}"; do
    a=$(binary_path "$t")
    b="$tmp/target/$t/release/openshell-sandbox"
    ha=$(sha256sum "$a" | cut -d' ' -f1)
    hb=$(sha256sum "$b" | cut -d' ' -f1)
    if [ "$ha" = "$hb" ]; then
      echo "ok   $t: identical, sha256 $ha"
    else
      fail "$t: not reproducible: $a is $ha, the build in $tmp/src gives $hb"
    fi
  done
  rm -rf "$tmp"
}

for t in "${TRIPLES_ALL[@]}"; do
  verify_one "$t"
done
if $reproducible && [ "$failed" = 0 ]; then
  verify_reproducible
fi

if [ "$failed" != 0 ]; then
  echo "cross/verify.sh: FAILED" >&2
  exit 1
fi
echo "cross/verify.sh: all checks passed"
