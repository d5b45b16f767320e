#!/usr/bin/env bash
# `savepoint demo` runs clean under valgrind (memcheck): no invalid read or write, no use of an
# uninitialised value, no definitely lost block. One epoch (memcheck runs the 1000-image tutorial
# about 100x slower than natively; every code path of the demo still runs — the untrained
# evaluation, a full epoch of training with dropout and Adam, the trained evaluation, and whatever
# steps the demo has after training). OpenBLAS is held to one thread so valgrind serialises less.
# Skipped in the sanitizer build (ASan and valgrind cannot share a process) and when valgrind or
# the dataset is missing.
set -uo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
data=${SP_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
[ "${SP_SANITIZE:-0}" = 1 ] && { echo "skipped: the sanitizer build already checks memory"; exit 77; }
command -v valgrind >/dev/null || { echo "skipped: valgrind is not installed (apt-get install valgrind)"; exit 77; }
[ -d "$data" ] || { echo "skipped: Fashion-MNIST is not installed in '$data' (dataset-fashion-mnist)"; exit 77; }
work=$(mktemp -d "${SP_TEST_TMP:-/tmp}/demo-valgrind.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

OPENBLAS_NUM_THREADS=1 valgrind --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite --track-origins=yes --log-file="$work/valgrind.log" \
  "$cli" demo --epochs 1 --seed 1 >"$work/demo.out" 2>&1
rc=$?
if [ "$rc" != 0 ]; then
  echo "FAIL: demo under valgrind exited $rc"
  tail -40 "$work/demo.out"
  grep -v '^==[0-9]*== *$' "$work/valgrind.log" | head -80
  exit 1
fi
grep -q "Trained model, accuracy:" "$work/demo.out" || { echo "FAIL: the demo did not finish: $(tail -5 "$work/demo.out")"; exit 1; }
grep -q "ERROR SUMMARY: 0 errors" "$work/valgrind.log" || { echo "FAIL: valgrind reported errors"; cat "$work/valgrind.log"; exit 1; }
echo "demo under valgrind: clean"
