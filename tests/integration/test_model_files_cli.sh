#!/usr/bin/env bash
# train, evaluate and predict take any model file savepoint reads, not only a config JSON: a
# model converted to .keras, legacy .h5 and TF.js predicts what numpy computes from the weights
# h5py reads out of the .h5 (so the .keras and TF.js copies agree with a peer, not with us);
# evaluate reads the compile_config stored in the .keras; train starts from the saved weights
# of a .keras or .h5 (its first epoch's loss is near the file's loss, not a fresh start's).
# tests/integration/test_resume_cross_process.sh checks bit-exact resumption.
source "$(dirname "$0")/support.sh" model-files-cli

cat > "$work/model.json" <<'JSON'
{"module": "keras", "class_name": "Sequential", "config": {"name": "linear", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 2], "dtype": "float32", "name": "input_layer"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "tanh"}, "registered_name": null}]},
 "registered_name": null,
 "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {"learning_rate": 0.01}, "registered_name": null},
                    "loss": "mse", "metrics": ["mae"]}}
JSON
py '
import numpy as np
x = np.array([[0.1 * i, 1 - 0.05 * i] for i in range(40)], dtype=np.float32)
np.save("'"$work"'/X.npy", x)
np.save("'"$work"'/Y.npy", np.stack([x[:, 0], x[:, 1], x[:, 0] * x[:, 1]], axis=1).astype(np.float32))
' || { echo "skipped: numpy is not available to /usr/bin/python3"; exit 77; }

# The same weights in each format.
"$cli" convert "$work/model.json" "$work/m.keras" >/dev/null || fail "convert to .keras failed"
"$cli" convert "$work/m.keras" "$work/m.h5" >/dev/null || fail "convert .keras to .h5 failed"
"$cli" convert "$work/m.keras" "$work/m_tfjs" >/dev/null || fail "convert .keras to TF.js failed"

for model in m.keras m.h5 m_tfjs/model.json; do
  "$cli" predict "$work/$model" --x "$work/X.npy" --output "$work/P-${model%%/*}.npy" >/dev/null 2>"$work/err" \
    || fail "predict $model failed: $(cat "$work/err")"
  # weights viewed in a mapping of the file predict the very same bytes
  "$cli" predict "$work/$model" --x "$work/X.npy" --map-weights --output "$work/M-${model%%/*}.npy" >/dev/null \
    2>"$work/err" || fail "predict --map-weights $model failed: $(cat "$work/err")"
  cmp -s "$work/P-${model%%/*}.npy" "$work/M-${model%%/*}.npy" || fail "predict --map-weights $model differs"
done
py '
import h5py, numpy as np
w = "'"$work"'"
with h5py.File(w + "/m.h5", "r") as f:
    group = f["model_weights"]["dense"]["dense"]
    kernel, bias = group["kernel:0"][()], group["bias:0"][()]
expected = np.tanh(np.load(w + "/X.npy").astype(np.float64) @ kernel + bias)
for name in ("m.keras", "m.h5", "m_tfjs"):
    got = np.load(w + "/P-" + name + ".npy")
    assert got.shape == (40, 3), (name, got.shape)
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6), (name, abs(got - expected).max())
print("ok")
' >"$work/check" 2>&1 || fail "predictions from .keras/.h5/TF.js against numpy: $(cat "$work/check")"

out=$("$cli" evaluate "$work/m.keras" --x "$work/X.npy" --y "$work/Y.npy" --json 2>"$work/err") || fail "evaluate m.keras failed: $(cat "$work/err")"
printf '%s' "$out" | py 'import json,sys; d=json.load(sys.stdin); assert list(d) == ["loss", "mae"], d' \
  || fail "evaluate on .keras should use its stored compile_config (loss, mae): $out"
loss_before=$(printf '%s' "$out" | py 'import json,sys; print(json.load(sys.stdin)["loss"])')

for model in m.keras m.h5; do
  out=$("$cli" train --model "$work/$model" --x "$work/X.npy" --y "$work/Y.npy" --epochs 5 --seed 5 --json --verbose 0 2>"$work/err") \
    || { fail "train --model $model failed: $(cat "$work/err")"; continue; }
  printf '%s' "$out" | py '
import json, sys
d = json.load(sys.stdin)
first, before = d["history"]["loss"][0], float(sys.argv[1])
# One more Adam step from the saved state cannot be far above where the file stopped; a fresh
# start from new random weights would be.
assert d["epochs"] == 5 and d["history"]["loss"][-1] < first, d["history"]
assert first < 1.5 * before, (first, before)
' "$loss_before" || fail "training $model did not continue from its weights: $out"
done

"$cli" predict "$work/X.npy" --x "$work/X.npy" >/dev/null 2>"$work/err" && fail "predict on a .npy file should fail"
grep -q "X.npy" "$work/err" || fail "the error should name the file that is not a model: $(cat "$work/err")"
finish "model files in train/evaluate/predict"
