#!/usr/bin/env bash
# `savepoint train`, `evaluate` and `predict` end to end on CSV and IDX data made here: a linear
# target (y = 2a - 3b + 1) is learned, two runs with one seed write identical histories, the
# History/CSVLogger files have Keras's keys and columns, flags override the model's
# compile_config, outputs have the right shape, and misuse exits 2 (usage) or 1 (failure).
set -uo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
work=${SP_TEST_TMP:-/tmp}/train-cli-$$
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
py() { /usr/bin/python3 -c "$@"; }

cat > "$work/model.json" <<'JSON'
{"module": "keras", "class_name": "Sequential", "config": {"name": "linear", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 2], "dtype": "float32", "name": "input_layer"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 1, "activation": "linear"}, "registered_name": null}]},
 "registered_name": null,
 "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9}, "registered_name": null},
                    "loss": "mse", "metrics": ["mae"]}}
JSON
py '
import math
with open("'"$work"'/data.csv", "w") as f:
    f.write("a,b,y\n")
    for i in range(200):
        a, b = math.sin(0.37 * i), math.sin(0.37 * i + 1.7)
        f.write("%r,%r,%r\n" % (a, b, 2 * a - 3 * b + 1))
'

train() { "$cli" train --model "$work/model.json" --csv "$work/data.csv" --epochs 30 --batch-size 16 --seed 3 "$@"; }
out=$(train --history "$work/h1.json" --csv-log "$work/log.csv" --json) || fail "train failed: $out"
check=$(printf '%s' "$out" | py '
import json, sys
d = json.load(sys.stdin)
problems = []
if d["epochs"] != 30 or d["samples"] != 200: problems.append("epochs/samples %r %r" % (d["epochs"], d["samples"]))
if not d["final"]["loss"] < 1e-3: problems.append("final loss %r" % d["final"]["loss"])
if list(d["history"]) != ["loss", "mae"]: problems.append("history keys %r" % list(d["history"]))
print("; ".join(problems) or "ok")
') || check="unparsable: $out"
[ "$check" = ok ] || fail "train --json: $check"
train --history "$work/h2.json" --verbose 0 >/dev/null || fail "second train failed"
cmp -s "$work/h1.json" "$work/h2.json" || fail "two runs with --seed 3 wrote different histories"
head -1 "$work/log.csv" | grep -q $'^epoch,loss,mae,val_loss,val_mae\r$' || fail "CSV log header: $(head -1 "$work/log.csv")"
[ "$(wc -l < "$work/log.csv")" = 31 ] || fail "CSV log should have a header and 30 rows"

out=$(train --epochs 2 --validation-split 0.25 --optimizer adam --learning-rate 0.05 --loss mae --metrics mse --json --verbose 0) \
  || fail "train with overrides failed"
printf '%s' "$out" | py 'import json,sys; d=json.load(sys.stdin); assert list(d["history"]) == ["loss", "mse", "val_loss", "val_mse"], d["history"]' \
  || fail "overrides and validation_split: $out"
lines=$(train --epochs 3 | grep -c '^Epoch ') || true
[ "$lines" = 3 ] || fail "one progress line per epoch when stdout is not a terminal (got $lines)"

out=$("$cli" evaluate "$work/model.json" --csv "$work/data.csv" --json) || fail "evaluate failed: $out"
printf '%s' "$out" | py 'import json,sys; d=json.load(sys.stdin); assert list(d) == ["loss", "mae"], d' || fail "evaluate keys: $out"
out=$("$cli" predict "$work/model.json" --csv "$work/data.csv" --label-column y) || fail "predict failed"
printf '%s' "$out" | py 'import json,sys; d=json.load(sys.stdin)["predictions"]; assert len(d) == 200 and all(len(r) == 1 for r in d)' \
  || fail "predict output shape"

# IDX images (N x 2 x 2, u8) and labels for a 4-wide classifier
py '
import struct
n = 60
with open("'"$work"'/images.idx", "wb") as f:
    f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, 2, 2))
    f.write(bytes((i * 7 + j * 50) % 256 for i in range(n) for j in range(4)))
