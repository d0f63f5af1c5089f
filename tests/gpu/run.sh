#!/usr/bin/env bash
# A real GPU under the sandbox. MUST be run on a node with an NVIDIA GPU and
# its driver, as root; neither tests/run.sh nor CI runs it (they have no
# GPU). Linux >= 6.10 (Landlock ABI 5: ioctl control on device nodes).
#
#   tests/gpu/run.sh                 # builds the static binary with cross/build.sh
#   OPENSHELL_SANDBOX=/path/to/openshell-sandbox tests/gpu/run.sh
#
# 1. Builds a CDI spec for GPU 0 from this node: `nvidia-ctk cdi generate`
#    when the NVIDIA Container Toolkit is installed, otherwise from
#    /dev/nvidia* and the driver's libraries and tools.
# 2. Runs `nvidia-smi -L` and a CUDA driver-API smoke test (Python ctypes on
#    libcuda.so.1: cuInit, device count, a context, cuMemAlloc, a 1 MiB
#    host -> device -> host copy compared byte for byte) three ways:
#    bare (the control), under the sandbox with nvidia.com/gpu=0 granted
#    (must pass), and under the same policy without the grant (must fail
#    cleanly: an error from the driver, not a crash or a hang).
# Exits 0 when every expectation holds; prints each run's output.
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { echo "tests/gpu/run.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the supervisor opens device nodes and switches user)"
command -v nvidia-smi >/dev/null 2>&1 || die "nvidia-smi not found: this script needs an NVIDIA GPU node with the driver installed"
[ -c /dev/nvidia0 ] || die "/dev/nvidia0 is missing: no NVIDIA GPU or driver here"
[ -c /dev/nvidiactl ] || die "/dev/nvidiactl is missing"
command -v python3 >/dev/null 2>&1 || die "python3 not found (apt-get install python3)"

if [ -n "${OPENSHELL_SANDBOX:-}" ]; then
  bin=$OPENSHELL_SANDBOX
else
  cross/build.sh "$(uname -m)" >&2
  bin=$PWD/target/$(uname -m)-unknown-linux-musl/release/openshell-sandbox
fi
[ -x "$bin" ] || die "no binary at $bin"

# Root-owned and not writable by others: the supervisor reads only CDI
# specs and policies that root alone could have written.
work=$(mktemp -d /run/openshell-gpu.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir -m 755 "$work/cdi"
spec=$work/cdi/nvidia.yaml

if command -v nvidia-ctk >/dev/null 2>&1; then
  echo "==> CDI spec from nvidia-ctk cdi generate"
  nvidia-ctk cdi generate --output="$spec" --device-name-strategy=index >&2
else
  echo "==> CDI spec from /dev/nvidia* and the driver files (no nvidia-ctk)"
  libcuda=$(python3 -c 'import ctypes.util; print(ctypes.util.find_library("cuda") or "")')
  [ -n "$libcuda" ] || die "libcuda not found by the dynamic loader"
  # Each driver file once, by its real path and by the names that lead to it.
  files=()
  for pat in 'libcuda.so*' 'libnvidia-ml.so*' 'libnvidia-ptxjitcompiler.so*' \
             'libnvidia-nvvm.so*' 'libcudadebugger.so*'; do
    while IFS= read -r f; do files+=("$f"); done < <(
      ldconfig -p | awk -v p="$pat" '
        BEGIN { gsub(/\./, "\\.", p); gsub(/\*/, ".*", p); p = "^" p "$" }
        $1 ~ p { print $NF }' | sort -u)
  done
  files+=("$(command -v nvidia-smi)")
  {
    echo "cdiVersion: 0.5.0"
    echo "kind: nvidia.com/gpu"
    echo "devices:"
    echo "- name: \"0\""
    echo "  containerEdits:"
    echo "    deviceNodes:"
    echo "    - {path: /dev/nvidia0}"
    echo "containerEdits:"
    echo "  deviceNodes:"
    for n in /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools /dev/nvidia-modeset; do
      [ -c "$n" ] && echo "  - {path: $n}"
    done
    echo "  mounts:"
    for f in "${files[@]}"; do
      [ -e "$f" ] || continue
      echo "  - {hostPath: $f, containerPath: $f, options: [ro, nosuid, nodev, bind]}"
    done
  } > "$spec"
fi
chmod 644 "$spec"
echo "--- $spec (devices)"
"$bin" devices --cdi-dir "$work/cdi" || true

cat > "$work/cuda_smoke.py" <<'PY'
import ctypes
import sys

try:
    cuda = ctypes.CDLL("libcuda.so.1")
except OSError as e:
    print(f"cannot load libcuda.so.1: {e}")
    sys.exit(2)

c_ptr = ctypes.c_uint64
cuda.cuGetErrorName.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
cuda.cuInit.argtypes = [ctypes.c_uint]
cuda.cuDeviceGetCount.argtypes = [ctypes.POINTER(ctypes.c_int)]
cuda.cuDeviceGet.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_int]
cuda.cuDeviceGetName.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
cuda.cuCtxCreate_v2.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint, ctypes.c_int]
cuda.cuCtxDestroy_v2.argtypes = [ctypes.c_void_p]
cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(c_ptr), ctypes.c_size_t]
cuda.cuMemFree_v2.argtypes = [c_ptr]
cuda.cuMemcpyHtoD_v2.argtypes = [c_ptr, ctypes.c_void_p, ctypes.c_size_t]
cuda.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, c_ptr, ctypes.c_size_t]


