#!/usr/bin/env python3
"""Peer test of savepoint's Keras files against Keras-written fixtures of the same kind.

savepoint (tests/peer/helpers/formats_peer) re-saves a Keras fixture in the fixture's own format;
h5py then walks both files and every group, dataset and attribute must agree: names, dataset
dtypes and shapes, attribute HDF5 types (class, variable-length or fixed, character set,
dataspace shape), and the values of the attributes Keras reads (layer_names, weight_names,
keras_version, backend, name; model_config compared as JSON). Python's zipfile must read our
.keras and see the members, order, compression, permissions and dates Keras's zipfile writes.

Exceptions, each printed: the optimizer state (optimizer/vars, optimizer_weights,
training_config) is compared only when our file has it; string attribute *types* are not
compared with a fixture written by h5py 2.x (Keras 2.3.1 wrote fixed-length strings, we write
h5py 3's variable-length ones, which Keras reads alike).

Run by ctest with /usr/bin/python3 and SP_BINARY_DIR, SP_FIXTURES, SP_TEST_TMP; exits 77 when
h5py or the fixtures are absent.
"""
import json
import os
import struct
import sys
import zipfile

from peer_support import helper, run, scratch_directory

try:
    import h5py
    import numpy as np
except ImportError as missing:
    print(f"skipped: {missing} (needs python3-h5py and python3-numpy for /usr/bin/python3)")
    sys.exit(77)

FIXTURES = os.environ.get("SP_FIXTURES", "")
if not os.path.isdir(FIXTURES):
    print(f"skipped: fixtures folder '{FIXTURES}' is absent")
    sys.exit(77)

OPTIMIZER_PARTS = ("optimizer", "optimizer_weights")
VALUE_ATTRIBUTES = {"layer_names", "weight_names", "keras_version", "backend", "name"}


def attribute_type(obj, name):
    """The HDF5 type of an attribute as (class, variable, charset, dataspace shape, size)."""
    attribute = h5py.h5a.open(obj.id, name.encode())
    kind = attribute.get_type()
    if kind.get_class() == h5py.h5t.STRING:
        variable = kind.is_variable_str()
        return ("string", variable, kind.get_cset(), attribute.shape, None if variable else kind.get_size())
    return (str(kind.get_class()), None, None, attribute.shape, attribute.dtype.str)


