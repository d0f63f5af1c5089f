#!/usr/bin/env bash
# Package release binaries as verified per-arch bundles.
#
#   cross/bundle.sh [--out DIR] [x86_64|aarch64|all]        (default: all, DIR dist)
#   cross/bundle.sh [--out DIR] --bin FILE --arch amd64|arm64
#
# Writes DIR/openshell-sandbox-<version>-<amd64|arm64>.tar.gz holding one
# top-level directory:
#
#   openshell-sandbox-<version>-<arch>/
#     manifest.json                        name, version, commit, arch, files
#     opt/openshell/bin/openshell-sandbox  mode 0755
#
# manifest.json lists every file with its path (relative to the top-level
# directory), sha256, size and mode; cross/verify-bundle.sh checks all of
# it before anything is staged, and here before a bundle is kept. Version and commit come from the binary's
# own `version --json` (run under qemu for a foreign arch). The tarball is
# deterministic: sorted names, owner 0:0, fixed modes, every mtime set to
# SOURCE_DATE_EPOCH (default: the time of the binary's commit when git knows
# it, else 0), gzip without name or time: the bundle depends on the binary
# alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. cross/common.sh

usage() {
  echo "usage: cross/bundle.sh [--out DIR] [x86_64|aarch64|all]" >&2
  echo "       cross/bundle.sh [--out DIR] --bin FILE --arch amd64|arm64" >&2
  exit 2
}

out=dist
bin=""
bin_arch=""
which=all
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --bin) [ $# -ge 2 ] || usage; bin=$2; shift 2 ;;
    --arch) [ $# -ge 2 ] || usage; bin_arch=$2; shift 2 ;;
    -*) usage ;;
    *) which=$1; shift ;;
  esac
done

need_cmd python3 python3
need_cmd gzip gzip
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is needed (for --sort=name)"

# bundle FILE TRIPLE
bundle() {
  local file=$1 triple=$2 arch run json version commit top stage tarball epoch
  arch=$(deb_arch "$triple")
  [ -f "$file" ] || die "$file: missing; run cross/build.sh first"
  # Refuse to package a binary for another machine.
  python3 - "$file" "$arch" <<'PY' || exit 1
import sys

path, arch = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    head = f.read(20)
if head[:4] != b"\x7fELF" or len(head) < 20:
    sys.exit(f"bundle.sh: {path} is not an ELF executable")
machine = int.from_bytes(head[18:20], "little")
found = {62: "amd64", 183: "arm64"}.get(machine, f"machine {machine}")
if found != arch:
    sys.exit(f"bundle.sh: {path} is built for {found}, not {arch}")
PY
  run=$(runner_for "$triple")
  json=$(${run:+"$run"} "$file" version --json) || die "$file: version --json failed"
  read -r version commit < <(python3 -c '
import json, sys
v = json.loads(sys.argv[1])
print(v["version"], v["commit"])
' "$json") || die "$file: cannot read version --json"

  epoch=${SOURCE_DATE_EPOCH:-$(git show -s --format=%ct "$commit^{commit}" 2>/dev/null || echo 0)}
  top="openshell-sandbox-$version-$arch"
  stage=$(mktemp -d)
  mkdir -p "$stage/$top/opt/openshell/bin"
  cp "$file" "$stage/$top/opt/openshell/bin/openshell-sandbox"
  chmod 0755 "$stage/$top/opt/openshell/bin/openshell-sandbox"
  python3 - "$stage/$top" "$arch" "$version" "$commit" <<'PY'
import hashlib, json, os, sys

top, arch, version, commit = sys.argv[1:5]
files = []
for root, dirs, names in os.walk(top):
    for n in names:
        p = os.path.join(root, n)
        rel = os.path.relpath(p, top)
        with open(p, "rb") as f:
            data = f.read()
        files.append({
            "path": rel,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "mode": "%04o" % (os.stat(p).st_mode & 0o7777),
        })
files.sort(key=lambda f: f["path"])
manifest = {"name": "openshell-sandbox", "version": version, "commit": commit,
            "arch": arch, "files": files}
with open(os.path.join(top, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
PY
  chmod 0644 "$stage/$top/manifest.json"
  find "$stage/$top" -type d -exec chmod 0755 {} +

  mkdir -p "$out"
  tarball="$out/$top.tar.gz"
  tar --sort=name --format=ustar --owner=0 --group=0 --numeric-owner \
    --mtime="@$epoch" -C "$stage" -cf - "$top" | gzip -9 -n >"$tarball.tmp"
  rm -rf "$stage"
  # Never leave a bundle behind that the verifier would refuse.
  cross/verify-bundle.sh "$tarball.tmp" "$arch" >/dev/null || {
    rm -f "$tarball.tmp"
    die "$tarball: the new bundle does not verify"
  }
  mv "$tarball.tmp" "$tarball"
  printf '%s  %s\n' "$(sha256sum "$tarball" | cut -d' ' -f1)" "$tarball"
}

if [ -n "$bin" ]; then
  case "$bin_arch" in
    amd64 | x86_64) bundle "$bin" x86_64-unknown-linux-musl ;;
    arm64 | aarch64) bundle "$bin" aarch64-unknown-linux-musl ;;
    *) usage ;;
  esac
else
  [ -z "$bin_arch" ] || usage
  read -r -a triples <<<"$(triples_for "$which")" || usage
  for t in "${triples[@]}"; do
    bundle "$(binary_path "$t")" "$t"
  done
fi
