"""Shared by the peer tests: where the helper programs are built, and a scratch directory.

Peer tests run with /usr/bin/python3 from ctest, which sets SP_BINARY_DIR and SP_TEST_TMP.
"""
import contextlib
import os
import subprocess
import sys
import tempfile


def helper(name):
    """The path of tests/peer/helpers/<name>.c as built; exits with a failure when it is missing."""
    path = os.path.join(os.environ.get("SP_BINARY_DIR", "build"), "tests", "peer-helpers", name)
    if not os.path.exists(path):
        print(f"FAIL: {path} was not built")
        sys.exit(1)
    return path


def run(program, *arguments, expect_failure=False):
    """Runs a helper: its stdout on success; its stderr when expect_failure (it must exit 1)."""
    result = subprocess.run([program, *arguments], capture_output=True, text=True)
    shown = f"{os.path.basename(program)} {' '.join(arguments)}"
    if expect_failure:
        assert result.returncode == 1, f"{shown} should have failed: {result.stdout}"
        return result.stderr
    assert result.returncode == 0, f"{shown} failed: {result.stderr}"
    return result.stdout


@contextlib.contextmanager
def scratch_directory(prefix):
    root = os.environ.get("SP_TEST_TMP", tempfile.gettempdir())
    os.makedirs(root, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=prefix) as directory:
        yield directory
