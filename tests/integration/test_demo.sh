#!/usr/bin/env bash
# `savepoint demo`: the save-point tutorial on Fashion-MNIST. For eight seeds the untrained
# model is near chance (accuracy < 0.2 on ten classes) and the trained one reaches >= 0.76 (a
# PyTorch trainer on exactly this setup lands at 0.78-0.80). Under the sanitizers
# (SP_SANITIZE=1) one seed is run, with the same assertions. Also the text output and --help.
# The demo's Adam keeps Keras's weight averages (use_ema=True) and the model ends with them. With
# the plain Adam the last step's weights swing: over seeds 1-100, 5 fell below 0.76 (seed 7: 0.696,
# one epoch after 0.792), and so did 5 of 300 in PyTorch. With the averages, seeds 1-300 of the same
# setup (`savepoint train --seed N`, which draws as the demo does) all land in 0.790-0.814
# (bench/demo_seeds.sh runs such a sweep with the demo itself). Seeds 7,
# 25, 32, 55 and 97 below are the five that fell under 0.76 without them. One --no-ema run checks
# the plain Adam's files and restores.
# After training, for every seed: the model restored from .keras, .h5 and .weights.h5 (+ JSON) has
# exactly the trained test accuracy; the files, the SavedModel export models/demo/1 and the
# registry's records of all five are there; the export serves (a :predict answered by
# `savepoint serve` equals `savepoint predict` on the .keras); a second run in the same output
# directory publishes version 2. The tutorial's checkpoint callback: a TF checkpoint after each of
# the 10 epochs in training_1/ (steps 32 … 320, the newest 5 kept, which verify), the latest one
# restored into a fresh model with the trained accuracy exactly; the registry holds all 10
# checkpoints, the 5 that retention deleted marked deleted.
set -uo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
data=${SP_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
[ -d "$data" ] || { echo "skipped: Fashion-MNIST is not installed in '$data' (dataset-fashion-mnist)"; exit 77; }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
work=${SP_TEST_TMP:-/tmp}/demo-$$
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
unset SAVEPOINT_REGISTRY

seeds="1 2 3 7 25 32 55 97"
[ "${SP_SANITIZE:-0}" = 1 ] && seeds="1"
for seed in $seeds; do
  out=$("$cli" demo --json --seed "$seed" --output "$work/seed$seed") || { fail "demo --seed $seed failed"; continue; }
  verdict=$(printf '%s' "$out" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
problems = []
if not d["untrained_accuracy"] < 0.2: problems.append("untrained accuracy %.4f is not < 0.2" % d["untrained_accuracy"])
if not d["trained_accuracy"] >= 0.76: problems.append("trained accuracy %.4f is not >= 0.76" % d["trained_accuracy"])
if d["use_ema"] is not True: problems.append("use_ema %r" % d["use_ema"])
if len(d["history"]["loss"]) != 10: problems.append("history has %d epochs" % len(d["history"]["loss"]))
if not d["history"]["loss"][-1] < d["history"]["loss"][0]: problems.append("the loss did not fall")
formats = [r["format"] for r in d["restored"]]
if formats != [".keras", ".h5", ".weights.h5", ".json"]: problems.append("saved formats %r" % formats)
for r in d["restored"][:3]:
    if r.get("accuracy") != d["trained_accuracy"]:
        problems.append("restored %s accuracy %r != trained %r" % (r["format"], r.get("accuracy"), d["trained_accuracy"]))
if d["export"]["version"] != 1 or not d["export"]["path"].endswith("/models/demo/1"): problems.append("export %r" % d["export"])
c = d["checkpoint"]
if not c["latest"].endswith("/training_1/cp-320"): problems.append("latest checkpoint %r" % c["latest"])
if c["accuracy"] != d["trained_accuracy"]: problems.append("checkpoint accuracy %r != trained %r" % (c["accuracy"], d["trained_accuracy"]))
if not d["registry"].startswith("sqlite:///") or not d["registry"].endswith("/registry.db"): problems.append("registry %r" % d["registry"])
print("; ".join(problems) if problems else "ok %.4f %.4f" % (d["untrained_accuracy"], d["trained_accuracy"]))
') || verdict="unparsable output: $out"
  case "$verdict" in ok*) echo "seed $seed: untrained/trained accuracy ${verdict#ok }" ;; *) fail "seed $seed: $verdict" ;; esac
  for file in model.keras model.h5 model.weights.h5 model.json models/demo/1/saved_model.pb models/demo/1/savepoint.sha256; do
    [ -f "$work/seed$seed/$file" ] || fail "seed $seed: no $file in the output directory"
  done
  "$cli" registry --registry "sqlite:///$work/seed$seed/registry.db" list --json > "$work/list.json" \
    || fail "seed $seed: registry list failed"
  /usr/bin/python3 - "$work/list.json" "$work/seed$seed" <<'PY' || fail "seed $seed: registry records: $(cat "$work/list.json")"
import json, os, sys
rows = json.load(open(sys.argv[1]))
found = sorted((r["kind"], r["format"], os.path.relpath(r["path"], os.path.realpath(sys.argv[2]))) for r in rows)
expected = sorted([("model", "keras", "model.keras"), ("model", "h5", "model.h5"), ("weights", "weights_h5", "model.weights.h5"),
                   ("model", "json", "model.json"), ("export", "saved_model", "models/demo/1")]
                  + [("checkpoint", "tf_checkpoint", "training_1/cp-%d" % (32 * epoch)) for epoch in range(1, 11)])