with open("'"$work"'/labels.idx", "wb") as f:
    f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", n) + bytes(i % 3 for i in range(n)))
'
sed -e 's/"batch_shape": \[null, 2\]/"batch_shape": [null, 4]/' -e 's/"units": 1/"units": 3/' "$work/model.json" > "$work/classifier.json"
out=$("$cli" train --model "$work/classifier.json" --data "$work/images.idx,$work/labels.idx" --loss sparse_categorical_crossentropy \
      --metrics accuracy --epochs 2 --json --verbose 0) || fail "train on IDX failed: $out"
printf '%s' "$out" | py 'import json,sys; d=json.load(sys.stdin); assert list(d["history"]) == ["loss", "accuracy"] and d["samples"] == 60' \
  || fail "IDX training summary: $out"

# NumPy arrays: the same data as X.npy / Y.npy, and predictions written as .npy match the JSON ones
py '
import csv, numpy as np
rows = list(csv.reader(open("'"$work"'/data.csv")))[1:]
data = np.array(rows, dtype=np.float64)
np.save("'"$work"'/X.npy", data[:, :2].astype(np.float32))
np.save("'"$work"'/Y.npy", data[:, 2])
' || fail "numpy could not write the arrays"
out=$("$cli" train --model "$work/model.json" --x "$work/X.npy" --y "$work/Y.npy" --epochs 30 --batch-size 16 --seed 3 --json --verbose 0) \
  || fail "train on .npy failed: $out"
printf '%s' "$out" | py 'import json,sys; d=json.load(sys.stdin); assert d["final"]["loss"] < 1e-3 and d["samples"] == 200, d["final"]' \
  || fail "training on .npy: $out"
"$cli" predict "$work/model.json" --x "$work/X.npy" --output "$work/P.npy" >/dev/null || fail "predict --output failed"
"$cli" predict "$work/model.json" --x "$work/X.npy" --json > "$work/P.json" || fail "predict --json failed"
py '
import json, numpy as np
written = np.load("'"$work"'/P.npy")
printed = np.array(json.load(open("'"$work"'/P.json"))["predictions"], dtype=np.float32)
assert written.dtype == np.float32 and written.shape == (200, 1), (written.dtype, written.shape)
assert np.array_equal(written, printed), abs(written - printed).max()
' || fail "predict --output Y.npy differs from the JSON predictions"

# misuse
expect_exit() { # CODE DESCRIPTION COMMAND...
  local code=$1 what=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  [ "$got" = "$code" ] || fail "$what: exit $got, expected $code"
  [ "$code" = 0 ] || [ -s "$work/err" ] || fail "$what: no message on stderr"
}
expect_exit 2 "train without --model" "$cli" train --csv "$work/data.csv"
expect_exit 2 "train without data" "$cli" train --model "$work/model.json"
expect_exit 2 "an unknown option" "$cli" train --model "$work/model.json" --csv "$work/data.csv" --frobnicate
expect_exit 2 "a bad number" "$cli" train --model "$work/model.json" --csv "$work/data.csv" --epochs many
expect_exit 1 "a missing data file" "$cli" train --model "$work/model.json" --csv "$work/missing.csv"
grep -q "missing.csv" "$work/err" || fail "the error should name the missing file"
py 'import json; d = json.load(open("'"$work"'/model.json")); del d["compile_config"]; json.dump(d, open("'"$work"'/uncompiled.json", "w"))'
expect_exit 1 "no loss anywhere" "$cli" train --model "$work/uncompiled.json" --csv "$work/data.csv"
grep -q "no loss" "$work/err" || fail "the error should say that no loss was given: $(cat "$work/err")"
expect_exit 1 "a model that is not a config" "$cli" evaluate "$work/data.csv" --csv "$work/data.csv"
for command in train evaluate predict; do
  expect_exit 0 "$command --help" "$cli" "$command" --help
  grep -q "usage: savepoint $command" "$work/out" || fail "$command --help text"
done
[ "$failures" = 0 ] || exit 1
echo "train/evaluate/predict: all checks passed"
