#!/usr/bin/env bash
# `savepoint show` on TensorFlow checkpoints, end to end. Expected listings and values are
# those of PROVENANCE.md Appendix B and the values its sections state (e.g. my_embedding,
# global_step); JSON is checked by Python's json module where /usr/bin/python3 exists.
set -uo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
fixtures=${SP_FIXTURES:-}
[ -d "$fixtures" ] || { echo "fixtures folder '$fixtures' is absent: skipped"; exit 77; }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_output NAME EXPECTED_EXIT EXPECTED_STDOUT -- ARGS...
expect_output() {
  local name=$1 want_exit=$2 want=$3; shift 4
  local got exit_code
  got=$("$cli" "$@" 2>/dev/null); exit_code=$?
  [ "$exit_code" = "$want_exit" ] || fail "$name: exit $exit_code, expected $want_exit"
  [ "$got" = "$want" ] || fail "$name: output differs:
--- got
$got
--- expected
$want"
}

# expect_error NAME EXPECTED_EXIT FRAGMENT -- ARGS...: stderr must contain FRAGMENT
expect_error() {
  local name=$1 want_exit=$2 fragment=$3; shift 4
  local err exit_code
  err=$("$cli" "$@" 2>&1 >/dev/null); exit_code=$?
  [ "$exit_code" = "$want_exit" ] || fail "$name: exit $exit_code, expected $want_exit ($err)"
  case "$err" in *"$fragment"*) ;; *) fail "$name: stderr '$err' lacks '$fragment'" ;; esac
}

half=$fixtures/tfserving-testdata/saved_model_half_plus_two_2_versions/00000123/variables/variables
trt=$fixtures/tf-trt-mnist-ckpt/model.ckpt-46900
embedding=$fixtures/tf-feature-column-embedding-ckpt/embedding.ckpt

expect_output list-json 0 '[{"name": "a", "dtype": "float32", "shape": [], "bytes": 4}, {"name": "b", "dtype": "float32", "shape": [], "bytes": 4}, {"name": "c", "dtype": "float32", "shape": [], "bytes": 4}]' -- show "$half" --json
expect_output list-text 0 'my_embedding  float32  [3, 2]            24' -- show "$embedding"
expect_output tensor-text 0 '[[1.0, 2.0],
 [3.0, 5.0],
 [7.0, 11.0]]' -- show "$embedding" --tensor my_embedding
expect_output tensor-json 0 '[[1.0, 2.0], [3.0, 5.0], [7.0, 11.0]]' -- show "$embedding" --tensor=my_embedding --json
expect_output int64-scalar 0 '46900' -- show "$trt" --tensor global_step
expect_output string-text 0 "[b'']" -- show "$fixtures/tf-tensor-bundle-old-string-tensors/old_string_tensors/foo" --tensor string_tensor

# The listing: 27 tensors in key order, with Appendix B's dtype/shape/size for a few.
listing=$("$cli" show "$trt") || fail "listing tf-trt-mnist-ckpt failed"
[ "$(printf '%s\n' "$listing" | wc -l)" = 27 ] || fail "tf-trt listing does not have 27 lines"
printf '%s\n' "$listing" | awk '$1 == "dense/kernel/Adam_1" && $2 == "float32" && $3 == "[64," && $4 == "512]" && $5 == 131072 {found=1} END {exit !found}' \
  || fail "dense/kernel/Adam_1 float32 [64, 512] 131072 missing from the listing"
printf '%s\n' "$listing" | awk '$1 == "global_step" && $2 == "int64" && $3 == "[]" && $4 == 8 {found=1} END {exit !found}' \
  || fail "global_step int64 [] 8 missing from the listing"
[ "$(printf '%s\n' "$listing" | awk '{print $1}')" = "$(printf '%s\n' "$listing" | awk '{print $1}' | LC_ALL=C sort)" ] \
  || fail "listing is not sorted by name"

# The same checkpoint through its .index, through its directory's checkpoint file, through a data file.
for alias in "$trt.index" "$fixtures/tf-trt-mnist-ckpt" "$trt.data-00000-of-00001"; do
  [ "$("$cli" show "$alias")" = "$listing" ] || fail "show '$alias' differs from show of the prefix"
done

expect_error latest-missing 1 "names checkpoint 'cp-0050.ckpt', but its .index file is missing" -- show "$fixtures/tf-keras-save-weights-tf-format/training_2"
"$cli" show "$fixtures/tfserving-testdata/saved_model_half_plus_two_cpu/00000123" | grep -q "^% serve$\|'serve'" \
  || fail "show of a SavedModel directory lists its tag-sets"
"$cli" show "$fixtures/keras3.6-h5-xor/xor_model.h5" | grep -q "Keras version: 3.6.0" || fail "show of a Keras .h5 model"
expect_error absent 1 "no such file, directory or checkpoint prefix" -- show "$fixtures/nothing-here"
expect_error no-tensor 1 "has no tensor named 'nope'" -- show "$trt" --tensor nope
expect_error unknown-option 2 "unknown option '--bogus'" -- show "$trt" --bogus
expect_error no-path 2 "missing PATH" -- show
"$cli" show --help | grep -q "usage: savepoint show" || fail "show --help"

if [ -x /usr/bin/python3 ]; then
  graph_json=$("$cli" show "$fixtures/tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123/variables/variables" \
    --tensor _CHECKPOINTABLE_OBJECT_GRAPH --json)
  strs_json=$("$cli" show "$fixtures/tf-tensor-bundle-old-string-tensors/old_string_tensors/foo" --tensor strs --json)
  /usr/bin/python3 - "$graph_json" "$strs_json" <<'PY' || fail "JSON values differ from Appendix B"
import base64, json, sys
graph = json.loads(sys.argv[1])            # a scalar: one non-UTF-8 string as {"b64": ...}
data = base64.b64decode(graph["b64"])
assert len(data) == 613, len(data)
assert data.startswith(b'\n\x98\x01\n\x05\x12\x01a\x08\x01\n\x05\x12'), data[:16]
strs = json.loads(sys.argv[2])
assert strs[:3] == ["hello", "", "x01"], strs[:3]
assert strs[3] == "c" * 1024
PY
fi

[ "$failures" = 0 ] || { echo "$failures failures"; exit 1; }
echo "all show checks passed"
