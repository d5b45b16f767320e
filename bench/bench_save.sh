#!/usr/bin/env bash
# Saving and loading a 1 GiB model (Dense layers, 268 M float32 parameters) in each format,
# against the raw bandwidth of the same disk (dd, conv=fsync) and against Debian's h5py writing
# and reading the same arrays (with fsync). Page cache warm for every read, for all three.
#
#   bench/bench_save.sh [BUILD_DIRECTORY] [SCRATCH_DIRECTORY] [MEBIBYTES]
#
# Prints each measurement and the ratios savepoint/dd and savepoint/h5py (lower is better;
# the goal is within 1.5x of dd).
set -euo pipefail
build=${1:-build}
scratch=${2:-${TMPDIR:-/tmp}}/bench-save-$$
mebibytes=${3:-1024}
mkdir -p "$scratch"
trap 'rm -rf "$scratch"' EXIT
python=/usr/bin/python3

seconds() { /usr/bin/python3 -c 'import sys,time; print(time.monotonic())'; }

echo "== dd (raw sequential write with fsync, read warm), ${mebibytes} MiB"
start=$(seconds); dd if=/dev/zero of="$scratch/raw" bs=16M count=$((mebibytes / 16)) conv=fsync status=none; end=$(seconds)
dd_write=$("$python" -c "print($end - $start)")
start=$(seconds); dd if="$scratch/raw" of=/dev/null bs=16M status=none; end=$(seconds)
dd_read=$("$python" -c "print($end - $start)")
rm -f "$scratch/raw"
printf 'dd           write %8.3f s\ndd           read  %8.3f s\n' "$dd_write" "$dd_read"

echo "== h5py $("$python" -c 'import h5py; print(h5py.__version__)') (same arrays as .weights.h5 datasets, fsync)"
h5py_times=$("$python" - "$scratch/h5py.h5" "$mebibytes" <<'PY'
import os, sys, time
import h5py, numpy as np
path, mebibytes = sys.argv[1], int(sys.argv[2])
width = 8192
layers = max(1, mebibytes * 2**20 // (width * width * 4))
arrays = [np.full((width, width), 0.5, np.float32) for _ in range(layers)]
start = time.monotonic()
with h5py.File(path, "w") as f:
    for i, kernel in enumerate(arrays):
        f[f"layers/dense_{i}/vars/0"] = kernel
        f[f"layers/dense_{i}/vars/1"] = np.zeros(width, np.float32)
    f.flush()
    os.fsync(f.id.get_vfd_handle())
write = time.monotonic() - start
start = time.monotonic()
with h5py.File(path, "r") as f:
    read = [f[f"layers/dense_{i}/vars/0"][()] for i in range(layers)]
print(write, time.monotonic() - start)
PY
)
h5py_write=${h5py_times% *}
h5py_read=${h5py_times#* }
rm -f "$scratch/h5py.h5"
printf 'h5py         write %8.3f s\nh5py         read  %8.3f s\n' "$h5py_write" "$h5py_read"

echo "== savepoint"
"$build/bench/bench_save" "$scratch" "$mebibytes" | tee "$scratch/savepoint.txt"

echo "== ratios (savepoint time / peer time; 1.0 = as fast as the peer)"
"$python" - "$scratch/savepoint.txt" "$dd_write" "$dd_read" "$h5py_write" "$h5py_read" <<'PY'
import sys
lines = [l.split() for l in open(sys.argv[1]) if l.split() and l.split()[1] in ("save", "load", "map", "map+read")]
dd_write, dd_read, h5_write, h5_read = map(float, sys.argv[2:6])
print(f"{'format':12} {'step':8} {'vs dd':>8} {'vs h5py':>8}")
for fmt, step, secs, *_ in lines:
    secs = float(secs)
    dd = dd_write if step == "save" else dd_read
    h5 = h5_write if step == "save" else h5_read
    print(f"{fmt:12} {step:8} {secs / dd:8.2f} {secs / h5:8.2f}")
PY
