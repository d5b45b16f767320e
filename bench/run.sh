#!/usr/bin/env bash
# Benchmarks, run by `make bench` (never by ctest): each section measures savepoint against a
# peer in the same run and prints the ratio. Usage: bench/run.sh [BUILD_DIRECTORY]
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build=$source_dir/$build ;; esac
cmake --build "$build" -j2 >/dev/null

# ---- training and single-sample latency: savepoint (bench_train) against PyTorch eager ----
bench_training() {
  echo "== training (the demo setup) and single-sample latency, savepoint vs PyTorch"
  echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}"
  local ours theirs
  ours=$("$build/bench/bench_train" "$@")
  theirs=$(/usr/bin/python3 "$source_dir/bench/torch_demo.py" "$@")
  /usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"OpenBLAS core: {ours['corename']} ({ours['blas_threads']} threads); data: "
      f"{'Fashion-MNIST' if ours['real_data'] else 'synthetic (Fashion-MNIST not installed)'}")
if "error" in theirs:
    print(f"PyTorch: {theirs['error']}; savepoint alone: {json.dumps(ours)}")
    sys.exit(0)
print(f"PyTorch {theirs['torch']} with {theirs['threads']} threads")
def us(seconds): return f"{seconds * 1e6:8.1f} us"
print(f"train 10 epochs   savepoint {ours['train_seconds']:7.3f} s   PyTorch {theirs['train_seconds']:7.3f} s   "
      f"savepoint/PyTorch time {ours['train_seconds'] / theirs['train_seconds']:.2f} (goal <= 1)")
print(f"  one thread each  savepoint {ours['train_seconds_1thread']:7.3f} s   PyTorch {theirs['train_seconds_1thread']:7.3f} s   "
      f"savepoint/PyTorch time {ours['train_seconds_1thread'] / theirs['train_seconds_1thread']:.2f}")
print(f"  one thread, CPU  savepoint {ours['train_cpu_seconds_1thread']:7.3f} s   PyTorch {theirs['train_cpu_seconds_1thread']:7.3f} s   "
      f"savepoint/PyTorch CPU time {ours['train_cpu_seconds_1thread'] / theirs['train_cpu_seconds_1thread']:.2f} (steady under load)")
print(f"  last-epoch training accuracy: savepoint {ours['train_accuracy']:.3f}, PyTorch {theirs['train_accuracy']:.3f}")
for name, goal in (("demo", 2), ("iris", 10)):
    a, b = ours[f"{name}_latency"], theirs[f"{name}_latency"]
    print(f"{name} latency      savepoint {us(a)}   PyTorch {us(b)}   PyTorch/savepoint {b / a:6.1f}x (goal >= {goal}x)")
print(f"OpenBLAS batch 1, 784x512: sgemv {us(ours['sgemv_batch1'])}, sgemm {us(ours['sgemm_batch1'])}")
PY
}

bench_training "${@:2}"
