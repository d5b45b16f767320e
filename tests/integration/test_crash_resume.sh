#!/usr/bin/env bash
# Crash test: `savepoint train` backs up after every batch (--backup-dir, --backup-freq 1) and is
# killed with SIGKILL at random moments, at least 50 times (12 under the sanitizers, SP_SANITIZE=1).
# After every kill the latest backup must pass `savepoint verify` (every CRC and its sha256
# manifest) and `savepoint show`; starting the same command again resumes from it, and each job,
# once it completes, must have saved final weights, a History file (--history) and a CSV log
# (--csv-log), both written after every epoch and resumed with the rest, byte-identical to an
# uninterrupted run's.
# The kill delays come from a fixed seed, so a failure reproduces.
set -uo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
work=${SP_TEST_TMP:-/tmp}/crash-resume-$$
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
kills=50
[ "${SP_SANITIZE:-0}" = 1 ] && kills=12

cat > "$work/model.json" <<'JSON'
{"module": "keras", "class_name": "Sequential", "config": {"name": "mlp", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 2], "dtype": "float32", "name": "input_layer"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 16, "activation": "relu"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dropout", "config": {"name": "dropout", "rate": 0.25}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense_1", "units": 1, "activation": "linear"}, "registered_name": null}]},
 "registered_name": null,
 "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {"learning_rate": 0.01}, "registered_name": null},
                    "loss": "mse", "metrics": ["mae"]}}
JSON

exec /usr/bin/python3 - "$cli" "$work" "$kills" <<'PYTHON'
import math, os, random, signal, subprocess, sys, time

cli, work, kills = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(os.path.join(work, "data.csv"), "w") as f:
    f.write("a,b,y\n")
    for i in range(120):
        a, b = math.sin(0.37 * i), math.sin(0.37 * i + 1.7)
        f.write("%r,%r,%r\n" % (a, b, 2 * a - 3 * b + 1))

failures = []
def fail(message):
    print("FAIL:", message)
    failures.append(message)

def train(final, backup_dir):
    # 120 samples, batch 8: 15 batches per epoch, 45 in all; EarlyStopping's state rides along.
    return [cli, "train", "--model", os.path.join(work, "model.json"), "--csv", os.path.join(work, "data.csv"),
            "--epochs", "3", "--batch-size", "8", "--seed", "5", "--verbose", "0", "--validation-split", "0.2",
            "--early-stopping-patience", "5", "--save", final, "--history", final + ".history.json",
            "--csv-log", final + ".csv",
            "--backup-dir", backup_dir, "--backup-freq", "1"]

def run(command):
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

reference = os.path.join(work, "reference.weights.h5")
started = time.monotonic()
done = run(train(reference, os.path.join(work, "reference-backup")))
if done.returncode != 0:
    fail("the uninterrupted run failed: " + done.stdout)
    sys.exit(1)
full_run = time.monotonic() - started
with open(reference, "rb") as f:
    expected = f.read()
with open(reference + ".history.json", "rb") as f:
    expected_history = f.read()
with open(reference + ".csv", "rb") as f:
    expected_csv = f.read()

def check_latest(backup_dir, what):
    latest = run([cli, "ckpt", "latest", backup_dir])
    if latest.returncode != 0:
        return  # killed before the first backup was published
    prefix = latest.stdout.strip()
    verified = run([cli, "verify", prefix])
    if verified.returncode != 0 or not verified.stdout.startswith("OK "):
        fail("%s: verify %s: %s" % (what, prefix, verified.stdout))
    shown = run([cli, "show", prefix])
    if shown.returncode != 0:
        fail("%s: show %s: %s" % (what, prefix, shown.stdout))

rng = random.Random(20261123)
killed = jobs = resumed_to_the_end = 0
while killed < kills and not failures:
    jobs += 1
    final = os.path.join(work, "job-%d.weights.h5" % jobs)
    backup_dir = os.path.join(work, "job-%d-backup" % jobs)
    for attempt in range(200):
        process = subprocess.Popen(train(final, backup_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            output, _ = process.communicate(timeout=rng.uniform(0.05, full_run * 0.6))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.communicate()
            killed += 1
            check_latest(backup_dir, "job %d, kill %d" % (jobs, killed))
            continue
        if process.returncode != 0:
            fail("job %d, attempt %d exited %d: %s" % (jobs, attempt + 1, process.returncode, output))
            break
        if os.path.exists(backup_dir):
            fail("job %d: the backup directory outlived a completed run" % jobs)
        with open(final, "rb") as f:
            if f.read() != expected:
                fail("job %d: final weights differ from the uninterrupted run's after %d attempts" % (jobs, attempt + 1))
        with open(final + ".history.json", "rb") as f:
            if f.read() != expected_history:
                fail("job %d: the History file differs from the uninterrupted run's" % jobs)
        with open(final + ".csv", "rb") as f:
            if f.read() != expected_csv:
                fail("job %d: the CSV log differs from the uninterrupted run's" % jobs)
        if attempt > 0:
            resumed_to_the_end += 1
        break

print("%d kills over %d jobs; %d jobs resumed to the end; uninterrupted run %.1fs" %
      (killed, jobs, resumed_to_the_end, full_run))
if resumed_to_the_end == 0:
    fail("no job was resumed after a kill and completed")
sys.exit(1 if failures else 0)
PYTHON
