#!/usr/bin/env python3
"""Peer test of src/formats/h5io against h5py 3.7 (Debian's, same libhdf5 1.10.8).

1. h5io_peer writes a Keras-shaped file (to a path and through an in-memory image); this
   script writes the same content with h5py making the calls Keras makes (attribute
   assignment of str, bytes and lists of bytes; Keras's attribute splitting; create_dataset).
   Every group, dataset and attribute must match: HDF5 types (H5Tequal, and string
   variable-ness, character set and padding), dataspaces, values, contiguous storage without
   filters, superblock version 0, no link creation order. The image and the file must be
   byte-identical.
2. h5io_peer dumps files h5py wrote (the reference above and one with h5py's other string
   and storage forms); its dump must equal the one computed here with h5py.

Run by ctest with /usr/bin/python3 and SP_BINARY_DIR, SP_TEST_TMP; exits 77 when h5py is absent.
"""
import os
import sys

from peer_support import helper, run, scratch_directory

try:
    import h5py
    import numpy as np
except ImportError as missing:
    print(f"skipped: {missing} (needs python3-h5py and python3-numpy for /usr/bin/python3)")
    sys.exit(77)

OBJECT_HEADER_LIMIT = 64512  # Keras's HDF5_OBJECT_HEADER_LIMIT
KERAS_ATTRIBUTES = ["keras_version", "backend", "model_config", "training_config", "layer_names", "weight_names",
                    "name", "dtype"]
DTYPES = ["float16", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "bool", "complex64", "complex128"]


def ramp(kind, shape):
    """The helper's values: floats i/4 - 1, signed i - 3, unsigned i, bools i % 3 == 0, complex (i, -1)."""
    index = np.arange(int(np.prod(shape, dtype=np.int64)))
    if kind == "bfloat16":  # numpy has no bfloat16: Keras hands h5py 2-byte void data
        bits = ((index * 0.25 - 1).astype(np.float32).view(np.uint32) >> 16).astype("<u2")
        return bits.view("V2").reshape(shape)
    if kind.startswith("float"):
        values = (index * 0.25 - 1).astype(kind)
    elif kind == "bool":
        values = index % 3 == 0
    elif kind.startswith("complex"):
        values = (index - 1j).astype(kind)
    elif kind.startswith("uint"):
        values = index.astype(kind)
    else:
        values = (index - 3).astype(kind)
    return values.reshape(shape)


def save_attribute_list(group, name, data):
    """Keras's save_attributes_to_hdf5_group, restated: while any numpy.array_split part of the
    fixed-width array is over the header limit, split into more parts named name0, name1, ..."""
    array = np.asarray(data)
    parts = 1
    while any(part.nbytes > OBJECT_HEADER_LIMIT for part in np.array_split(array, parts)):
        parts += 1
    if parts == 1:
        group.attrs[name] = data
    else:
        for index, part in enumerate(np.array_split(array, parts)):
            group.attrs[f"{name}{index}"] = part


def write_reference(path):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.7.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"name": "s\\u00e9q"}}'.encode("utf8")
        f.attrs["training_config"] = '{"loss": "mse"}'.encode("utf8")
        weights = f.create_group("model_weights")
        weights.attrs["backend"] = b"tensorflow"
        weights.attrs["keras_version"] = b"3.7.0"
        save_attribute_list(weights, "layer_names", [b"dense", b"dropout", b"big"])
        dense = weights.create_group("dense")
        save_attribute_list(dense, "weight_names", [b"dense/kernel:0", b"dense/bias:0"])
        dense.create_dataset("dense/kernel:0", data=ramp("float32", (3, 4)))
        dense.create_dataset("dense/bias:0", data=ramp("float32", (4,)))
        save_attribute_list(weights.create_group("dropout"), "weight_names", [])
        save_attribute_list(weights.create_group("big"), "weight_names", [b"weight_%05d" % i for i in range(7001)])
        f.create_dataset("optimizer_weights/iteration:0", data=ramp("int64", ()))
        f.create_dataset("optimizer_weights/learning_rate:0", data=ramp("float32", ()))
        f.create_group("vars").attrs["name"] = "s\u00e9quential"
        variables = f.create_group("layers/dense/vars")
        variables.attrs["name"] = "dense"
        variables.create_dataset("0", data=ramp("float32", (3, 4)))
        for kind in DTYPES:
            dataset = f.create_dataset(f"dtypes/{kind}", data=ramp(kind, (2, 3)))
            if kind == "bfloat16":
                dataset.attrs["dtype"] = "bfloat16"
        f.create_dataset("empty", data=np.zeros((0, 3), np.float32))


