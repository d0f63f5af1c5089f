#!/usr/bin/env bash
# Check a bundle made by cross/bundle.sh before anything from it is staged.
#
#   cross/verify-bundle.sh TARBALL [amd64|arm64|x86_64|aarch64]
#
# Accepts (exit 0) only a gzip tar with exactly one top-level directory,
# openshell-sandbox-<version>-<arch>, holding manifest.json and the files it
# lists, nothing else: regular files and their parent directories only (no
# symlinks, hard links or special files, no absolute or `..` paths, no
# duplicate names). manifest.json must be valid JSON with name, version,
# commit, arch and files[{path, sha256, size, mode}]; every listed file
# must match its size, sha256 and mode; opt/openshell/bin/openshell-sandbox
# must be listed, executable, and an ELF executable for the manifest's
# arch; and the manifest's arch must be ARCH when one is given.
#
# Anything else is refused with one line on stderr,
# `verify-bundle: TARBALL: <reason>`, and exit 1 (2 for a usage error).
# The archive is read, never extracted.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: cross/verify-bundle.sh TARBALL [amd64|arm64]" >&2
  exit 2
fi
command -v python3 >/dev/null 2>&1 || {
  echo "verify-bundle: python3 not found; hint: apt-get install python3" >&2
  exit 1
}

exec python3 - "$@" <<'PY'
import hashlib
import json
import re
import sys
import tarfile

REQUIRED = "opt/openshell/bin/openshell-sandbox"
ARCHES = {"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64"}
MACHINES = {62: "amd64", 183: "arm64"}
MAX_ENTRY = 256 * 1024 * 1024

tarball = sys.argv[1]
want_arch = None
if len(sys.argv) > 2:
    want_arch = ARCHES.get(sys.argv[2])
    if want_arch is None:
        print(f"verify-bundle: unknown arch {sys.argv[2]!r} (amd64 or arm64)", file=sys.stderr)
        sys.exit(2)


class Refused(Exception):
    pass


def safe_parts(path):
    """The components of a relative path without '', '.' or '..'."""
    if path.startswith("/"):
        raise Refused(f"unsafe path {path!r}: absolute")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise Refused(f"unsafe path {path!r}: empty, '.' or '..' component")
    return parts


def kind(m):
    if m.issym():
        return f"a symlink to {m.linkname!r}"
    if m.islnk():
        return f"a hard link to {m.linkname!r}"
    return "a device, fifo or other special file"


def read_members(tf):
    """name -> (member, bytes or None), refusing unsafe entries."""
    entries = {}
    for m in tf.getmembers():
        safe_parts(m.name)
        if not (m.isfile() or m.isdir()):
            raise Refused(f"entry {m.name!r} is {kind(m)}; only regular files and directories are allowed")
        if m.name in entries:
            raise Refused(f"duplicate entry {m.name!r}")
        data = None
        if m.isfile():
            if m.size > MAX_ENTRY:
                raise Refused(f"entry {m.name!r} is larger than {MAX_ENTRY} bytes")
            data = tf.extractfile(m).read()
        entries[m.name] = (m, data)
    return entries


def field(manifest, key, typ, what):
    v = manifest.get(key)
    if not isinstance(v, typ) or isinstance(v, bool):
        raise Refused(f"manifest.json: {key!r} missing or not {what}")
    return v


def check_manifest(raw):
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused(f"manifest.json is not valid JSON: {e}")
    if not isinstance(manifest, dict):
        raise Refused("manifest.json: not a JSON object")
    name = field(manifest, "name", str, "a string")
    if name != "openshell-sandbox":
        raise Refused(f"manifest.json: name is {name!r}, expected 'openshell-sandbox'")
    field(manifest, "version", str, "a string")
    field(manifest, "commit", str, "a string")
    arch = field(manifest, "arch", str, "a string")
    if arch not in MACHINES.values():
        raise Refused(f"manifest.json: unknown arch {arch!r} (amd64 or arm64)")
    files = field(manifest, "files", list, "a list")
    seen = set()
    for i, f in enumerate(files):
        if not isinstance(f, dict):
            raise Refused(f"manifest.json: files[{i}] is not an object")
        path = field(f, "path", str, "a string")
        safe_parts(path)
        if path in seen:
            raise Refused(f"manifest.json: {path!r} listed twice")
        seen.add(path)
        sha = field(f, "sha256", str, "a string")
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise Refused(f"manifest.json: files[{i}].sha256 is not 64 lowercase hex digits")
        size = field(f, "size", int, "an integer")
        if size < 0:
            raise Refused(f"manifest.json: files[{i}].size is negative")
        mode = field(f, "mode", str, "a string")
        if not re.fullmatch(r"0[0-7]{3}", mode):
            raise Refused(f"manifest.json: files[{i}].mode {mode!r} is not an octal mode like '0755'")
    return manifest