def check(what, r):
    if r != 0:
        name = ctypes.c_char_p()
        cuda.cuGetErrorName(r, ctypes.byref(name))
        print(f"{what} failed: {r} ({(name.value or b'?').decode()})")
        sys.exit(2)


check("cuInit", cuda.cuInit(0))
n = ctypes.c_int()
check("cuDeviceGetCount", cuda.cuDeviceGetCount(ctypes.byref(n)))
print(f"devices: {n.value}")
dev = ctypes.c_int()
check("cuDeviceGet", cuda.cuDeviceGet(ctypes.byref(dev), 0))
name = ctypes.create_string_buffer(256)
check("cuDeviceGetName", cuda.cuDeviceGetName(name, 256, dev))
print(f"device 0: {name.value.decode()}")
ctx = ctypes.c_void_p()
check("cuCtxCreate", cuda.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev))
size = 1 << 20
dptr = c_ptr()
check("cuMemAlloc", cuda.cuMemAlloc_v2(ctypes.byref(dptr), size))
src = ctypes.create_string_buffer(bytes(range(256)) * (size // 256), size)
dst = ctypes.create_string_buffer(size)
check("cuMemcpyHtoD", cuda.cuMemcpyHtoD_v2(dptr, src, size))
check("cuMemcpyDtoH", cuda.cuMemcpyDtoH_v2(dst, dptr, size))
same = src.raw == dst.raw
check("cuMemFree", cuda.cuMemFree_v2(dptr))
check("cuCtxDestroy", cuda.cuCtxDestroy_v2(ctx))
print(f"host -> device -> host copy of {size} bytes: {'identical' if same else 'DIFFERENT'}")
sys.exit(0 if same else 1)
PY
chmod 644 "$work/cuda_smoke.py"

# The same policy twice: with GPU 0 granted, and without any device.
policy_base="version: 1
filesystem_policy:
  read_only: [/usr, /bin, /sbin, /lib, /lib64, /etc, /proc, /sys, /dev/urandom, /dev/zero, $work]
  read_write: [/tmp, /dev/null, /dev/shm]
  execute: [/usr, /bin, /sbin, /lib, /lib64]
landlock:
  compatibility: best_effort
  require:
    filesystem: true
    ioctl_dev: true
process:
  run_as_user: 65534
  run_as_group: 65534"
printf '%s\n%s\n' "$policy_base" "devices:
  cdi:
    devices: [nvidia.com/gpu=0]
    spec_dirs: [$work/cdi]" > "$work/granted.yaml"
printf '%s\n' "$policy_base" > "$work/denied.yaml"
chmod 644 "$work/granted.yaml" "$work/denied.yaml"
for p in granted denied; do "$bin" check "$work/$p.yaml" >/dev/null; done

failures=0
# expect WHAT WANT CMD...: run CMD (60 s at most), print its output and
# status; WANT is "ok" (exit 0) or "fails" (a clean non-zero exit: not a
# signal, not a timeout, not the supervisor's own 125).
expect() {
  local what=$1 want=$2; shift 2
  local out rc
  set +e
  out=$(timeout 60 "$@" 2>&1); rc=$?
  set -e
  echo "--- $what: exit $rc"
  printf '%s\n' "$out" | grep -v '^openshell-sandbox: info: ' | sed 's/^/    /'
  local good=0
  case $want in
    ok) [ "$rc" = 0 ] && good=1 ;;
    fails) [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 125 ] && [ "$rc" -lt 128 ] && good=1 ;;
  esac
  if [ "$good" = 1 ]; then echo "    PASS ($want)"; else echo "    FAIL (expected: $want)"; failures=$((failures + 1)); fi
}

smi=(nvidia-smi -L)
smoke=(python3 "$work/cuda_smoke.py")
sandbox() { local p=$1; shift; "$bin" --policy "$work/$p.yaml" -- "$@"; }

echo "==> control: no sandbox"
expect "bare nvidia-smi -L" ok "${smi[@]}"
expect "bare CUDA smoke" ok "${smoke[@]}"
echo "==> sandbox, nvidia.com/gpu=0 granted"
expect "granted nvidia-smi -L" ok sandbox granted "${smi[@]}"
expect "granted CUDA smoke" ok sandbox granted "${smoke[@]}"
echo "==> sandbox, no device granted"
expect "denied nvidia-smi -L" fails sandbox denied "${smi[@]}"
expect "denied CUDA smoke" fails sandbox denied "${smoke[@]}"

echo
if [ "$failures" = 0 ]; then
  echo "GPU checks: all passed"
else
  echo "GPU checks: $failures failed"
  exit 1
fi