def decoded(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [decoded(v) for v in value.tolist()] if value.dtype != np.float64 else value.tolist()
    if isinstance(value, list):
        return [decoded(v) for v in value]
    return value


def describe(path):
    """path → description of every object and attribute in an HDF5 file."""
    objects = {}

    def visit(name, obj):
        entry = {"kind": "group" if isinstance(obj, h5py.Group) else "dataset", "attributes": {}}
        if entry["kind"] == "dataset":
            entry["dtype"] = obj.dtype.str
            entry["shape"] = obj.shape
        for attribute in obj.attrs:
            entry["attributes"][attribute] = {"type": attribute_type(obj, attribute),
                                              "value": decoded(obj.attrs[attribute])}
        objects[name] = entry

    with h5py.File(path, "r") as f:
        visit("/", f)
        f.visititems(visit)
    return objects


def is_optimizer(name):
    return name.split("/")[0] in OPTIMIZER_PARTS


def compare(reference, ours, label, compare_types=True, optimizer=True):
    expected, actual = describe(reference), describe(ours)
    with_optimizer = optimizer and any(is_optimizer(name) for name in actual)
    if not optimizer:
        print(f"{label}: optimizer state not compared (see the caller)")
        actual = {name: entry for name, entry in actual.items() if not is_optimizer(name)}
        expected = {name: entry for name, entry in expected.items() if not is_optimizer(name)}
    elif not with_optimizer:
        print(f"{label}: our file has no optimizer state (the model is not compiled); not comparing it")
        expected = {name: entry for name, entry in expected.items() if not is_optimizer(name)}
    assert sorted(expected) == sorted(actual), \
        f"{label}: objects differ\n only in Keras's: {sorted(set(expected) - set(actual))}\n" \
        f" only in ours: {sorted(set(actual) - set(expected))}"
    for name, want in expected.items():
        got = actual[name]
        assert want["kind"] == got["kind"], f"{label}: {name} is a {got['kind']}, Keras wrote a {want['kind']}"
        if want["kind"] == "dataset":
            assert (want["dtype"], want["shape"]) == (got["dtype"], got["shape"]), \
                f"{label}: {name} is {got['dtype']} {got['shape']}, Keras wrote {want['dtype']} {want['shape']}"
        want_attributes = want["attributes"]  # training_config too: a loaded model is compiled from it
        assert sorted(want_attributes) == sorted(got["attributes"]), \
            f"{label}: {name} attributes {sorted(got['attributes'])}, Keras wrote {sorted(want_attributes)}"
        for attribute, spec in want_attributes.items():
            mine = got["attributes"][attribute]
            if compare_types:
                assert spec["type"] == mine["type"], \
                    f"{label}: {name}@{attribute} has HDF5 type {mine['type']}, Keras's is {spec['type']}"
            if attribute in VALUE_ATTRIBUTES:
                assert spec["value"] == mine["value"], \
                    f"{label}: {name}@{attribute} is {mine['value']!r}, Keras wrote {spec['value']!r}"
            if attribute == "model_config":
                assert json.loads(spec["value"]) == json.loads(mine["value"]), f"{label}: model_config differs"
    print(f"{label}: {len(actual)} objects match {os.path.relpath(reference, FIXTURES)}")


def member_data_offset(path, info):
    """Where a member's bytes start in the archive: after its local header (30 bytes), its name
    and its local extra field (which may differ from the central directory's)."""
    with open(path, "rb") as archive:
        archive.seek(info.header_offset)
        header = archive.read(30)
    assert header[:4] == b"PK\x03\x04", f"{info.filename}: no local header at {info.header_offset}"
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def check_weights_alignment(path):
    """Our .keras pads config.json with spaces so that model.weights.h5 starts at a multiple of 64
    (sp_load_options.map_weights views the weights in place); the config must still parse."""
    with zipfile.ZipFile(path) as archive:
        offset = member_data_offset(path, archive.getinfo("model.weights.h5"))
        assert offset % 64 == 0, f"model.weights.h5's bytes start at byte {offset}, not a multiple of 64"
        config = archive.read("config.json")
        json.loads(config)
        assert config.rstrip(b" ").endswith(b"}"), "config.json has padding other than trailing spaces"
    print(f"model.weights.h5 starts at byte {offset} (64 x {offset // 64}); config.json ends with "
          f"{len(config) - len(config.rstrip(b' '))} spaces")


def keras_archive(workspace, peer):
    source = os.path.join(FIXTURES, "keras3.7-churn-keras-and-h5-same-model/my_model.keras")
    ours = os.path.join(workspace, "churn.keras")
    run(peer, "resave", source, ours)
    check_weights_alignment(ours)
    with zipfile.ZipFile(source) as theirs, zipfile.ZipFile(ours) as mine:
        assert mine.testzip() is None, "zipfile finds a damaged member"
        names = [info.filename for info in mine.infolist()]
        assert names == [info.filename for info in theirs.infolist()], f"members {names}"
        for want, got in zip(theirs.infolist(), mine.infolist()):
            for field in ("compress_type", "external_attr", "flag_bits"):
                assert getattr(want, field) == getattr(got, field), \
                    f"{got.filename}: {field} {getattr(got, field)!r}, Keras wrote {getattr(want, field)!r}"
            if got.filename != "model.weights.h5":
                assert got.date_time == (1980, 1, 1, 0, 0, 0), f"{got.filename}: date {got.date_time}"
            if (got.create_version, got.extract_version) != (want.create_version, want.extract_version):
                print(f"note: {got.filename}: version made by/needed {got.create_version}/{got.extract_version}, "
                      f"Python's zipfile writes {want.create_version}/{want.extract_version}")
        metadata = json.loads(mine.read("metadata.json"))
        assert metadata["keras_version"] == "3.7.0" and "date_saved" in metadata, metadata
        assert json.loads(mine.read("config.json")) == json.loads(theirs.read("config.json")), "config.json differs"
        for archive, name in ((theirs, "keras.weights.h5"), (mine, "ours.weights.h5")):
            with open(os.path.join(workspace, name), "wb") as out:
                out.write(archive.read("model.weights.h5"))
    # The fixture's compile_config names no optimizer, so loading it compiles with RMSprop (Keras
    # does the same) and its Adam state cannot be restored or written back: weights only here.
    compare(os.path.join(workspace, "keras.weights.h5"), os.path.join(workspace, "ours.weights.h5"),
            "model.weights.h5 in .keras", optimizer=False)


def weights_file(workspace, peer):
    folder = os.path.join(FIXTURES, "keras3-weights-h5-diabetes")
    ours = os.path.join(workspace, "diabetes.weights.h5")
    run(peer, "resave-weights", os.path.join(folder, "model.json"), os.path.join(folder, "model.weights.h5"), ours)
    compare(os.path.join(folder, "model.weights.h5"), ours, ".weights.h5")


def legacy_model(workspace, peer):
    source = os.path.join(FIXTURES, "keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.h5")
    ours = os.path.join(workspace, "mnist.h5")
    run(peer, "resave", source, ours)
    compare(source, ours, "legacy .h5 (tf.keras 2.15)")


def legacy_weights(workspace, peer):
    folder = os.path.join(FIXTURES, "keras-h5-iris-full-and-weights-k2.3.1")
    ours = os.path.join(workspace, "iris_weight.h5")
    run(peer, "resave", os.path.join(folder, "iris_model.h5"), ours, "legacy-weights-h5")
    print("legacy weights-only: the Keras 2.3.1 fixture was written by h5py 2.x; string attribute types not compared")
    expected = describe(os.path.join(folder, "iris_weight.h5"))
    actual = describe(ours)
    # tf.keras >= 2.4 adds top_level_model_weights; Keras 2.3.1 did not have it.
    extra = sorted(set(actual) - set(expected))
    assert extra == ["top_level_model_weights"], f"unexpected objects {extra}"
    with h5py.File(os.path.join(workspace, "reference.h5"), "w") as copy, \
            h5py.File(os.path.join(folder, "iris_weight.h5"), "r") as original:
        for attribute in original.attrs:
            copy.attrs[attribute] = original.attrs[attribute]
        copy.attrs["keras_version"] = b"2.15.0"  # the layout we write, by design (docs/ARCHITECTURE.md)
        for name in original:
            original.copy(name, copy)
        top = copy.create_group("top_level_model_weights")
        top.attrs["weight_names"] = []
    compare(os.path.join(workspace, "reference.h5"), ours, "legacy weights-only .h5", compare_types=False)


def main():
    peer = helper("formats_peer")
    with scratch_directory("keras-layout-") as workspace:
        keras_archive(workspace, peer)
        weights_file(workspace, peer)
        legacy_model(workspace, peer)
        legacy_weights(workspace, peer)
    print("ok")


if __name__ == "__main__":
    main()
