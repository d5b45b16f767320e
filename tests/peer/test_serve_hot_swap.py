"""Hot reload under load: versions copied in slowly while clients predict in a loop.

Three client threads call :predict (x = 1.0) back to back on keep-alive connections while:
  1. version 2 (TF Serving's half_plus_three: y = 0.5x + 3) is copied in file by file, each file
     written in pieces with pauses shorter than the poll interval, so the directory keeps
     changing for a couple of seconds;
  2. version 3 (half_plus_two again) is copied in with pauses longer than the poll interval,
     so the server sees a stable but incomplete directory, must refuse it, and must load it once
     the copy finishes;
  3. version 4 is a complete copy whose variables data has one flipped byte (CRC32C mismatch).
Checked: not one request fails; every answer names its version (X-Savepoint-Model-Version) and
its SHA-256 (X-Savepoint-Model-Sha256), and each (version, hash, value) triple is one of a
complete version: the hash recomputed here by the manifest rule (SHA-256 of the sorted
"sha256  path" listing, manifest.h) of the finished directory and the value by that model's
formula; versions never go backwards on a connection; status shows the transitions (2 and 3
AVAILABLE in turn, the old ones END), version 4 ends with a DATA_LOSS error while version 3 keeps
serving; SIGTERM then exits 0.
"""

import hashlib
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_support import TESTDATA, Server, check, fail, run_test

POLL = 0.2
MODEL = "half"


def artifact_sha256(directory):
    lines = []
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, directory)
            with open(path, "rb") as handle:
                lines.append((relative.encode(), hashlib.sha256(handle.read()).hexdigest()))
    text = b"".join(digest.encode() + b"  " + relative + b"\n" for relative, digest in sorted(lines))
    return hashlib.sha256(text).hexdigest()


def files_of(source):
    for root, _, files in sorted(os.walk(source)):
        for name in sorted(files):
            path = os.path.join(root, name)
            yield path, os.path.relpath(path, source)