def verify():
    try:
        tf = tarfile.open(tarball, "r:gz")
    except FileNotFoundError:
        raise Refused("no such file")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise Refused(f"not a gzip-compressed tar archive: {e}")
    with tf:
        try:
            entries = read_members(tf)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise Refused(f"corrupt archive: {e}")

    tops = sorted({name.split("/")[0] for name in entries})
    if len(tops) != 1:
        raise Refused(f"more than one top-level entry: {', '.join(tops) or 'none'}")
    top = tops[0]
    if top not in entries or not entries[top][0].isdir():
        raise Refused(f"top-level entry {top!r} is not a directory")

    mpath = f"{top}/manifest.json"
    if mpath not in entries:
        raise Refused(f"missing {mpath}")
    m_member, m_data = entries[mpath]
    if m_data is None:
        raise Refused(f"{mpath} is not a regular file")
    manifest = check_manifest(m_data)
    arch = manifest["arch"]

    expected_top = f"openshell-sandbox-{manifest['version']}-{arch}"
    if top != expected_top:
        raise Refused(f"top-level directory {top!r} does not match the manifest (expected {expected_top!r})")
    if want_arch is not None and arch != want_arch:
        raise Refused(f"arch mismatch: expected {want_arch}, the manifest says {arch}")

    listed = {f["path"]: f for f in manifest["files"]}
    if REQUIRED not in listed:
        raise Refused(f"missing required path {REQUIRED}")
    for path, f in sorted(listed.items()):
        full = f"{top}/{path}"
        if full not in entries:
            raise Refused(f"{path} is listed in the manifest but missing from the archive")
        member, data = entries[full]
        if data is None:
            raise Refused(f"{path} is listed in the manifest but is not a regular file")
        if len(data) != f["size"]:
            raise Refused(f"size mismatch for {path}: manifest {f['size']} bytes, archive {len(data)} bytes")
        digest = hashlib.sha256(data).hexdigest()
        if digest != f["sha256"]:
            raise Refused(f"checksum mismatch for {path}: manifest sha256 {f['sha256']}, archive {digest}")
        mode = "%04o" % (member.mode & 0o7777)
        if mode != f["mode"]:
            raise Refused(f"mode mismatch for {path}: manifest {f['mode']}, archive {mode}")

    binary = listed[REQUIRED]
    if int(binary["mode"], 8) & 0o111 != 0o111:
        raise Refused(f"{REQUIRED} is not executable (mode {binary['mode']})")

    # Directories are allowed only on the way to a listed file.
    needed_dirs = {top}
    for path in listed:
        parts = path.split("/")
        for i in range(1, len(parts)):
            needed_dirs.add("/".join([top] + parts[:i]))
    for name, (member, data) in sorted(entries.items()):
        if name == mpath:
            continue
        if data is not None and name[len(top) + 1:] not in listed:
            raise Refused(f"unlisted file {name[len(top) + 1:]}")
        if data is None and name not in needed_dirs:
            raise Refused(f"unlisted directory {name[len(top) + 1:]}")

    head = entries[f"{top}/{REQUIRED}"][1][:20]
    if head[:4] != b"\x7fELF" or len(head) < 20 or head[5] != 1 or int.from_bytes(head[16:18], "little") not in (2, 3):
        raise Refused(f"{REQUIRED} is not a little-endian ELF executable")
    machine = int.from_bytes(head[18:20], "little")
    elf_arch = MACHINES.get(machine, f"machine {machine}")
    if elf_arch != arch:
        raise Refused(f"arch mismatch: the manifest says {arch} but {REQUIRED} is built for {elf_arch}")
    return manifest


try:
    m = verify()
except Refused as e:
    print(f"verify-bundle: {tarball}: {e}", file=sys.stderr)
    sys.exit(1)
print(f"verify-bundle: {tarball}: ok: {m['name']} {m['version']} ({m['commit'][:12]}) for {m['arch']}, {len(m['files'])} file(s)")
PY
