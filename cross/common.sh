# shellcheck shell=bash
# Shared by the cross/ scripts (sourced, not run). Keeps the target list,
# the arch names and the way a binary is run in one place.

TRIPLES_ALL=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)

die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

# x86_64|aarch64|all -> triples
triples_for() {
  case "${1:-all}" in
    x86_64 | amd64) echo x86_64-unknown-linux-musl ;;
    aarch64 | arm64) echo aarch64-unknown-linux-musl ;;
    all) echo "${TRIPLES_ALL[@]}" ;;
    *) return 1 ;;
  esac
}

# triple -> Debian/OCI arch name used in bundle names and manifests
deb_arch() {
  case "$1" in
    x86_64-*) echo amd64 ;;
    aarch64-*) echo arm64 ;;
    *) return 1 ;;
  esac
}

# triple -> the "Machine:" line readelf -h prints for it
elf_machine() {
  case "$1" in
    x86_64-*) echo "Advanced Micro Devices X86-64" ;;
    aarch64-*) echo "AArch64" ;;
    *) return 1 ;;
  esac
}

target_dir() {
  echo "${CARGO_TARGET_DIR:-$PWD/target}"
}

binary_path() {
  echo "$(target_dir)/$1/release/openshell-sandbox"
}

# Install Debian packages when running as root; otherwise say what is missing.
need_cmd() { # need_cmd COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $2 (for $1)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || die "$1 not found; hint: apt-get install $2 (as root)"
}

# The command prefix that runs a binary built for the triple on this host:
# nothing when the host has that arch, else the qemu user-mode emulator.
runner_for() {
  local want host
  want=${1%%-*}
  host=$(uname -m)
  if [ "$want" = "$host" ]; then
    echo ""
    return
  fi
  local q
  for q in "qemu-$want-static" "qemu-$want"; do
    if command -v "$q" >/dev/null 2>&1; then
      echo "$q"
      return
    fi
  done
  need_cmd "qemu-$want-static" qemu-user-static
  echo "qemu-$want-static"
}

# The commit and dirty flag build.rs records, computed the way build.rs
# does (tracked files only) and exported so a copy of the tree without
# .git builds the same bytes. Values already in the environment win.
export_build_facts() {
  git rev-parse --verify -q HEAD >/dev/null 2>&1 || return 0
  : "${OPENSHELL_BUILD_COMMIT:=$(git rev-parse HEAD)}"
  if [ -z "${OPENSHELL_BUILD_DIRTY:-}" ]; then
    if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
      OPENSHELL_BUILD_DIRTY=true
    else
      OPENSHELL_BUILD_DIRTY=false
    fi
  fi
  export OPENSHELL_BUILD_COMMIT OPENSHELL_BUILD_DIRTY
}

# example_cdi_spec SPEC NODES: writes SPEC, a CDI spec of eight devices
# (example.com/dev=0 to 7), each with one node NODES/nodeN made here as a
# /dev/null look-alike (c 1:3). Used by bench/run.sh and launch-order.sh.
example_cdi_spec() {
  local i
  {
    echo "cdiVersion: 0.5.0"
    echo "kind: example.com/dev"
    echo "devices:"
    for i in 0 1 2 3 4 5 6 7; do
      mknod -m 666 "$2/node$i" c 1 3
      echo "- name: \"$i\""
      echo "  containerEdits:"
      echo "    deviceNodes: [{path: $2/node$i, type: c, major: 1, minor: 3}]"
    done
  } >"$1"
}