def copy_slowly(source, destination, pieces, pause_between_pieces, pause_between_files):
    os.makedirs(destination)
    for path, relative in files_of(source):
        target = os.path.join(destination, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(path, "rb") as handle:
            data = handle.read()
        step = max(1, (len(data) + pieces - 1) // pieces)
        with open(target, "wb") as out:
            for start in range(0, max(len(data), 1), step):
                out.write(data[start:start + step])
                out.flush()
                time.sleep(pause_between_pieces)
        time.sleep(pause_between_files)


class Client(threading.Thread):
    def __init__(self, server, stop):
        super().__init__(daemon=True)
        self.server, self.stop, self.answers, self.failures = server, stop, [], []

    def run(self):
        connection = self.server.connection()
        deadline = time.time() + 120
        while not self.stop.is_set() and time.time() < deadline:
            try:
                status, body, headers = self.server.post("/v1/models/%s:predict" % MODEL, {"instances": [1.0]},
                                                         connection=connection)
            except Exception as error:  # a dropped connection is a failure too
                self.failures.append(repr(error))
                connection.close()
                connection = self.server.connection()
                continue
            if status != 200:
                self.failures.append("%d %s" % (status, body))
                continue
            self.answers.append((headers.get("x-savepoint-model-version"), headers.get("x-savepoint-model-sha256"),
                                 body["predictions"][0]))
        connection.close()


class StatusWatcher(threading.Thread):
    def __init__(self, server, stop):
        super().__init__(daemon=True)
        self.server, self.stop, self.seen = server, stop, set()

    def run(self):
        while not self.stop.is_set():
            status, body, _ = self.server.get("/v1/models/" + MODEL)
            if status == 200:
                for entry in body["model_version_status"]:
                    self.seen.add((entry["version"], entry["state"]))
            time.sleep(0.02)


def run(work):
    base = os.path.join(work, MODEL)
    os.makedirs(base)
    two_source = os.path.join(TESTDATA, "saved_model_half_plus_two_cpu", "00000123")
    three_source = os.path.join(TESTDATA, "saved_model_half_plus_three", "00000123")
    shutil.copytree(two_source, os.path.join(base, "1"))
    # Version 4: complete, but one byte of the variables data flipped.
    corrupt = os.path.join(work, "corrupt")
    shutil.copytree(two_source, corrupt)
    data_file = os.path.join(corrupt, "variables", "variables.data-00000-of-00001")
    raw = bytearray(open(data_file, "rb").read())
    raw[5] ^= 0x40
    open(data_file, "wb").write(bytes(raw))

    expected = {"1": (artifact_sha256(two_source), 2.5), "2": (artifact_sha256(three_source), 3.5),
                "3": (artifact_sha256(two_source), 2.5)}
    with Server("--model_name=" + MODEL, "--model_base_path=" + base, "--file_system_poll_wait_seconds=%g" % POLL,
                "--rest_api_num_threads=4") as server:
        stop = threading.Event()
        clients = [Client(server, stop) for _ in range(3)]
        watcher = StatusWatcher(server, stop)
        for thread in clients + [watcher]:
            thread.start()
        time.sleep(0.5)

        copy_slowly(three_source, os.path.join(base, "2"), pieces=4, pause_between_pieces=POLL * 0.6,
                    pause_between_files=POLL * 0.3)
        server.wait_for(lambda: server.version_state(MODEL, 2) == "AVAILABLE", "version 2 AVAILABLE")
        server.wait_for(lambda: server.version_state(MODEL, 1) == "END", "version 1 unloaded")

        copy_slowly(two_source, os.path.join(base, "3"), pieces=1, pause_between_pieces=0, pause_between_files=POLL * 4)
        server.wait_for(lambda: server.version_state(MODEL, 3) == "AVAILABLE", "version 3 AVAILABLE")
        server.wait_for(lambda: server.version_state(MODEL, 2) == "END", "version 2 unloaded")
        time.sleep(0.5)

        shutil.copytree(corrupt, os.path.join(base, ".4.partial"))
        os.rename(os.path.join(base, ".4.partial"), os.path.join(base, "4"))
        server.wait_for(lambda: server.version_state(MODEL, 4) == "END", "version 4 refused")
        time.sleep(0.5)
        stop.set()
        for thread in clients + [watcher]:
            thread.join(30)

        status, body, _ = server.get("/v1/models/%s/versions/4" % MODEL)
        refused = body["model_version_status"][0]["status"]
        check(refused["error_code"] == "DATA_LOSS" and refused["error_message"], "version 4 status: %s" % refused)
        check(server.version_state(MODEL, 3) == "AVAILABLE", "version 3 must keep serving")
        status, body, headers = server.post("/v1/models/%s:predict" % MODEL, {"instances": [1.0]})
        check(status == 200 and headers["x-savepoint-model-version"] == "3", "after the refusal: %s %s" % (status, headers))

        failures = [failure for client in clients for failure in client.failures]
        check(not failures, "%d requests failed, first: %s\n%s" % (len(failures), failures[:3], server.log()))
        answers = [answer for client in clients for answer in client.answers]
        check(len(answers) > 100, "only %d answers" % len(answers))
        for version, sha256, value in answers:
            if version not in expected:
                fail("an answer came from version %s\n%s" % (version, server.log()))
            wanted_sha, wanted_value = expected[version]
            check(sha256 == wanted_sha, "version %s answered with hash %s, the complete copy has %s" % (version, sha256, wanted_sha))
            check(abs(value - wanted_value) < 1e-6, "version %s answered %s, expected %s" % (version, value, wanted_value))
        for client in clients:
            versions = [int(version) for version, _, _ in client.answers]
            check(versions == sorted(versions), "a connection saw versions go backwards")
        served = {version for version, _, _ in answers}
        check(served == {"1", "2", "3"}, "versions that answered: %s" % sorted(served))
        for transition in [("2", "AVAILABLE"), ("3", "AVAILABLE"), ("1", "END"), ("2", "END"), ("4", "END")]:
            check(transition in watcher.seen, "status never showed %s %s (saw %s)" % (transition + (sorted(watcher.seen),)))
        check(server.stop() == 0, "exit status after SIGTERM")
        print("%d answers, versions %s, transitions seen: %s" % (len(answers), sorted(served), sorted(watcher.seen)))


if __name__ == "__main__":
    run_test("serve-hot-swap", run)
