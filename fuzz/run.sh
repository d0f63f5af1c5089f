#!/usr/bin/env bash
# Fuzz the policy loader, the CDI spec reader and the YAML readers with
# cargo-fuzz.
#
#   fuzz/run.sh [RUNS]      # default 10000000 executions per target
#
# Builds every target, then runs them one after another, each for RUNS
# executions (libFuzzer -runs=) with a 10 s per-input timeout, and prints
# executions, wall time, crashes and corpus size per target. Exits 1 when
# any target crashed, hung or ran out of memory (the input is kept under
# fuzz/artifacts/TARGET/). Needs nightly Rust and cargo-fuzz
# (`cargo install cargo-fuzz`). Not part of CI: tests/run.sh does not call it.
#
# Seeds and dictionaries are made here from the repository's own files
# (policy/, tests/data/cdi/, src/cdi/spec.rs) into fuzz/seeds and
# fuzz/dict; what libFuzzer finds is kept in fuzz/corpus/TARGET between
# runs. All three are ignored by git.
#
# Environment: FUZZ_TARGETS (default "policy cdi_spec cdi_resolve yaml_readers"),
# FUZZ_TIMEOUT (seconds per input, default 10), FUZZ_ARGS (more libFuzzer
# flags).
set -euo pipefail

runs=${1:-10000000}
[[ $runs =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh [RUNS]" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cd "$here"
targets=(${FUZZ_TARGETS:-policy cdi_spec cdi_resolve yaml_readers})
timeout=${FUZZ_TIMEOUT:-10}

# --- seeds ----------------------------------------------------------------
rm -rf seeds dict
mkdir -p seeds/policy seeds/cdi_spec seeds/cdi_resolve seeds/yaml_readers dict

for f in "$repo"/policy/default.yaml "$repo"/policy/examples/*.yaml; do
  cp "$f" "seeds/policy/$(basename "$f")"
done

# CDI specs: every fixture except the golden outputs.
cdi=$repo/tests/data/cdi
mapfile -t specs < <(cd "$cdi" && find . -type f \( -name '*.json' -o -name '*.yaml' -o -name '*.yml' \) \
  -not -path './golden/*' | sort)
for f in "${specs[@]}"; do
  cp "$cdi/$f" "seeds/cdi_spec/$(echo "${f#./}" | tr / _)"
done
# Resolution: "*" requests every device; each fixture directory's files
# together (NUL-separated, as the target splits them), and each file alone.
for d in $(printf '%s\n' "${specs[@]}" | cut -d/ -f2 | sort -u); do
  {
    printf '* nvidia.com/gpu=0 vendor.example/missing=x\n'
    first=1
    for f in "${specs[@]}"; do
      [[ $f == ./$d/* ]] || continue
      ((first)) || printf '\0'
      first=0
      cat "$cdi/$f"
    done
  } >"seeds/cdi_resolve/dir-$d"
done
for f in "${specs[@]}"; do
  { printf '*\n'; cat "$cdi/$f"; } >"seeds/cdi_resolve/$(echo "${f#./}" | tr / _)"
done

# The readers' target: every policy and CDI spec above.
cp seeds/policy/* seeds/cdi_spec/* seeds/yaml_readers/

# --- dictionaries -----------------------------------------------------------
yaml_tokens() {
  printf '%s\n' '": "' '"- "' '"\x0a  "' '"\x0a- "' '"["' '"]"' '"{"' '"}"' '","' \
    '"\x22"' "\"'\"" '"#"' '"|"' '">"' '"~"' '"null"' '"true"' '"false"' \
    '"&a "' '"*a"' '"!!str "' '"---\x0a"' '"\x0a...\x0a"' '"\x09"' '"\x0d\x0a"' \
    '"0x"' '"0o"' '".inf"' '"/"' '".."' '"0"' '"65535"' '"4294967295"'
}
{
  yaml_tokens
  # Every name in the schema: keys, enum values, type names.
  grep -oE '"[A-Za-z_][A-Za-z0-9_./-]*"' "$repo/policy/schema.json" | sort -u
} >dict/policy.dict
{
  yaml_tokens
  # Every key of the fixtures, and the words the reader knows.
  cat "${specs[@]/#/$cdi/}" | grep -oE '[A-Za-z][A-Za-z0-9]*"?:' | tr -d '":' | sort -u | sed 's/.*/"&"/'
  grep -oE '"[A-Za-z][A-Za-z0-9_.-]*"' "$repo/src/cdi/spec.rs" | sort -u
  printf '%s\n' '"cdiVersion: "' '"0.3.0"' '"0.5.0"' '"0.6.0"' '"0.7.0"' '"0.8.0"' '"1.0.0"' '"1.1.0"' '"="' '"\x00"'
} | sort -u >dict/cdi.dict
dict_of() { case $1 in policy | yaml_readers) echo dict/policy.dict ;; *) echo dict/cdi.dict ;; esac; }

# --- build and run ----------------------------------------------------------
# The library forbids unsafe code, so AddressSanitizer would find little
# and cost half the speed; debug assertions (overflow checks) stay on.
# Built once, then the binaries run directly: `cargo fuzz run` would ask
# cargo again, and the main crate's build script reruns in a git worktree.
cargo +nightly fuzz build --sanitizer none
bin=$here/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release

summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  log=$(mktemp)
  start=$(date +%s)
  set +e
  "$bin/$t" "corpus/$t" "seeds/$t" \
    -runs="$runs" -timeout="$timeout" -dict="$(dict_of "$t")" \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" ${FUZZ_ARGS:-} 2>&1 | tee "$log" |
    awk '/^#[0-9]+[[:space:]]+(INITED|DONE)|^Done|ERROR|^Test unit written/ { print; fflush() }
         /panicked at/ { print; if ((getline line) > 0) print line; fflush() }'
  rc=${PIPESTATUS[0]}
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  after=$(find "artifacts/$t" -type f | wc -l)
  crashes=$((after - before))
  ((rc == 0 || crashes > 0)) || crashes=1 # a failure that left no input
  # libFuzzer's own count (inputs it keeps / their size); the directory
  # also holds inputs that later ones replaced.
  corpus=$(grep -oE 'DONE .* corp: [0-9]+/[0-9]+[A-Za-z]*' "$log" | sed 's/.*corp: //' | tail -1)
  [[ -n $corpus ]] || corpus="$(find "corpus/$t" -type f | wc -l) files"
  rm -f "$log"
  ((crashes == 0)) || failed=1
  summary+=("$(printf '%-12s %12s %8ss %8s  %s' "$t" "${execs:-?}" "$secs" "$crashes" "$corpus")")
done

echo
printf '%-12s %12s %9s %8s  %s\n' target executions time crashes corpus
printf '%s\n' "${summary[@]}"
exit "$failed"
