"""serve_support.py — starting and stopping `savepoint serve` for the tests/peer/test_serve_*.py
scripts, and talking to it over HTTP on loopback (http.client, so requests can share a
keep-alive connection).

Every server binds 127.0.0.1 on a port the kernel picks (--rest_api_port=0) and is stopped by
the test (SIGTERM, then SIGKILL after a bounded wait) even when the test fails. Scripts exit 77
("skipped") with the reason when the fixtures or the savepoint binary are absent.
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77

CLI = os.environ.get("SP_CLI", "")
FIXTURES = os.environ.get("SP_FIXTURES", os.path.join(os.path.dirname(__file__), "../../../shared/fixtures"))
TESTDATA = os.path.join(FIXTURES, "tfserving-testdata")


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def require_fixtures():
    if not CLI or not os.path.exists(CLI):
        skip("SP_CLI does not name the savepoint binary")
    if not os.path.isdir(TESTDATA):
        skip("fixtures folder %s is absent" % TESTDATA)


def work_directory(name):
    root = os.environ.get("SP_TEST_TMP", tempfile.gettempdir())
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix=name + "-", dir=root)


def run_test(name, body):
    """The usual main(): fixtures required, body(work) in a fresh directory removed afterwards."""
    require_fixtures()
    work = work_directory(name)
    try:
        body(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("ok")


def copy_model(fixture, destination, versions=None):
    """Copies tfserving-testdata/<fixture> (all versions, or the listed ones) to destination."""
    source = os.path.join(TESTDATA, fixture)
    os.makedirs(destination, exist_ok=True)
    for version in sorted(os.listdir(source)):
        if versions is None or version in versions:
            shutil.copytree(os.path.join(source, version), os.path.join(destination, version))
    return destination


class Server:
    """A running `savepoint serve`; use as a context manager."""

    def __init__(self, *arguments, wait=True):
        self.arguments = [CLI, "serve", "--rest_api_port=0", "--host=127.0.0.1"] + list(arguments)
        self.process = subprocess.Popen(self.arguments, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.port = None
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if wait:
            self.wait_ready()

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            found = re.search(r"REST API on http://127\.0\.0\.1:(\d+)/", line)
            if found and self.port is None:
                self.port = int(found.group(1))
                self.ready.set()
        self.ready.set()

    def wait_ready(self, timeout=60):
        if not self.ready.wait(timeout) or self.port is None:
            self.kill()
            fail("server did not start: %s\n%s" % (" ".join(self.arguments), "\n".join(self.lines)))

    def log(self):
        return "\n".join(self.lines)

    def connection(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, connection=None, headers=None):
        """Returns (status, parsed JSON or text, response headers)."""
        own = connection is None
        connection = connection or self.connection()
        payload = body if body is None or isinstance(body, (bytes, str)) else json.dumps(body)
        connection.request(method, path, body=payload, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
        found_headers = {key.lower(): value for key, value in response.getheaders()}
        if own:
            connection.close()
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return response.status, parsed, found_headers

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def wait_for(self, predicate, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        fail("timed out waiting for %s\n%s" % (what, self.log()))

    def version_state(self, model, version):
        status, body, _ = self.get("/v1/models/%s/versions/%d" % (model, version))
        if status != 200:
            return None
        return body["model_version_status"][0]["state"]

    def signal(self, number):
        self.process.send_signal(number)

    def stop(self, timeout=60):
        """SIGTERM, then the exit status (SIGKILL after timeout)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            fail("server ignored SIGTERM for %d s" % timeout)
        self.reader.join(5)
        return code

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.kill()
        return False
