#!/usr/bin/env bash
# End to end: `savepoint convert` through every Keras format and TF.js and back, checked with
# `savepoint show --json` (same architecture and parameter counts everywhere; the formats the
# files really are), weights through a TF checkpoint and back, the misnamed-file path (load says what it is, convert reads it by content),
# a weights-only input with and without --architecture, and usage errors (exit 2).
set -euo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
fixtures=${SP_FIXTURES:-}
python=/usr/bin/python3
if [ ! -d "$fixtures" ]; then echo "fixtures folder '$fixtures' is absent" >&2; exit 77; fi
work=${SP_TEST_TMP:-/tmp}/convert-cli-$$
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { "$python" -c "import json,sys; data=json.load(sys.stdin); print($1)"; }

source=$fixtures/keras3.7-churn-keras-and-h5-same-model/my_model.keras
expected=$("$cli" show --json "$source" | field 'data["total_params"]')
[ "$expected" = 12929 ] || fail "show of the fixture counts $expected params"

"$cli" convert "$source" "$work/a.h5" >/dev/null
"$cli" convert "$work/a.h5" "$work/web" >/dev/null
"$cli" convert "$work/web" "$work/b.keras" >/dev/null
"$cli" convert "$work/b.keras" "$work/arch.json" --keras_version 2 >/dev/null
"$cli" convert "$work/b.keras" "$work/c.weights.h5" >/dev/null
"$cli" convert "$work/b.keras" "$work/d.h5" --format legacy-weights-h5 >/dev/null
for artifact in a.h5:h5 web:tfjs b.keras:keras; do
  name=${artifact%%:*} format=${artifact##*:}
  json=$("$cli" show --json "$work/$name")
  [ "$(echo "$json" | field 'data["format"]')" = "$format" ] || fail "$name is not shown as $format: $json"
  [ "$(echo "$json" | field 'data["total_params"]')" = "$expected" ] || fail "$name lost parameters: $json"
done
[ "$("$cli" show --json "$work/c.weights.h5" | field 'len(data["weights"])')" = 8 ] || fail "c.weights.h5 lists the wrong weights"

# Weights only: needs an architecture.
if "$cli" convert "$work/c.weights.h5" "$work/e.keras" 2>"$work/err"; then fail "a weights-only input converted alone"; fi
grep -q -- "--architecture" "$work/err" || fail "no hint about --architecture: $(cat "$work/err")"
"$cli" convert "$work/c.weights.h5" "$work/e.keras" --architecture "$work/arch.json" >/dev/null

# Weights through a TF checkpoint and back (issue 4's convert): every array h5py reads from the
# round-tripped .weights.h5 equals the one in the .weights.h5 written straight from b.keras.
"$cli" convert "$work/b.keras" "$work/ckpt/model" --format ckpt >/dev/null
"$cli" verify "$work/ckpt/model" >/dev/null || fail "the converted checkpoint does not verify"
"$cli" show --json "$work/ckpt/model" | "$python" -c '
import json, sys
names = [t["name"] for t in json.load(sys.stdin)]
assert any(n.endswith("/kernel/.ATTRIBUTES/VARIABLE_VALUE") for n in names), names' || fail "the checkpoint lacks object-based kernel keys"
"$cli" convert "$work/ckpt/model" "$work/f.weights.h5" --architecture "$work/arch.json" >/dev/null
"$python" - "$work/c.weights.h5" "$work/f.weights.h5" <<'PY' || fail "weights changed through the TF checkpoint"
import sys, h5py, numpy as np
def arrays(path):
    found = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found
a, b = arrays(sys.argv[1]), arrays(sys.argv[2])
assert sorted(a) == sorted(b), (sorted(a), sorted(b))
assert all(np.array_equal(a[k], b[k]) for k in a), [k for k in a if not np.array_equal(a[k], b[k])]
PY

# A legacy .h5 named .keras: show and convert read it as what it is.
cp "$work/a.h5" "$work/misnamed.keras"
[ "$("$cli" show --json "$work/misnamed.keras" | field 'data["format"]')" = h5 ] || fail "misnamed file not shown as h5"
"$cli" convert "$work/misnamed.keras" "$work/fixed.keras" >/dev/null
[ "$("$cli" show --json "$work/fixed.keras" | field 'data["format"]')" = keras ] || fail "conversion of the misnamed file"

# `savepoint run` on model files (not only SavedModels): inputs and outputs keyed by layer name,
# the values `savepoint predict` gives on the same sample, for the .keras and the .h5.
"$python" -c "import numpy as np; np.save('$work/x.npy', (np.arange(19, dtype=np.float32) / 19 - 0.5).reshape(1, 19))"
"$cli" predict "$work/b.keras" --x "$work/x.npy" --json > "$work/predicted.json" 2>/dev/null
input_name=$( ("$cli" run "$work/b.keras" --json 2>&1 || true) | sed -n "s/.*no value for the model's input '\([^']*\)'.*/\1/p")
[ -n "$input_name" ] || fail "run without inputs should name the model's input"
for model in b.keras a.h5; do
  "$cli" run "$work/$model" --inputs "$input_name=$work/x.npy" --json > "$work/run.json" 2>/dev/null || fail "run $model failed"
  "$python" - "$work/run.json" "$work/predicted.json" <<'PY' || fail "run $model differs from predict: $(cat "$work/run.json")"
import json, sys
ran, predicted = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["predictions"]
(values,) = ran.values()
flat = lambda v: [x for row in v for x in (flat(row) if isinstance(row, list) else [row])] if isinstance(v, list) else [v]
a, b = flat(values), flat(predicted)
assert len(a) == len(b) and all(abs(x - y) <= 1e-6 + 1e-5 * abs(y) for x, y in zip(a, b)), (a, b)
PY
done

# Usage errors exit 2; load errors exit 1.
set +e
"$cli" convert "$source" >/dev/null 2>&1; [ $? = 2 ] || fail "missing OUT should exit 2"
"$cli" convert "$source" "$work/x.keras" --format nonsense >/dev/null 2>&1; [ $? = 2 ] || fail "bad --format should exit 2"
"$cli" convert "$work/nothing.keras" "$work/x.keras" >/dev/null 2>&1; [ $? = 1 ] || fail "missing IN should exit 1"
set -e
echo "convert CLI: ok"
