"""Peer test: the tf.keras checkpoint fixture, loaded into its Keras model, reproduces the outputs
numpy computes from the bundle's own values.

The fixture tf-keras-save-weights-tf-format/training_2/cp-0000.ckpt was written by tf.keras 2.10
model.save_weights for the TF tutorial's Sequential[Dense(512, relu, input 784), Dropout(0.2),
Dense(10)] (PROVENANCE.md section 19). This script reads the bundle with its own small reader
(the LevelDB table of formats.md 4.2 and the BundleEntryProto of 4.4, written here from the
format description, independent of savepoint's C reader), computes relu(x W0 + b0) W1 + b1 with
numpy (Dropout is the identity at inference), and compares with what savepoint computes after
sp_checkpoint_read (tests/peer/helpers/checkpoint_predict.c). The architecture is given as the
Keras 2 model.to_json() of that model, with layer names that differ from the ones the variables
were saved under: object-based checkpoints match by structure, not by name.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("skipped: numpy is not installed for /usr/bin/python3")
    sys.exit(77)

FIXTURE = "tf-keras-save-weights-tf-format/training_2/cp-0000.ckpt"


def varint(data, position):
    value, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def block_entries(block):
    """Key/value pairs of one uncompressed table block (restart array at the end)."""
    restarts = int.from_bytes(block[-4:], "little")
    end = len(block) - 4 - 4 * restarts
    position, key, entries = 0, b"", []
    while position < end:
        shared, position = varint(block, position)
        unshared, position = varint(block, position)
        length, position = varint(block, position)
        key = key[:shared] + block[position:position + unshared]
        position += unshared
        entries.append((key, block[position:position + length]))
        position += length
    return entries


def read_block(data, handle):
    offset, position = varint(handle, 0)
    size, _ = varint(handle, position)
    if data[offset + size] != 0:
        print("skipped: the index has compressed blocks; this reader handles uncompressed ones only")
        sys.exit(77)
    return data[offset:offset + size]


def bundle_entry(value):
    """dtype, shape, offset and size of a BundleEntryProto."""
    fields, position = {"shape": [], "offset": 0, "size": 0}, 0
    while position < len(value):
        tag, position = varint(value, position)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            field, position = varint(value, position)
            fields[{1: "dtype", 3: "shard", 4: "offset", 5: "size"}.get(number, "other")] = field
        elif wire == 5:
            position += 4
        elif wire == 2:
            length, position = varint(value, position)
            if number == 2:  # TensorShapeProto: repeated Dim dim = 2 { int64 size = 1 }
                shape, inner = value[position:position + length], 0
                while inner < len(shape):
                    _, inner = varint(shape, inner)
                    dim_length, inner = varint(shape, inner)
                    dim, dim_position = shape[inner:inner + dim_length], 0
                    _, dim_position = varint(dim, dim_position)
                    size, _ = varint(dim, dim_position)
                    fields["shape"].append(size)
                    inner += dim_length
            position += length
    return fields


def read_bundle(prefix):
    index = open(prefix + ".index", "rb").read()
    data = open(prefix + ".data-00000-of-00001", "rb").read()
    footer = index[-48:]  # metaindex handle, index handle (varints), padding, magic
    _, position = varint(footer, 0)
    _, position = varint(footer, position)
    tensors = {}
    for _, handle in block_entries(read_block(index, footer[position:])):
        for key, value in block_entries(read_block(index, handle)):
            if not key:
                continue
            entry = bundle_entry(value)
            if entry.get("dtype") != 1:  # DT_FLOAT only
                continue
            raw = data[entry["offset"]:entry["offset"] + entry["size"]]
            tensors[key.decode()] = np.frombuffer(raw, "<f4").reshape(entry["shape"])
    return tensors


ARCHITECTURE = {
    "class_name": "Sequential",
    "config": {
        "name": "sequential",
        "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 784], "dtype": "float32",
                                                    "sparse": False, "ragged": False, "name": "dense_input"}},
            {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32",
                                               "units": 512, "activation": "relu", "use_bias": True}},
            {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True, "dtype": "float32",
                                                 "rate": 0.2, "noise_shape": None, "seed": None}},
            {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "dtype": "float32",
                                               "units": 10, "activation": "linear", "use_bias": True}},
        ],
    },
    "keras_version": "2.10.0",
    "backend": "tensorflow",
}


def main():
    fixtures = os.environ.get("SP_FIXTURES", "")
    prefix = os.path.join(fixtures, FIXTURE)
    if not os.path.exists(prefix + ".index"):
        print("skipped: fixture %s is absent" % FIXTURE)
        return 77
    helper = os.path.join(os.environ["SP_BINARY_DIR"], "tests", "peer-helpers", "checkpoint_predict")
    tensors = read_bundle(prefix)
    w0 = tensors["layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
    b0 = tensors["layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE"]
    w1 = tensors["layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
    b1 = tensors["layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE"]
    assert w0.shape == (784, 512) and w1.shape == (512, 10), (w0.shape, w1.shape)

    rows = 32
    x = np.random.default_rng(20240519).random((rows, 784), dtype=np.float32)
    hidden = np.maximum(x.astype(np.float64) @ w0 + b0, 0.0)
    expected = hidden @ w1 + b1

    os.makedirs(os.environ.get("SP_TEST_TMP", tempfile.gettempdir()), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.environ.get("SP_TEST_TMP")) as work:
        architecture = os.path.join(work, "model.json")
        with open(architecture, "w") as out:
            json.dump(ARCHITECTURE, out)
        x.astype("<f4").tofile(os.path.join(work, "x.f32"))
        result = subprocess.run([helper, architecture, prefix, os.path.join(work, "x.f32"), str(rows),
                                 os.path.join(work, "y.f32")], capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stdout, result.stderr)
            return 1
        actual = np.fromfile(os.path.join(work, "y.f32"), "<f4").reshape(rows, 10)

    error = np.max(np.abs(actual - expected) / (np.abs(expected) + 1e-3))
    print("max relative difference over %d rows x 10 outputs: %.3g" % (rows, error))
    if not np.allclose(actual, expected, rtol=1e-5, atol=1e-5):
        print("savepoint:", actual[0])
        print("numpy:    ", expected[0])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
