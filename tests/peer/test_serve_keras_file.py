"""`savepoint serve` over version directories that hold a Keras file instead of a SavedModel.

A small Dense model (config JSON below) is written by `savepoint convert` as version 1
(`model.keras`) and version 2 (`model.h5`, the same weights). The server loads version 1, answers
:predict with what numpy computes from the weights h5py reads out of the .h5 (a peer, not our own
output), then moves to version 2 when it appears, and gives the same answers there; status and
metadata show serving_default with the model's input and output names and the savepoint hash.
Version 3 is the .keras again with its manifest (`savepoint manifest`) and then one flipped byte:
the server refuses it (DATA_LOSS naming model.keras) and version 2 keeps answering. Version 4 is
the same model as a TF.js layers model (model.json + shard): it takes over with the same answers.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_support import CLI, Server, check, fail, skip

MODEL = "dense"
CONFIG = """{"module": "keras", "class_name": "Sequential", "config": {"name": "tiny", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "name": "features"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "scores", "units": 2, "activation": "sigmoid"}, "registered_name": null}]},
 "registered_name": null}"""
INSTANCES = [[0.5, -1.0, 2.0], [0.0, 0.25, -0.75]]


def convert(source, destination):
    result = subprocess.run([CLI, "convert", source, destination], capture_output=True, text=True)
    check(result.returncode == 0, "convert %s %s failed: %s" % (source, destination, result.stderr))


def expected_predictions(h5_path):
    import h5py
    import numpy as np

    with h5py.File(h5_path, "r") as handle:
        group = handle["model_weights"]["scores"]["scores"]
        kernel, bias = group["kernel:0"][()], group["bias:0"][()]
    return 1 / (1 + np.exp(-(np.array(INSTANCES, dtype=np.float64) @ kernel + bias)))


def check_predictions(server, version, expected):
    status, body, headers = server.post("/v1/models/%s:predict" % MODEL, {"instances": INSTANCES})
    check(status == 200, "predict on version %d: %d %s" % (version, status, body))
    check(headers.get("x-savepoint-model-version") == str(version),
          "answered by version %s, expected %d" % (headers.get("x-savepoint-model-version"), version))
    got = body["predictions"]
    check(len(got) == 2 and all(len(row) == 2 for row in got), "prediction shape: %r" % got)
    worst = max(abs(got[i][j] - expected[i][j]) for i in range(2) for j in range(2))
    check(worst < 1e-6, "version %d predicts %r, numpy %r" % (version, got, expected.tolist()))


def body(work):
    base = os.path.join(work, MODEL)
    os.makedirs(os.path.join(base, "1"))
    config = os.path.join(work, "model.json")
    with open(config, "w") as handle:
        handle.write(CONFIG)
    convert(config, os.path.join(base, "1", "model.keras"))
    staged = os.path.join(work, "staged")
    os.makedirs(staged)
    convert(os.path.join(base, "1", "model.keras"), os.path.join(staged, "model.h5"))
    expected = expected_predictions(os.path.join(staged, "model.h5"))
    with Server("--model_name=" + MODEL, "--model_base_path=" + base, "--file_system_poll_wait_seconds=0.2") as server:
        server.wait_for(lambda: server.version_state(MODEL, 1) == "AVAILABLE", "version 1 (.keras) AVAILABLE")
        check_predictions(server, 1, expected)
        status, metadata, _ = server.get("/v1/models/%s/metadata" % MODEL)
        check(status == 200, "metadata: %d %s" % (status, metadata))
        signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
        check(list(signature["inputs"]) == ["features"] and list(signature["outputs"]) == ["scores"],
              "signature keys: %r" % signature)
        status, state, _ = server.get("/v1/models/%s/versions/1" % MODEL)
        entry = state["model_version_status"][0]
        check(len(entry.get("savepoint", {}).get("sha256", "")) == 64, "status lacks the SHA-256: %r" % entry)
        os.rename(staged, os.path.join(base, "2"))  # published by rename, as an export is
        server.wait_for(lambda: server.version_state(MODEL, 2) == "AVAILABLE", "version 2 (.h5) AVAILABLE")
        check_predictions(server, 2, expected)
        tampered = os.path.join(work, "tampered")
        os.makedirs(tampered)
        shutil.copy(os.path.join(base, "1", "model.keras"), os.path.join(tampered, "model.keras"))
        result = subprocess.run([CLI, "manifest", tampered], capture_output=True, text=True)
        check(result.returncode == 0, "savepoint manifest failed: %s" % result.stderr)
        with open(os.path.join(tampered, "model.keras"), "r+b") as handle:
            handle.seek(100)
            byte = handle.read(1)
            handle.seek(100)
            handle.write(bytes([byte[0] ^ 0xFF]))
        os.rename(tampered, os.path.join(base, "3"))
        server.wait_for(lambda: server.version_state(MODEL, 3) == "END", "tampered version 3 refused")
        status, body, _ = server.get("/v1/models/%s/versions/3" % MODEL)
        refused = body["model_version_status"][0]["status"]
        check(refused["error_code"] == "DATA_LOSS" and "model.keras" in refused["error_message"],
              "version 3 status: %s" % refused)
        check(server.version_state(MODEL, 2) == "AVAILABLE", "version 2 must keep serving")
        check_predictions(server, 2, expected)
        staged = os.path.join(work, "staged-tfjs")
        convert(os.path.join(base, "1", "model.keras"), staged + "/")
        check(os.path.exists(os.path.join(staged, "model.json")), "convert to TF.js wrote no model.json")
        os.rename(staged, os.path.join(base, "4"))
        server.wait_for(lambda: server.version_state(MODEL, 4) == "AVAILABLE", "version 4 (TF.js) AVAILABLE")
        check_predictions(server, 4, expected)
        check(server.stop() == 0, "SIGTERM should exit 0\n" + server.log())


def main():
    if not CLI or not os.path.exists(CLI):
        skip("SP_CLI does not name the savepoint binary")
    try:
        import h5py  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        skip("h5py and numpy are needed for the reference predictions")
    root = os.environ.get("SP_TEST_TMP", tempfile.gettempdir())
    os.makedirs(root, exist_ok=True)
    work = tempfile.mkdtemp(prefix="serve-keras-file-", dir=root)
    try:
        body(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