def write_other_forms(path):
    """What h5py (and older Keras) also produces: fixed-length and UTF-8 lists, big-endian and
    compressed datasets."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = ["dense", "d\u00e9nse"]  # list of str: 1-D vlen UTF-8
        f.attrs["weight_names"] = np.array([b"a/kernel:0", b"b"])  # numpy S: fixed NULLPAD
        fixed = f.create_group("fixed")
        fixed.attrs.create("name", np.array("d\u00e9nse".encode("utf8")), dtype=h5py.string_dtype("utf-8", 8))
        f.create_dataset("big_endian", data=np.arange(6, dtype=">f4").reshape(2, 3))
        f.create_dataset("gzip", data=np.arange(1000, dtype="<i2"), compression="gzip", shuffle=True)
        f.create_dataset("half_big_endian", data=np.array([1.5, -2], dtype=">f2"))


def paths_of(f):
    names = ["/"]
    f.visit(lambda name: names.append(name))
    return sorted(names)


def string_traits(type_id):
    if type_id.get_class() != h5py.h5t.STRING:
        return None
    variable = type_id.is_variable_str()
    return (variable, type_id.get_cset(), None if variable else (type_id.get_size(), type_id.get_strpad()))


def compare_attributes(ours, reference, where):
    assert sorted(ours.attrs) == sorted(reference.attrs), f"{where}: attributes {sorted(ours.attrs)} vs {sorted(reference.attrs)}"
    for name in reference.attrs:
        a, b = ours.attrs.get_id(name), reference.attrs.get_id(name)
        assert a.get_type() == b.get_type(), f"{where} @{name}: HDF5 types differ"
        assert string_traits(a.get_type()) == string_traits(b.get_type()), f"{where} @{name}: string forms differ"
        assert a.get_space().get_simple_extent_type() == b.get_space().get_simple_extent_type(), f"{where} @{name}"
        assert a.shape == b.shape, f"{where} @{name}: shape {a.shape} vs {b.shape}"
        va, vb = ours.attrs[name], reference.attrs[name]
        assert np.array_equal(np.asarray(va), np.asarray(vb)), f"{where} @{name}: {va!r} vs {vb!r}"


def compare_files(ours_path, reference_path):
    with open(ours_path, "rb") as raw:
        assert raw.read(9)[8] == 0, "superblock version 0 (h5py's libver earliest)"
    with h5py.File(ours_path, "r") as ours, h5py.File(reference_path, "r") as reference:
        assert paths_of(ours) == paths_of(reference), f"objects differ: {set(paths_of(ours)) ^ set(paths_of(reference))}"
        for path in paths_of(reference):
            a, b = ours[path], reference[path]
            assert type(a) is type(b), path
            compare_attributes(a, b, path)
            if isinstance(a, h5py.Group):
                assert a.id.get_create_plist().get_link_creation_order() == 0, f"{path}: creation order tracked"
                continue
            assert a.id.get_type() == b.id.get_type(), f"{path}: HDF5 types differ ({a.dtype} vs {b.dtype})"
            assert a.dtype == b.dtype and a.shape == b.shape, f"{path}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
            assert a.id.get_space().get_simple_extent_type() == b.id.get_space().get_simple_extent_type(), path
            plist = a.id.get_create_plist()
            assert plist.get_layout() == h5py.h5d.CONTIGUOUS, f"{path}: not contiguous"
            assert plist.get_nfilters() == 0, f"{path}: has filters"
            assert np.asarray(a[()]).tobytes() == np.asarray(b[()]).tobytes(), f"{path}: values differ"


def as_bytes(item):
    return item.encode("utf8") if isinstance(item, str) else bytes(item)


def attribute_lines(obj, shown):
    lines = []
    for name in KERAS_ATTRIBUTES:
        if name in obj.attrs:
            value = obj.attrs[name]
            if isinstance(value, (str, bytes)):
                lines.append(f"attr {shown} {name} str {as_bytes(value).hex()}")
                continue
            items = list(np.asarray(value).reshape(-1)) if np.asarray(value).size else []
        elif f"{name}0" in obj.attrs:
            items, index = [], 0
            while f"{name}{index}" in obj.attrs:
                items += list(obj.attrs[f"{name}{index}"])
                index += 1
        else:
            continue
        hexes = ",".join(as_bytes(item).hex() for item in items)
        lines.append(f"attr {shown} {name} list {len(items)}" + (f" {hexes}" if items else ""))
    return lines


def dtype_name(dataset):
    if dataset.dtype.kind == "V" and dataset.attrs.get("dtype") == "bfloat16":
        return "bfloat16"
    return dataset.dtype.name


def dump_with_h5py(path):
    lines = []

    def visit(group, name):
        lines.append(f"group {name or '/'}")
        lines.extend(attribute_lines(group, name or "/"))
        for key in sorted(group.keys(), key=lambda k: k.encode("utf8")):
            child = f"{name}/{key}" if name else key
            obj = group[key]
            if isinstance(obj, h5py.Group):
                visit(obj, child)
                continue
            value = np.asarray(obj[()])
            if value.dtype.kind in "fiuc" and value.dtype.byteorder == ">":
                value = value.astype(value.dtype.newbyteorder("<"))
            shape = ",".join(str(d) for d in obj.shape)
            lines.append(f"dataset {child} {dtype_name(obj)} {shape} {value.tobytes().hex()}")
            lines.extend(attribute_lines(obj, child))

    with h5py.File(path, "r") as f:
        visit(f, "")
    return lines


def main():
    program = helper("h5io_peer")
    with scratch_directory("h5io-peer-") as directory:
        ours_path = os.path.join(directory, "ours-path.h5")
        ours_image = os.path.join(directory, "ours-image.h5")
        reference = os.path.join(directory, "reference.h5")
        other = os.path.join(directory, "other.h5")
        run(program, "write", ours_path, "path")
        run(program, "write", ours_image, "image")
        write_reference(reference)
        with open(ours_path, "rb") as a, open(ours_image, "rb") as b:
            assert a.read() == b.read(), "the in-memory image differs from the file written by path"
        compare_files(ours_path, reference)
        compare_files(ours_image, reference)
        print("h5py reads what h5io writes with the types h5py gives Keras's values")
        write_other_forms(other)
        for path in (reference, other):
            ours = run(program, "dump", path).splitlines()
            expected = dump_with_h5py(path)
            for line_ours, line_expected in zip(ours, expected):
                assert line_ours == line_expected, f"{os.path.basename(path)}:\n ours:  {line_ours[:300]}\n h5py:  {line_expected[:300]}"
            assert len(ours) == len(expected), f"{os.path.basename(path)}: {len(ours)} lines vs {len(expected)}"
        print("h5io reads what h5py writes exactly as h5py does")
    return 0


if __name__ == "__main__":
    sys.exit(main())
