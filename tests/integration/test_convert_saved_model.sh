#!/usr/bin/env bash
# `savepoint convert MODEL DIR --format savedmodel [--version N]` and converting a Keras
# SavedModel back to .keras / .h5:
#   - a Dense classifier (.keras) exported as models/clf/1/: `show --all` lists serving_default
#     with its input and output names, DT_FLOAT and batch -1; `run` (the graph interpreter, a
#     separate code path from the Keras runtime) gives `predict`'s numbers on the .keras to 1e-5;
#     a second export of version 1 is refused and leaves version 1 as it was; --version 2 works;
#     the versioned export prints the serve and curl commands;
#   - without --version DIR itself is written, replacing an existing one only with --replace;
#   - with --registry (or SAVEPOINT_REGISTRY) the source is recorded once and each output with it as parent;
#   - the TF 2.12 Keras SavedModel fixture converted to .keras and .h5 predicts what its own
#     serving graph computes (`run` on the fixture).
source "$(dirname "$0")/support.sh" convert-saved-model
fixtures=${SP_FIXTURES:-}
/usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "skipped: numpy is not available to /usr/bin/python3"; exit 77; }

cat > "$work/model.json" <<'JSON'
{"module": "keras", "class_name": "Sequential", "config": {"name": "clf", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 4], "dtype": "float32", "name": "pixels"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "hidden", "units": 8, "activation": "relu"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "logits", "units": 3, "activation": "softmax"}, "registered_name": null}]},
 "registered_name": null}
JSON
py 'import numpy as np; np.save("'"$work"'/X.npy", (np.arange(20, dtype=np.float32).reshape(5, 4) - 9.5) / 4)'
"$cli" convert "$work/model.json" "$work/clf.keras" >/dev/null || fail "convert to .keras failed"
"$cli" predict "$work/clf.keras" --x "$work/X.npy" --output "$work/expected.npy" >/dev/null || fail "predict on .keras failed"

"$cli" convert "$work/clf.keras" "$work/models/clf" --format savedmodel --version 1 > "$work/out" 2>"$work/err" \
  || fail "convert --format savedmodel --version 1 failed: $(cat "$work/err")"
[ -f "$work/models/clf/1/saved_model.pb" ] && [ -f "$work/models/clf/1/savepoint.sha256" ] \
  || fail "no SavedModel in models/clf/1: $(ls -R "$work/models" 2>&1)"
grep -q "savepoint serve --rest_api_port=8501 --model_name=clf --model_base_path=$work/models/clf" "$work/out" \
  || fail "the serve command is not printed: $(cat "$work/out")"
grep -q "curl -s -X POST http://localhost:8501/v1/models/clf:predict" "$work/out" || fail "the curl is not printed"

show=$("$cli" show "$work/models/clf/1" --all 2>&1) || fail "show --all failed: $show"
for expected in "signature_def['serving_default']:" "inputs['pixels'] tensor_info:" "outputs['logits'] tensor_info:" \
                "dtype: DT_FLOAT" "shape: (-1, 4)" "shape: (-1, 3)" "Method name is: tensorflow/serving/predict"; do
  case "$show" in *"$expected"*) ;; *) fail "show --all lacks \"$expected\": $show" ;; esac
done
"$cli" run "$work/models/clf/1" --signature_def serving_default --inputs "pixels=$work/X.npy" --outdir "$work/run" >/dev/null \
  || fail "run on the export failed"
py '
import numpy as np
want, got = np.load("'"$work"'/expected.npy"), np.load("'"$work"'/run/logits.npy")
assert got.shape == want.shape == (5, 3), (got.shape, want.shape)
assert np.allclose(got, want, rtol=1e-5, atol=1e-7), abs(got - want).max()
' || fail "run on the SavedModel differs from predict on the .keras"

before=$(sha256sum "$work/models/clf/1/saved_model.pb")
"$cli" convert "$work/clf.keras" "$work/models/clf" --format savedmodel --version 1 >/dev/null 2>"$work/err"
[ $? = 1 ] || fail "exporting version 1 again should fail"
grep -q "never overwritten" "$work/err" || fail "the refusal should say versions are never overwritten: $(cat "$work/err")"
[ "$(sha256sum "$work/models/clf/1/saved_model.pb")" = "$before" ] || fail "version 1 changed"
"$cli" convert "$work/clf.keras" "$work/models/clf" --format savedmodel --version=2 --json > "$work/out" || fail "--version=2 failed"
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["output"].endswith("/models/clf/2") and d["output_format"] == "savedmodel", d' \
  "$work/out" || fail "convert --json: $(cat "$work/out")"
"$cli" convert "$work/clf.keras" "$work/plain" --format savedmodel >/dev/null || fail "unversioned export failed"
[ -f "$work/plain/saved_model.pb" ] || fail "no saved_model.pb in the unversioned export"
"$cli" convert "$work/clf.keras" "$work/plain" --format savedmodel >/dev/null 2>&1 && fail "an existing directory needs --replace"
"$cli" convert "$work/clf.keras" "$work/plain" --format savedmodel --replace >/dev/null || fail "--replace should replace the SavedModel"
"$cli" convert "$work/clf.keras" "$work/x.h5" --version 3 >/dev/null 2>&1
[ $? = 2 ] || fail "--version without --format savedmodel should be a usage error"