assert found == expected, found
deleted = sorted(os.path.basename(r["path"]) for r in rows if r.get("deleted_at"))
assert deleted == sorted("cp-%d" % (32 * epoch) for epoch in range(1, 6)), deleted
assert len({r["run_id"] for r in rows}) == 1 and all(len(r["sha256"]) == 64 for r in rows), rows
PY
  "$cli" verify --registry "sqlite:///$work/seed$seed/registry.db" "$work/seed$seed/models/demo/1" >/dev/null \
    || fail "seed $seed: the export does not verify against the registry"
  for step in 192 224 256 288 320; do
    "$cli" verify --registry "sqlite:///$work/seed$seed/registry.db" "$work/seed$seed/training_1/cp-$step" >/dev/null \
      || fail "seed $seed: checkpoint cp-$step does not verify"
  done
  [ ! -e "$work/seed$seed/training_1/cp-160.index" ] || fail "seed $seed: retention kept cp-160 (max_to_keep 5)"
done

text=$("$cli" demo --epochs 1 --seed 4 --output "$work/text" | cat) || fail "demo --epochs 1 failed"
for expected in "Untrained model, accuracy:" "Epoch 1/1 - 32/32 - " "Trained model, accuracy:" \
                "Restored model (checkpoint $work/text/training_1/cp-32), accuracy:" "Restored model (.keras), accuracy:" "Restored model (.h5), accuracy:" "Restored model (.weights.h5), accuracy:" \
                "savepoint serve --rest_api_port=8501 --model_name=demo --model_base_path=$work/text/models/demo" \
                "curl -s -X POST http://localhost:8501/v1/models/demo:predict" "savepoint registry list" "saved_model"; do
  case "$text" in *"$expected"*) ;; *) fail "demo output lacks '$expected': $text" ;; esac
done
trained=$(printf '%s\n' "$text" | sed -n 's/^Trained model, accuracy: *//p')
[ "$(printf '%s\n' "$text" | grep -c "^Restored model (.*), accuracy: *$trained\$")" = 4 ] \
  || fail "each restored accuracy should print as the trained one ($trained): $text"
out=$("$cli" demo --epochs 1 --seed 4 --output "$work/text" --json 2>/dev/null) || fail "a second demo run in the same output failed"
printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["export"]["version"] == 2, d["export"]' \
  || fail "a second run should export version 2: $out"

# the export serves what the model predicts
/usr/bin/python3 - "$work/text" "$cli" <<'PY' || fail "serving the demo's export"
import json, os, subprocess, sys
sys.path.insert(0, os.path.join(os.environ.get("SP_SOURCE_DIR", "."), "tests/peer"))
from serve_support import Server, check
import numpy as np
out, cli = sys.argv[1], sys.argv[2]
x = np.zeros((1, 784), dtype=np.float32)
x[0, ::7] = 0.5
np.save(os.path.join(out, "x.npy"), x)
local = json.loads(subprocess.run([cli, "predict", os.path.join(out, "model.keras"), "--x", os.path.join(out, "x.npy"), "--json"],
                                  check=True, capture_output=True, text=True).stdout)["predictions"]
with Server("--model_name=demo", "--model_base_path=" + os.path.join(out, "models", "demo")) as server:
    server.wait_for(lambda: server.version_state("demo", 2) == "AVAILABLE", "version 2 AVAILABLE")
    status, body, _ = server.post("/v1/models/demo:predict", {"instances": x.tolist()})
    check(status == 200, "predict: %d %s" % (status, body))
    got = np.array(body["predictions"]); want = np.array(local)
    check(got.shape == want.shape and np.allclose(got, want, rtol=1e-5, atol=1e-6), "served %r, predict %r" % (got, want))
    check(server.stop() == 0, "SIGTERM")
PY
# the compile config in model.keras says which Adam trained it; --no-ema is the tutorial's plain Adam
out=$("$cli" demo --no-ema --epochs 2 --seed 7 --output "$work/plain" --json 2>/dev/null) || fail "demo --no-ema failed"
printf '%s' "$out" | /usr/bin/python3 -c '
import json, sys, zipfile
d = json.load(sys.stdin)
assert d["use_ema"] is False, d["use_ema"]
assert all(r.get("accuracy", d["trained_accuracy"]) == d["trained_accuracy"] for r in d["restored"]), d["restored"]
assert d["checkpoint"]["accuracy"] == d["trained_accuracy"], d["checkpoint"]
for run, expected in ((d["output"], False), (sys.argv[1], True)):
    config = json.loads(zipfile.ZipFile(run + "/model.keras").read("config.json"))["compile_config"]["optimizer"]["config"]
    assert config["use_ema"] is expected and config["learning_rate"] == 0.0010000000474974513, (run, config)
' "$work/seed1" || fail "demo --no-ema: $out"
"$cli" demo --help | grep -q "usage: savepoint demo" || fail "demo --help"
"$cli" demo --bogus >/dev/null 2>&1
[ $? = 2 ] || fail "an unknown option should exit 2"
"$cli" demo --data-dir /nonexistent >/dev/null 2>"${SP_TEST_TMP:-/tmp}/demo-err-$$"
[ $? = 1 ] || fail "a missing data directory should exit 1"
grep -q "dataset-fashion-mnist" "${SP_TEST_TMP:-/tmp}/demo-err-$$" || fail "the error should say how to get the data"
rm -f "${SP_TEST_TMP:-/tmp}/demo-err-$$"
[ "$failures" = 0 ] || exit 1
echo "demo: all checks passed"
