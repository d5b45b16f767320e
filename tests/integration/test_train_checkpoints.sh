#!/usr/bin/env bash
# `savepoint train` saving flags end to end. Expected outcomes are computed here from the run's own
# History with Keras 3's rules (not from savepoint's messages):
#   - ModelCheckpoint --save-best-only writes exactly the epochs whose val_loss is below every
#     earlier one (best starts at inf);
#   - EarlyStopping (patience P) stops at the first epoch where P epochs passed without a new
#     minimum, and --restore-best-weights ends with the weights of the best epoch (compared with
#     h5py against that epoch's checkpoint);
#   - with a registry, the run is recorded (command line, hyperparameters, final metrics), every
#     checkpoint and the final save are artifacts with their run, and retention's deletions are
#     recorded (deleted_at) for exactly the checkpoints no longer on disk.
set -uo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
work=${SP_TEST_TMP:-/tmp}/train-checkpoints-$$
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
py() { /usr/bin/python3 -c "$@"; }
py 'import h5py' 2>/dev/null || { echo "skipped: h5py is not installed for /usr/bin/python3"; exit 77; }

cat > "$work/model.json" <<'JSON'
{"module": "keras", "class_name": "Sequential", "config": {"name": "mlp", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 2], "dtype": "float32", "name": "input_layer"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 16, "activation": "relu"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense_1", "units": 1, "activation": "linear"}, "registered_name": null}]},
 "registered_name": null,
 "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {"learning_rate": 0.01}, "registered_name": null},
                    "loss": "mse", "metrics": ["mae"]}}
JSON
py '
import math, random
r = random.Random(4)
with open("'"$work"'/data.csv", "w") as f:
    f.write("a,b,y\n")
    for i in range(160):
        a, b = math.sin(0.37 * i), math.sin(0.37 * i + 1.7)
        f.write("%r,%r,%r\n" % (a, b, 2 * a - 3 * b + 1 + r.gauss(0, 0.8)))
'
train() { "$cli" train --model "$work/model.json" --csv "$work/data.csv" --batch-size 16 --seed 3 --verbose 0 \
            --validation-split 0.3 "$@"; }

# ---- ModelCheckpoint --save-best-only ----
out=$(train --epochs 25 --learning-rate 0.08 --history "$work/best.json" \
        --checkpoint "$work/best/e{epoch:02d}-{val_loss:.3f}.keras" --save-best-only 2>&1) || fail "save-best-only run: $out"
