"""Peer test of NumPy interchange: numpy writes the .npy inputs `savepoint run` reads, reads the
.npy outputs it writes (--outdir), and prints (str) what savepoint printed for each result.

Models: matrix_half_plus_two (y = 0.5 x + 2, no variables) for float32 at several magnitudes,
including values that switch numpy to scientific notation, NaN and infinities; and the tfjs-node
SavedModels for int32, uint8 -> int32 and int64 (PROVENANCE.md section 13)."""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy is not installed for /usr/bin/python3: peer test skipped")
    sys.exit(77)

CLI = os.environ.get("SP_CLI")
FIXTURES = os.environ.get("SP_FIXTURES", "")
if not CLI or not os.path.isdir(FIXTURES):
    print("SP_CLI or the fixtures folder is missing: peer test skipped")
    sys.exit(77)

TMP = tempfile.mkdtemp(dir=os.environ.get("SP_TEST_TMP") or None, prefix="peer-npy-")
failures = []


def run(*arguments):
    result = subprocess.run([CLI, "run", *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError("savepoint run %s failed: %s" % (" ".join(arguments), result.stderr))
    return result.stdout


def printed_results(stdout):
    """{key: text} from 'Result for output key K:\\n<text>' blocks (saved_model_cli's layout)."""
    results, key, lines = {}, None, []
    for line in stdout.splitlines():
        if line.startswith("Result for output key ") and line.endswith(":"):
            if key is not None:
                results[key] = "\n".join(lines)
            key, lines = line[len("Result for output key "):-1], []
        elif line.startswith("Output ") and " is saved to " in line:
            continue
        else:
            lines.append(line)
    if key is not None:
        results[key] = "\n".join(lines)
    return results


def check(name, condition, detail=""):
    if not condition:
        failures.append("%s: %s" % (name, detail))


def float_case(name, x):
    model = os.path.join(FIXTURES, "tfserving-batching-testdata/matrix_half_plus_two/1")
    source = os.path.join(TMP, name + ".npy")
    outdir = os.path.join(TMP, name + "-out")
    np.save(source, x)
    stdout = run(model, "--inputs", "x=" + source, "--outdir", outdir, "--overwrite")
    y = np.load(os.path.join(outdir, "y.npy"))
    expected = np.float32(0.5) * x + np.float32(2)
    check(name + " dtype", y.dtype == np.float32, y.dtype)
    check(name + " values", np.array_equal(y, expected, equal_nan=True), "%r vs %r" % (y, expected))
    check(name + " text", printed_results(stdout).get("y") == str(y), "\n%s\n---numpy---\n%s" % (printed_results(stdout).get("y"), str(y)))


rng = np.random.default_rng(2024)
float_case("unit", rng.standard_normal((2, 3, 3)).astype(np.float32))
float_case("large", (rng.standard_normal((4, 3, 3)) * 1e9).astype(np.float32))
float_case("tiny", (rng.standard_normal((1, 3, 3)) * 1e-6).astype(np.float32))
float_case("integers", np.arange(9, dtype=np.float32).reshape(1, 3, 3) * 2)
special = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
special[0, 0, 0], special[0, 1, 1], special[0, 2, 2] = np.nan, np.inf, -np.inf
float_case("special", special)
float_case("many", rng.standard_normal((200, 3, 3)).astype(np.float32))

# The same model through --input_exprs, --inputs file.npz[name] and --json.
model = os.path.join(FIXTURES, "tfserving-batching-testdata/matrix_half_plus_two/1")
x = np.array([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=np.float32)
archive = os.path.join(TMP, "inputs.npz")
np.savez(archive, first=x, second=x * 2)
stdout = run(model, "--inputs", "x=%s[second]" % archive)
check("npz", printed_results(stdout).get("y") == str(np.float32(0.5) * x * 2 + 2), stdout)
single = os.path.join(TMP, "single.npz")
np.savez(single, only=x)
stdout = run(model, "--inputs", "x=" + single)
check("npz with one array", printed_results(stdout).get("y") == str(np.float32(0.5) * x + 2), stdout)
stdout = run(model, "--input_exprs", "x=[[[1,2,3],[4,5,6],[7,8,9]]]", "--json")
check("json", json.loads(stdout) == {"y": (np.float32(0.5) * x + 2).tolist()}, stdout)

# Integer models (tfjs-node/src/saved_model_test.ts expectations).
base = os.path.join(FIXTURES, "tfjs-node-savedmodels/saved_model")
for model_name, dtype, values, expected, expected_dtype in [
    ("times_two_int", np.int32, [1, 2, 3], [2, 4, 6], np.int32),
    ("uint8_multiply", np.uint8, [3], [18], np.int32),
    ("int64_multiply", np.int64, [3, 4], [18, 24], np.int64),
]:
    source = os.path.join(TMP, model_name + ".npy")
    outdir = os.path.join(TMP, model_name + "-out")
    np.save(source, np.array(values, dtype=dtype))
    stdout = run(os.path.join(base, model_name), "--inputs", "x=" + source, "--outdir", outdir, "--overwrite")
    y = np.load(os.path.join(outdir, "output_0.npy"))
    check(model_name + " dtype", y.dtype == expected_dtype, y.dtype)
    check(model_name + " values", y.tolist() == expected, y.tolist())
    check(model_name + " text", printed_results(stdout).get("output_0") == str(y), stdout)

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("numpy and savepoint agree on every .npy read, written and printed")