# nvidia_cdi_spec ROOT: prints a CDI spec shaped as `nvidia-ctk cdi
# generate` writes one for a node with 8 GPUs: index and UUID names, each
# with its nodes and a create-symlinks hook (`--link` arguments with
# `::`), an `all` device, and spec-wide control nodes, an ldcache hook and
# 32 driver mounts. Every path it grants lies beneath ROOT ("" for the
# real ones). Used by bench/run.sh and launch-order.sh.
nvidia_cdi_spec() {
  local R=$1 i name n l b
  echo "cdiVersion: 0.5.0"
  echo "kind: nvidia.com/gpu"
  echo "devices:"
  for i in 0 1 2 3 4 5 6 7; do
    for name in "\"$i\"" "GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c1$i$i"; do
      echo "- name: $name"
      echo "  containerEdits:"
      echo "    deviceNodes:"
      echo "    - path: $R/dev/nvidia$i"
      echo "      major: 195"
      echo "      minor: $i"
      echo "      permissions: rwm"
      echo "    - path: $R/dev/dri/card$((i + 1))"
      echo "    - path: $R/dev/dri/renderD$((128 + i))"
      echo "    hooks:"
      echo "    - hookName: createContainer"
      echo "      path: $R/usr/bin/nvidia-cdi-hook"
      echo "      args:"
      echo "      - nvidia-cdi-hook"
      echo "      - create-symlinks"
      echo "      - --link"
      echo "      - ../card$((i + 1))::/dev/dri/by-path/pci-0000:1$i:00.0-card"
      echo "      - --link"
      echo "      - ../renderD$((128 + i))::/dev/dri/by-path/pci-0000:1$i:00.0-render"
      echo "      env:"
      echo "      - NVIDIA_CTK_DEBUG=false"
    done
  done
  echo "- name: all"
  echo "  containerEdits:"
  echo "    deviceNodes:"
  for i in 0 1 2 3 4 5 6 7; do echo "    - path: $R/dev/nvidia$i"; done
  echo "containerEdits:"
  echo "  env:"
  echo "  - NVIDIA_VISIBLE_DEVICES=void"
  echo "  deviceNodes:"
  for n in nvidia-modeset nvidia-uvm nvidia-uvm-tools nvidiactl; do echo "  - path: $R/dev/$n"; done
  echo "  hooks:"
  echo "  - hookName: createContainer"
  echo "    path: $R/usr/bin/nvidia-cdi-hook"
  echo "    args:"
  echo "    - nvidia-cdi-hook"
  echo "    - update-ldcache"
  echo "    - --folder"
  echo "    - /usr/lib/x86_64-linux-gnu"
  echo "  mounts:"
  for l in EGL_nvidia GLESv1_CM_nvidia GLESv2_nvidia GLX_nvidia cuda cudadebugger nvcuvid \
    nvidia-allocator nvidia-cfg nvidia-eglcore nvidia-encode nvidia-fbc nvidia-glcore \
    nvidia-glsi nvidia-glvkspirv nvidia-gpucomp nvidia-ml nvidia-ngx nvidia-nvvm nvidia-opencl \
    nvidia-opticalflow nvidia-pkcs11-openssl3 nvidia-ptxjitcompiler nvidia-rtcore nvidia-tls \
    nvoptix vdpau_nvidia; do
    echo "  - hostPath: $R/usr/lib/x86_64-linux-gnu/lib$l.so.550.54.15"
    echo "    containerPath: $R/usr/lib/x86_64-linux-gnu/lib$l.so.550.54.15"
    echo "    options: [ro, nosuid, nodev, rbind, rprivate]"
  done
  for b in nvidia-cuda-mps-control nvidia-cuda-mps-server nvidia-debugdump nvidia-persistenced \
    nvidia-smi; do
    echo "  - hostPath: $R/usr/bin/$b"
    echo "    containerPath: $R/usr/bin/$b"
    echo "    options: [ro, nosuid, nodev, rbind, rprivate]"
  done
}

# nvidia_cdi_lookalike SPEC ROOT: writes SPEC, nvidia_cdi_spec ROOT, and
# makes what it grants beneath ROOT: the GPUs' nodes with the numbers the
# spec gives (c 195:N), the other nodes /dev/null look-alikes (c 1:3),
# the driver files empty.
nvidia_cdi_lookalike() {
  local i f
  mkdir -p "$2/dev/dri" "$2/usr/bin" "$2/usr/lib/x86_64-linux-gnu"
  nvidia_cdi_spec "$2" >"$1"
  for i in 0 1 2 3 4 5 6 7; do mknod "$2/dev/nvidia$i" c 195 "$i"; done
  grep -oE "$2/[^ ]+" "$1" | sort -u | while read -r f; do
    [ -e "$f" ] && continue
    case $f in
    "$2/dev/"*) mknod "$f" c 1 3 ;;
    *) : >"$f" ;;
    esac
  done
}
