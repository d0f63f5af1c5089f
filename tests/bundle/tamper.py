"""Write a tampered copy of a bundle made by cross/bundle.sh.

    python3 tests/bundle/tamper.py GOOD.tar.gz OUT.tar.gz VARIANT

Each VARIANT breaks one rule cross/verify-bundle.sh enforces; tests/bundle.rs
asserts the message for each.
"""
import copy
import io
import json
import sys
import tarfile

good, out, variant = sys.argv[1:4]
BIN = "opt/openshell/bin/openshell-sandbox"

with tarfile.open(good, "r:gz") as tf:
    entries = [(m, tf.extractfile(m).read() if m.isfile() else None) for m in tf.getmembers()]
top = entries[0][0].name.split("/")[0]


def find(name):
    for i, (m, _) in enumerate(entries):
        if m.name == name:
            return i
    raise SystemExit(f"tamper: no entry {name}")


def get_manifest():
    return json.loads(entries[find(f"{top}/manifest.json")][1])


def put_manifest(m, raw=None):
    i = find(f"{top}/manifest.json")
    entries[i] = (entries[i][0], raw if raw is not None else json.dumps(m, indent=2).encode())


def add(name, data=None, kind=tarfile.REGTYPE, linkname="", mode=0o644):
    m = tarfile.TarInfo(name)
    m.type = kind
    m.mode = mode
    m.linkname = linkname
    m.mtime = entries[0][0].mtime
    if data is not None:
        m.size = len(data)
    entries.append((m, data))


def rename_top(new):
    global top
    for m, _ in entries:
        m.name = new + m.name[len(top):]
    top = new


if variant == "two_top_level":
    add("README", b"hello\n")
elif variant == "invalid_json":
    put_manifest(None, raw=b'{"name": "openshell-sandbox", ')
elif variant == "manifest_arch_vs_elf":
    m = get_manifest()
    other = "arm64" if m["arch"] == "amd64" else "amd64"
    m["arch"] = other
    put_manifest(m)
    rename_top(f"openshell-sandbox-{m['version']}-{other}")
elif variant == "checksum":
    i = find(f"{top}/{BIN}")
    data = bytearray(entries[i][1])
    data[len(data) // 2] ^= 0xFF
    entries[i] = (entries[i][0], bytes(data))
elif variant == "size":
    m = get_manifest()
    m["files"][0]["size"] += 1
    put_manifest(m)
elif variant == "missing_required":
    entries.pop(find(f"{top}/{BIN}"))
    m = get_manifest()
    m["files"] = [f for f in m["files"] if f["path"] != BIN]
    put_manifest(m)
elif variant == "listed_but_missing":
    m = get_manifest()
    m["files"].append({"path": "opt/openshell/bin/helper", "sha256": "0" * 64, "size": 1, "mode": "0755"})
    put_manifest(m)
elif variant == "unlisted_file":
    add(f"{top}/opt/openshell/bin/helper", b"#!/bin/sh\n", mode=0o755)
elif variant == "unlisted_directory":
    add(f"{top}/etc", kind=tarfile.DIRTYPE, mode=0o755)
elif variant == "missing_manifest":
    entries.pop(find(f"{top}/manifest.json"))
elif variant == "wrong_top_level":
    rename_top("payload")
elif variant == "path_traversal":
    add(f"{top}/../evil", b"x")
elif variant == "absolute_path":
    add("/etc/cron.d/evil", b"x")
elif variant == "symlink":
    add(f"{top}/opt/openshell/bin/sh", kind=tarfile.SYMTYPE, linkname="/bin/sh", mode=0o777)
elif variant == "hardlink":
    add(f"{top}/opt/openshell/bin/again", kind=tarfile.LNKTYPE, linkname=f"{top}/{BIN}")
elif variant == "duplicate":
    add(f"{top}/{BIN}", b"#!/bin/sh\necho pwned\n", mode=0o755)
elif variant == "mode":
    i = find(f"{top}/{BIN}")
    entries[i][0].mode = 0o644
elif variant == "not_executable":
    i = find(f"{top}/{BIN}")
    entries[i][0].mode = 0o644
    m = get_manifest()
    m["files"][0]["mode"] = "0644"
    put_manifest(m)
elif variant == "not_gzip":
    with open(out, "wb") as f:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tw:
            for m, data in entries:
                tw.addfile(m, io.BytesIO(data) if data is not None else None)
    sys.exit(0)
else:
    raise SystemExit(f"tamper: unknown variant {variant}")

with tarfile.open(out, "w:gz", compresslevel=1, format=tarfile.GNU_FORMAT) as tw:
    for m, data in entries:
        m = copy.copy(m)
        if data is not None:
            m.size = len(data)
        tw.addfile(m, io.BytesIO(data) if data is not None else None)