# recorded in a registry: the source once, each output with the source as parent
registry="sqlite:///$work/registry.db"
"$cli" convert "$work/clf.keras" "$work/models/clf" --format savedmodel --version 3 --registry "$registry" >/dev/null \
  || fail "convert --registry failed"
SAVEPOINT_REGISTRY="$registry" "$cli" convert "$work/clf.keras" "$work/clf.h5" >/dev/null || fail "convert with SAVEPOINT_REGISTRY failed"
"$cli" registry --registry "$registry" list --json > "$work/list.json" || fail "registry list failed"
py '
import json, sys
rows = {r["path"].rsplit("/", 1)[-1] if not r["path"].endswith("/3") else "clf/3": r for r in json.load(open(sys.argv[1]))}
assert sorted(rows) == ["clf.h5", "clf.keras", "clf/3"], sorted(rows)
source = rows["clf.keras"]
# clf.keras was written by savepoint: its metadata.json says so ("producer"), whatever keras_version it names
assert source["kind"] == "model" and source["format"] == "keras" and source["producer"] == "savepoint", source
assert source["producer_version"] == sys.argv[2].split()[-1], (source, sys.argv[2])
export = rows["clf/3"]
assert (export["kind"], export["format"], export["name"], export["version"]) == ("export", "saved_model", "clf", 3), export
assert export["parent_id"] == source["id"] and rows["clf.h5"]["parent_id"] == source["id"], rows
assert rows["clf.h5"]["kind"] == "model" and rows["clf.h5"]["format"] == "h5" and export["producer"] == "savepoint", rows
' "$work/list.json" "$("$cli" --version)" || fail "registry records of the conversions: $(cat "$work/list.json")"

source_model="$fixtures/keras-savedmodel-mlmath4-tf2.12/model"
if [ -n "$fixtures" ] && [ -d "$source_model" ]; then
  input=$("$cli" show "$source_model" --signature_def serving_default --tag_set serve --json 2>/dev/null \
          | py 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d))' 2>/dev/null)
  "$cli" convert "$source_model" "$work/mlmath.keras" >/dev/null 2>"$work/err" \
    || fail "convert Keras SavedModel -> .keras failed: $(cat "$work/err")"
  "$cli" convert "$source_model" "$work/mlmath.h5" >/dev/null 2>"$work/err" || fail "convert Keras SavedModel -> .h5 failed: $(cat "$work/err")"
  key=$(printf '%s' "$input" | py '
import json, sys
d = json.load(sys.stdin)
def find(o):
    if isinstance(o, list):
        for v in o:
            r = find(v)
            if r: return r
    if isinstance(o, dict):
        if "inputs" in o and isinstance(o["inputs"], dict) and o["inputs"]:
            k = sorted(o["inputs"])[0]
            return k, o["inputs"][k]
        for v in o.values():
            r = find(v)
            if r: return r
r = find(d)
k, info = r
shape = info.get("shape") or info.get("tensor_shape") or []
print(k, json.dumps(shape))
' 2>/dev/null) || key=""
  if [ -n "$key" ]; then
    name=${key%% *}; shape=${key#* }
    py '
import json, numpy as np, sys
shape = [d if isinstance(d, int) and d > 0 else 3 for d in json.loads(sys.argv[1])]
rng = np.random.default_rng(7)
np.save(sys.argv[2], rng.uniform(-1, 1, size=shape).astype(np.float32))
' "$shape" "$work/S.npy" || fail "could not make an input for the fixture"
    "$cli" run "$source_model" --signature_def serving_default --inputs "$name=$work/S.npy" --outdir "$work/graph" >/dev/null 2>"$work/err" \
      || fail "run on the fixture failed: $(cat "$work/err")"
    for converted in mlmath.keras mlmath.h5; do
      "$cli" predict "$work/$converted" --x "$work/S.npy" --output "$work/P-$converted.npy" >/dev/null 2>"$work/err" \
        || { fail "predict on $converted failed: $(cat "$work/err")"; continue; }
      py '
import glob, numpy as np, sys
graph = [np.load(p) for p in sorted(glob.glob(sys.argv[1] + "/*.npy"))]
got = np.load(sys.argv[2])
assert len(graph) == 1 and graph[0].shape == got.shape, ([g.shape for g in graph], got.shape)
assert np.allclose(got, graph[0], rtol=1e-4, atol=1e-6), abs(got - graph[0]).max()
' "$work/graph" "$work/P-$converted.npy" || fail "$converted does not predict what the fixture's serving graph computes"
    done
  else
    fail "could not read the fixture's serving_default input from show --json: $input"
  fi
else
  echo "note: fixtures absent, the Keras SavedModel -> .keras half is skipped"
fi
finish "convert to and from SavedModel"