check=$(py '
import json, os, sys
val = json.load(open(sys.argv[1]))["val_loss"]
best, expected = float("inf"), set()
for epoch, value in enumerate(val, 1):
    if value < best:
        best = value
        expected.add("e%02d-%.3f.keras" % (epoch, value))
found = set(os.listdir(sys.argv[2]))
problems = []
if found != expected: problems.append("files %s, expected %s" % (sorted(found), sorted(expected)))
if len(expected) == len(val): problems.append("val_loss improved every epoch: the test shows nothing; change its settings")
print("; ".join(problems) or "ok")
' "$work/best.json" "$work/best" 2>&1)
[ "$check" = ok ] || fail "save-best-only: $check"

# ---- EarlyStopping with restore_best_weights ----
out=$(train --epochs 60 --learning-rate 0.08 --history "$work/stop.json" --early-stopping-patience 3 \
        --restore-best-weights --checkpoint "$work/every/e{epoch:02d}.weights.h5" --save-weights-only \
        --save "$work/final.weights.h5" 2>&1) || fail "early stopping run: $out"
check=$(py '
import json, sys, h5py, numpy
val = json.load(open(sys.argv[1]))["val_loss"]
patience, best, best_epoch, wait, stopped = 3, float("inf"), None, 0, None
for epoch, value in enumerate(val):
    wait += 1
    if value < best:
        best, best_epoch, wait = value, epoch, 0
        continue
    if wait >= patience and epoch > 0:
        stopped = epoch
        break
problems = []
if stopped is None: problems.append("Keras would not have stopped within %d epochs" % len(val))
elif len(val) != stopped + 1: problems.append("ran %d epochs, Keras stops after %d" % (len(val), stopped + 1))
def weights(path):
    out = []
    with h5py.File(path, "r") as f:
        f["layers"].visititems(lambda name, item: out.append((name, item[()])) if isinstance(item, h5py.Dataset) else None)
    return out
final, chosen = weights(sys.argv[2]), weights(sys.argv[3] % (best_epoch + 1))
if len(final) != 4 or [n for n, _ in final] != [n for n, _ in chosen]: problems.append("weight names %r" % [n for n, _ in final])
elif not all(numpy.array_equal(a, b) for (_, a), (_, b) in zip(final, chosen)):
    problems.append("final weights are not those of the best epoch %d" % (best_epoch + 1))
print("; ".join(problems) or "ok")
' "$work/stop.json" "$work/final.weights.h5" "$work/every/e%02d.weights.h5" 2>&1)
[ "$check" = ok ] || fail "early stopping: $check"
train --epochs 60 --learning-rate 0.08 --early-stopping-patience 3 --restore-best-weights --verbose 1 > "$work/stop.txt" 2>&1
grep -q "^Restoring model weights from the end of the best epoch: " "$work/stop.txt" || fail "early stopping does not say it restores"

# ---- registry: run, checkpoints, final save, retention's deletions ----
registry="sqlite://$work/registry.db"
out=$(train --epochs 5 --checkpoint "$work/managed/" --max-to-keep 2 --save "$work/final.keras" --registry "$registry" 2>&1) \
  || fail "registry run: $out"
runs=$("$cli" registry --registry "$registry" --json list runs) || fail "registry list runs"
artifacts=$("$cli" registry --registry "$registry" --json list artifacts) || fail "registry list artifacts"
check=$(py '
import json, os, sys
runs, artifacts, directory = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
problems = []
if len(runs) != 1: problems.append("%d runs" % len(runs))
else:
    run = runs[0]
    if run["status"] != "completed": problems.append("run status %r" % run["status"])
    if "--max-to-keep 2" not in run["command_line"]: problems.append("command line %r" % run["command_line"])
    if run["hyperparameters"].get("epochs") != 5 or run["hyperparameters"].get("batch_size") != 16:
        problems.append("hyperparameters %r" % run["hyperparameters"])
    if not {"loss", "val_loss"} <= set(run["metrics"] or {}): problems.append("metrics %r" % run["metrics"])
checkpoints = [a for a in artifacts if a["kind"] == "checkpoint"]
models = [a for a in artifacts if a["kind"] == "model"]
if len(checkpoints) != 5: problems.append("%d checkpoints recorded" % len(checkpoints))
if len(models) != 1 or not models[0]["path"].endswith("final.keras"): problems.append("final save: %r" % models)
if any(a["run_id"] != runs[0]["id"] for a in artifacts): problems.append("an artifact without the run")
for a in checkpoints:
    on_disk = os.path.exists(a["path"] + ".index")
    if on_disk == (a["deleted_at"] is not None): problems.append("%s: on disk %s, deleted_at %r" % (a["path"], on_disk, a["deleted_at"]))
if sum(a["deleted_at"] is None for a in checkpoints) != 2: problems.append("max_to_keep 2 should leave 2")
print("; ".join(problems) or "ok")
' "$runs" "$artifacts" "$work/managed" 2>&1)
[ "$check" = ok ] || fail "registry: $check"

# ---- misuse ----
train --epochs 1 --max-to-keep 2 --checkpoint "$work/x.keras" >/dev/null 2>&1
[ $? = 1 ] || fail "--max-to-keep without a checkpoint directory should fail"
train --epochs 1 --save-freq never >/dev/null 2>&1
[ $? = 2 ] || fail "--save-freq never should be a usage error"
"$cli" train --help > "$work/help.txt" || fail "train --help failed"
grep -q -- "--backup-dir DIR" "$work/help.txt" || fail "--help does not document --backup-dir"

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "ok"
