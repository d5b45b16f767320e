#!/usr/bin/env python3
"""Peer test: @tensorflow/tfjs 4.22.0 (npm, CPU backend, pinned by tests/peer/tfjs/package-lock.json)
runs what savepoint writes and predicts what savepoint predicts, to 1e-4 relative (1e-6 absolute).

1. savepoint's TF.js export (model.json + group1-shardNofM.bin) of models with Dense, Dropout,
   BatchNormalization, GRU, LSTM, SimpleRNN and a Functional Add graph, small shards so that
   weights span files; tfjs loads it as a browser would (tf.io.fromMemory of the files).
2. savepoint's legacy .h5 of the same models and of a Keras 2.15 fixture re-saved by savepoint:
   converted here with h5py exactly as tensorflowjs_converter --input_format keras does (the
   model_config verbatim, each layer's weight_names without ":0", in layer_names order), so tfjs
   reads our model_config and our weights, not our TF.js writer.

Skips (77) only when npm cannot install the pinned package or h5py is absent.
"""
import json
import os
import subprocess
import sys

from peer_support import helper, run, scratch_directory

try:
    import h5py
    import numpy as np
except ImportError as missing:
    print(f"skipped: {missing} (needs python3-h5py and python3-numpy for /usr/bin/python3)")
    sys.exit(77)

SOURCE = os.environ.get("SP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.environ.get("SP_FIXTURES", "")
PEER = os.path.join(SOURCE, "tests", "peer", "tfjs")
INPUT_SHAPES = {"dense": [3, 6], "bn": [3, 6], "recurrent": [3, 5, 4], "functional": [3, 4]}


def require_tfjs():
    if not os.path.exists(os.path.join(PEER, "node_modules", "@tensorflow", "tfjs", "package.json")):
        setup = subprocess.run([os.path.join(SOURCE, "scripts", "setup-tfjs.sh")], capture_output=True, text=True)
        if setup.returncode != 0:
            print(f"skipped: npm could not install @tensorflow/tfjs 4.22.0: {setup.stderr.strip()}")
            sys.exit(77)
    if subprocess.run(["node", "--version"], capture_output=True).returncode != 0:
        print("skipped: node is not installed")
        sys.exit(77)


def tfjs_predict(model_json, input_path):
    result = subprocess.run(["node", os.path.join(PEER, "predict.js"), model_json, input_path],
                            capture_output=True, text=True, cwd=PEER)
    assert result.returncode == 0, f"tfjs could not run {model_json}: {result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_input(directory, name, shape):
    values = np.sin(np.arange(int(np.prod(shape)), dtype=np.float64) * 0.7).astype(np.float32)
    path = os.path.join(directory, f"{name}.input.json")
    with open(path, "w") as out:
        json.dump({"shape": shape, "values": [float(v) for v in values]}, out)
    return path


def compare(label, ours, theirs):
    assert ours["shape"] == theirs["shape"], f"{label}: shapes {ours['shape']} vs tfjs {theirs['shape']}"
    a, b = np.asarray(ours["values"], np.float64), np.asarray(theirs["values"], np.float64)
    allowed = 1e-6 + 1e-4 * np.abs(b)
    worst = int(np.argmax(np.abs(a - b) - allowed))
    assert np.all(np.abs(a - b) <= allowed), \
        f"{label}: element {worst} is {a[worst]!r} in savepoint, {b[worst]!r} in tfjs"
    print(f"{label}: {a.size} outputs agree (largest difference {np.max(np.abs(a - b)):.2e})")


def convert_h5_like_tensorflowjs(h5_path, directory):
    """tensorflowjs_converter --input_format keras, restated with h5py: one group, one shard."""
    os.makedirs(directory, exist_ok=True)
    with h5py.File(h5_path, "r") as f:
        topology = {"keras_version": f.attrs["keras_version"], "backend": f.attrs["backend"],
                    "model_config": json.loads(f.attrs["model_config"])}
        weights_group = f["model_weights"]
        specs, data = [], []
        for layer in weights_group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            names = weights_group[layer].attrs["weight_names"]
            for name in names:
                name = name.decode() if isinstance(name, bytes) else name
                value = np.asarray(weights_group[layer][name], dtype="<f4")
                specs.append({"name": name[:-2] if name.endswith(":0") else name, "shape": list(value.shape),
                              "dtype": "float32"})
                data.append(value.tobytes())
    with open(os.path.join(directory, "group1-shard1of1.bin"), "wb") as out:
        out.write(b"".join(data))
    model_json = os.path.join(directory, "model.json")
    with open(model_json, "w") as out:
        json.dump({"format": "layers-model", "generatedBy": "h5py restatement of tensorflowjs_converter",
                   "convertedBy": None, "modelTopology": topology,
                   "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": specs}]}, out)
    return model_json


def main():
    require_tfjs()
    peer = helper("formats_peer")
    with scratch_directory("tfjs-peer-") as workspace:
        for kind, shape in INPUT_SHAPES.items():
            input_path = write_input(workspace, kind, shape)
            web = os.path.join(workspace, f"{kind}-web")
            run(peer, "build", kind, web, "tfjs")
            run(peer, "build", kind, os.path.join(workspace, f"{kind}.h5"))
            expected = json.loads(run(peer, "predict", web, input_path))
            compare(f"TF.js export of {kind}", expected, tfjs_predict(os.path.join(web, "model.json"), input_path))
            converted = convert_h5_like_tensorflowjs(os.path.join(workspace, f"{kind}.h5"),
                                                     os.path.join(workspace, f"{kind}-from-h5"))
            compare(f".h5 of {kind} through tfjs", expected, tfjs_predict(converted, input_path))
        if os.path.isdir(FIXTURES):
            fixture = os.path.join(FIXTURES, "tfjs-layers-from-keras2.15-maternal-health/notebook/my_keras_model.h5")
            ours = os.path.join(workspace, "maternal.h5")
            run(peer, "resave", fixture, ours)
            run(peer, "resave", fixture, os.path.join(workspace, "maternal-web"), "tfjs")
            input_path = write_input(workspace, "maternal", [4, 5])
            expected = json.loads(run(peer, "predict", fixture, input_path))
            compare("Keras 2.15 fixture re-saved as .h5, through tfjs", expected,
                    tfjs_predict(convert_h5_like_tensorflowjs(ours, os.path.join(workspace, "maternal-from-h5")),
                                 input_path))
            compare("Keras 2.15 fixture exported to TF.js", expected,
                    tfjs_predict(os.path.join(workspace, "maternal-web", "model.json"), input_path))
    print("ok")


if __name__ == "__main__":
    main()
