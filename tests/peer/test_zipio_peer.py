#!/usr/bin/env python3
"""Peer test of src/formats/zipio against Python's zipfile (the writer and reader Keras uses).

1. zipio_peer writes a Keras-shaped archive; zipfile must list it with the attributes Keras's
   own calls produce (STORED, 1980-01-01 for zf.open(name, "w") members, the local save time
   for writestr, 0o600 permissions, made on Unix, no data descriptors), read every member's
   bytes back with matching CRCs, and `unzip -t` must pass.
2. zipfile writes an archive the way Keras does (plus a DEFLATE member and a file from disk);
   zipio_peer must list the same members, sizes, methods, CRCs and SHA-256 digests, and
   extract a member.
3. Archives zipfile can write but a safe reader must refuse (path escapes, duplicate names,
   a symbolic link, a truncated copy) make zipio_peer fail with the member named.

Run by ctest with /usr/bin/python3 and SP_BINARY_DIR, SP_TEST_TMP.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import time
import warnings
import zipfile

from peer_support import helper, run, scratch_directory

PROGRAM = helper("zipio_peer")
WEIGHTS_SIZE = 5 << 20


def weights_bytes(size):
    return bytes((i * 7) & 0xFF for i in range(256)) * (size // 256)


def check_our_archive(directory):
    asset = os.path.join(directory, "vocabulary.txt")
    with open(asset, "w") as out:
        out.write("alpha\nbeta\n")
    os.chmod(asset, 0o640)
    archive = os.path.join(directory, "ours.keras")
    saved = 1735907546
    run(PROGRAM, "write", archive, str(saved), asset)
    expected_time = time.localtime(saved)[:6]
    expected_time = expected_time[:5] + (expected_time[5] // 2 * 2,)  # DOS keeps even seconds
    expected = {
        "metadata.json": (zipfile.ZIP_STORED, (1980, 1, 1, 0, 0, 0), 0o600),
        "config.json": (zipfile.ZIP_STORED, (1980, 1, 1, 0, 0, 0), 0o600),
        "model.weights.h5": (zipfile.ZIP_STORED, expected_time, 0o600),
        "assets/text.txt": (zipfile.ZIP_DEFLATED, (1980, 1, 1, 0, 0, 0), 0o600),
        "assets/vocabulary.txt": (zipfile.ZIP_STORED, (1980, 1, 1, 0, 0, 0), 0o100640),
    }
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        assert [i.filename for i in infos] == list(expected), [i.filename for i in infos]
        for info in infos:
            method, date_time, mode = expected[info.filename]
            assert info.compress_type == method, f"{info.filename}: method {info.compress_type}"
            assert info.date_time == date_time, f"{info.filename}: {info.date_time} != {date_time}"
            assert info.external_attr >> 16 == mode, f"{info.filename}: mode {oct(info.external_attr >> 16)}"
            assert info.create_system == 3, f"{info.filename}: made on system {info.create_system}"
            assert info.flag_bits == 0, f"{info.filename}: flag bits {info.flag_bits:#x} (zipfile writes 0)"
            assert info.extra == b"", f"{info.filename}: extra fields {info.extra!r}"
        assert z.testzip() is None
        assert z.read("model.weights.h5") == weights_bytes(WEIGHTS_SIZE)
        assert z.read("assets/vocabulary.txt") == b"alpha\nbeta\n"
        assert z.read("metadata.json").startswith(b'{"keras_version": "3.7.0"')
    if shutil.which("unzip"):
        result = subprocess.run(["unzip", "-t", archive], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    print("zipfile reads what zipio writes with Keras's member attributes")


def write_like_keras(path, asset):
    with zipfile.ZipFile(path, "w") as z:  # Keras: ZipFile(f, "w"), default STORED
        with z.open("metadata.json", "w") as member:
            member.write(b'{"keras_version": "3.7.0", "date_saved": "2025-01-03@12:42:26"}')
        with z.open("config.json", "w") as member:
            member.write(b'{"module": "keras", "class_name": "Sequential"}')
        z.writestr("model.weights.h5", weights_bytes(1 << 20))
        z.writestr("assets/notes.txt", b"zipped " * 100, compress_type=zipfile.ZIP_DEFLATED)
        z.write(asset, "assets/vocabulary.txt")


def check_keras_archive(directory):
    asset = os.path.join(directory, "asset.txt")
    with open(asset, "wb") as out:
        out.write(b"gamma\ndelta\n")
    archive = os.path.join(directory, "keras.keras")
    write_like_keras(archive, asset)
    listed = [line.split("\t") for line in run(PROGRAM, "list", archive).splitlines()]
    with zipfile.ZipFile(archive) as z:
        expected = [[i.filename, str(i.file_size), str(i.compress_type), f"{i.CRC:08x}",
                     hashlib.sha256(z.read(i.filename)).hexdigest()] for i in z.infolist()]
    assert listed == expected, f"{listed} != {expected}"
    out = os.path.join(directory, "extracted")
    os.mkdir(out)
    run(PROGRAM, "extract", archive, "assets/vocabulary.txt", out)
    with open(os.path.join(out, "assets", "vocabulary.txt"), "rb") as extracted:
        assert extracted.read() == b"gamma\ndelta\n"
    print("zipio reads what zipfile writes as zipfile does")


def hostile(directory, name, members, fragment):
    path = os.path.join(directory, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, and writes them
        with zipfile.ZipFile(path, "w") as z:
            for info_or_name, data in members:
                z.writestr(info_or_name, data)
    message = run(PROGRAM, "list", path, expect_failure=True)
    assert fragment in message, f"{name}: '{fragment}' not in: {message}"


def symlink_member(name):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info


def check_refusals(directory):
    config = ("config.json", b"{}")
    hostile(directory, "parent.keras", [config, ("../evil", b"x")], "member '../evil' escapes its directory")
    hostile(directory, "absolute.keras", [config, ("/etc/evil", b"x")], "member '/etc/evil' has an absolute path")
    hostile(directory, "backslash.keras", [config, ("a\\..\\..\\evil", b"x")], "escapes its directory")
    hostile(directory, "drive.keras", [config, ("C:/evil", b"x")], "starts with a drive letter")
    hostile(directory, "twice.keras", [config, ("config.json", b"[]")], "member 'config.json' appears twice")
    hostile(directory, "link.keras", [config, (symlink_member("assets/link"), b"/etc/passwd")],
            "member 'assets/link' is a symbolic link")
    intact = os.path.join(directory, "keras.keras")
    with open(intact, "rb") as source:
        data = source.read()
    truncated = os.path.join(directory, "truncated.keras")
    with open(truncated, "wb") as out:
        out.write(data[: len(data) - 40])
    assert "truncated" in run(PROGRAM, "list", truncated, expect_failure=True)
    corrupt = os.path.join(directory, "corrupt.keras")
    with zipfile.ZipFile(intact) as z:
        offset = z.getinfo("model.weights.h5").header_offset + 30 + len("model.weights.h5") + 1000
    with open(corrupt, "wb") as out:
        out.write(data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1:])
    assert "member 'model.weights.h5': its bytes do not match its CRC-32" in run(PROGRAM, "list", corrupt, expect_failure=True)
    print("zipio refuses escaping, duplicate, linked, truncated and corrupt archives, naming the member")


def main():
    with scratch_directory("zipio-peer-") as directory:
        check_our_archive(directory)
        check_keras_archive(directory)
        check_refusals(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
