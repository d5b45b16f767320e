"""`savepoint serve` process lifecycle and robustness under hostile clients.

  - SIGTERM while a request is in flight (held in the server-side batcher by a long
    batch_timeout_micros): the request still gets its 200 answer (half_plus_two: 0.5 * 4 + 2 = 4),
    new connections are refused during the drain, and the process exits 0;
  - a slow client trickling a body is cut off after --rest_api_timeout_in_ms, and many idle or
    slow connections do not keep a normal request from being answered on 2 worker threads;
  - request bodies over --rest_api_max_body_bytes get 413 (declared length, or chunked);
  - hostile URLs (path traversal, NUL, '/', ':', overlong names, version overflow, bad methods)
    get 400/404 with a JSON error and never reach the file system;
  - hostile bodies (deep nesting, too many dimensions, ragged lists claiming huge shapes,
    numbers past double, invalid UTF-8, base64 garbage, wrong dtypes) get 400 naming the input;
  - after all that the server still answers and exits 0 on SIGTERM.
"""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_support import Server, check, copy_model, run_test

MODEL = "half"


def raw_exchange(port, data, timeout=10):
    """Sends raw bytes, returns (status, body text) of the reply, or None when the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        received = b""
        try:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
                if b"\r\n\r\n" in received:
                    head, _, body = received.partition(b"\r\n\r\n")
                    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
                    if length and len(body) >= length[0]:
                        break
        except (ConnectionResetError, socket.timeout):
            pass
    if not received.startswith(b"HTTP/1.1 "):
        return None
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode("utf-8", "replace")


def check_drain_on_sigterm(base):
    server = Server("--model_name=" + MODEL, "--model_base_path=" + base, "--enable_batching", "--max_batch_size=64",
                    "--batch_timeout_micros=1500000", "--file_system_poll_wait_seconds=0.2")
    with server:
        outcome = {}

        def slow_request():
            outcome["answer"] = server.post("/v1/models/%s:predict" % MODEL, {"instances": [4.0]})

        started = time.time()
        client = threading.Thread(target=slow_request)
        client.start()
        time.sleep(0.4)
        check(client.is_alive(), "the batched request should still be waiting")
        server.signal(15)
        time.sleep(0.3)
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        check(refused, "a new connection was accepted while draining")
        client.join(30)
        status, body, _ = outcome["answer"]
        check(status == 200 and body == {"predictions": [4.0]}, "in-flight request during SIGTERM: %s %s" % (status, body))
        check(time.time() - started >= 1.4, "the request did not wait for its batch")
        code = server.stop()
        check(code == 0, "exit status %s after draining\n%s" % (code, server.log()))
        check("draining" in server.log(), "no drain message in the log")


def check_slow_clients(server):
    port = server.port
    # A body trickled one byte every 300 ms is cut off after the 1 s timeout.
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(b"POST /v1/models/%s:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n" % MODEL.encode())
    started, closed = time.time(), False
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
    for index in range(40):
        try:
            connection.sendall(b" ")
        except OSError:
            closed = True
            break
        if index == 2:
            # Meanwhile, with two workers and 41 slow or idle connections, a normal request is served.
            status, body, _ = server.post("/v1/models/%s:predict" % MODEL, {"instances": [2.0]})
            check(status == 200 and body == {"predictions": [3.0]}, "request next to slow clients: %s %s" % (status, body))
        time.sleep(0.3)
    if not closed:
        connection.settimeout(3)
        try:
            closed = connection.recv(100) == b""
        except (ConnectionResetError, socket.timeout):
            closed = True
    check(closed, "a trickling client kept its connection for %.1f s" % (time.time() - started))
    check(time.time() - started < 8, "the slow client was cut off only after %.1f s" % (time.time() - started))
    connection.close()
    for other in idle:
        other.close()


def check_limits(server):
    port = server.port
    answer = raw_exchange(port, b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n")
    check(answer and answer[0] == 413 and "larger than the limit" in answer[1], "declared huge body: %s" % (answer,))
    chunk = b'{"instances": [' + b"1.0," * 100000 + b"1.0]}"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
    answer = raw_exchange(port, b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    check(answer and answer[0] == 413, "chunked body over the limit: %s" % (answer,))


def check_hostile_urls(server):
    cases = [
        ("GET", "/v1/models/..%2F..%2Fetc%2Fpasswd", 400, "may not contain '/'"),
        ("GET", "/v1/models/%2e%2e/metadata", 400, "not allowed"),
        ("GET", "/v1/models/a%00b", 400, "control characters"),
        ("GET", "/v1/models/a%3Ab:predict", 400, "':'"),
        ("GET", "/v1/models/" + "n" * 300, 400, "longer than 256 bytes"),
        ("GET", "/v1/models/half/versions/99999999999999999999", 400, "out of range"),
        ("GET", "/v1/models/half/versions/-1", 400, "Malformed"),
        ("GET", "/v1/models/half/labels/%ff", 400, "UTF-8"),
        ("PUT", "/v1/models/half:predict", 400, "Malformed request"),
        ("GET", "/v1/models/half/metadata/extra", 400, "Malformed request"),
        ("GET", "/../../etc/passwd", 404, "no such endpoint"),
        ("GET", "/v1/models/%zz", 400, "percent-encoding"),
    ]
    for method, path, code, fragment in cases:
        status, body, _ = server.request(method, path, "{}" if method != "GET" else None)
        check(status == code and isinstance(body, dict) and fragment in body.get("error", ""),
              "%s %s: expected %d '%s', got %d %s" % (method, path, code, fragment, status, body))


def check_hostile_bodies(server):
    path = "/v1/models/%s:predict" % MODEL
    ragged = '{"inputs": [[' + ",".join(["1"] * 100000) + "]" + ",[1]" * 1000 + "]}"
    cases = [
        ("[" * 90000, 400, "Nesting too deep"),
        ('{"instances": [[[[[[[[[[1.0]]]]]]]]]]}', 400, "nested deeper than"),
        (ragged, 400, "unexpected size"),
        ('{"instances": [1e999]}', 400, "too big"),
        (b'{"instances": ["\xff\xfe"]}', 400, "not UTF-8"),
        ('{"instances": ["\\ud800"]}', 400, "surrogate"),
        ('{"instances": [{"b64": "@@@"}]}', 400, "input 'x'"),
        ('{"instances": [true]}', 400, "input 'x'"),
        ('{"instances": [16777217]}', 400, "loss of precision"),
        ('{"inputs": {"y": [1.0]}}', 400, "Missing named input: x"),
        ("", 400, "The document is empty"),
        ("{} trailing", 400, "must not be followed"),
        ('{"instances": [1.0]', 400, "Missing a comma"),
    ]
    for body, code, fragment in cases:
        status, answer, _ = server.post(path, body)
        check(status == code and isinstance(answer, dict) and fragment in answer.get("error", ""),
              "body %r...: expected %d '%s', got %d %s" % (body[:40], code, fragment, status, str(answer)[:300]))
    status, answer, _ = server.post("/v1/models/%s:classify" % MODEL,
                                    {"signature_name": "classify_x_to_y", "examples": [{"x": {"b64": "!!"}}]})
    check(status == 400 and "base64" in answer["error"], "b64 garbage in an example: %s %s" % (status, answer))


def run(work):
    base = copy_model("saved_model_half_plus_two_cpu", os.path.join(work, MODEL))
    with Server("--model_name=" + MODEL, "--model_base_path=" + base, "--rest_api_num_threads=2",
                "--rest_api_timeout_in_ms=1000", "--rest_api_max_body_bytes=300000",
                "--file_system_poll_wait_seconds=0.2") as server:
        check_hostile_urls(server)
        check_limits(server)
        check_slow_clients(server)
        check_hostile_bodies(server)
        status, body, _ = server.get("/v1/models/" + MODEL)
        check(status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE", "still serving: %s" % body)
        check(server.stop() == 0, "exit status")
    check_drain_on_sigterm(base)


if __name__ == "__main__":
    run_test("serve-lifecycle", run)
