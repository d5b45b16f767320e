"""`savepoint serve` against copies of TF Serving's own test models, checked against the answers
TF Serving's tests expect (PROVENANCE.md §1; tensorflow_model_server_test.py and the README):

  - half_plus_two (saved_model_half_plus_two_cpu/00000123): predict [1.0, 2.0, 5.0] gives
    [2.5, 3.0, 4.5]; {"instances": [2.0, 3.0, 4.0]} gives [3.0, 3.5, 4.0]; classify
    (classify_x_to_y, x=2.0) gives score 3.0; regress (regress_x_to_y, x=2.0) gives 3.0;
  - its GetModelMetadata response equals half_plus_two_model_metadata.json (model "default");
  - half_plus_three: x=2.0 gives 4.0;
  - saved_model_half_plus_two_2_versions: the default policy serves 00000124 (the highest), and
    its signatures equal saved_model_half_plus_two_2_versions_metadata.json;
  - status bodies have TF Serving's shape, int64 versions as strings;
  - errors come as {"error": "..."} with TF Serving's codes.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_support import TESTDATA, Server, check, copy_model, run_test


def expected_signatures(name):
    with open(os.path.join(TESTDATA, name)) as handle:
        return json.load(handle)


def compare_signature_defs(found, expected, what):
    check(sorted(found) == sorted(expected), "%s: signatures %s, expected %s" % (what, sorted(found), sorted(expected)))
    for key, signature in expected.items():
        mine = found[key]
        for field in ("inputs", "outputs", "method_name"):
            check(mine[field] == signature[field],
                  "%s: signature %s %s differs:\n%s\nexpected\n%s" % (what, key, field, mine[field], signature[field]))


def close(values, expected):
    return len(values) == len(expected) and all(abs(a - b) <= 1e-6 * max(1, abs(b)) for a, b in zip(values, expected))


def check_half_plus_two(server, model):
    status, body, headers = server.post("/v1/models/%s:predict" % model, {"instances": [1.0, 2.0, 5.0]})
    check(status == 200 and close(body["predictions"], [2.5, 3.0, 4.5]), "predict: %s %s" % (status, body))
    check(headers.get("content-type") == "application/json", "content type %s" % headers)
    check(headers.get("x-savepoint-model-version") == "123", "version header %s" % headers)
    status, body, _ = server.post("/v1/models/%s:predict" % model, {"instances": [2.0, 3.0, 4.0]})
    check(status == 200 and close(body["predictions"], [3.0, 3.5, 4.0]), "README predict: %s" % body)
    status, body, _ = server.post("/v1/models/%s/versions/123:predict" % model, {"inputs": {"x": [[2.0]]}})
    check(status == 200 and body == {"outputs": [[3.0]]}, "columnar predict: %s" % body)
    status, body, _ = server.post("/v1/models/%s:classify" % model,
                                  {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]})
    check(status == 200 and body == {"results": [[["", 3.0]]]}, "classify: %s %s" % (status, body))
    status, body, _ = server.post("/v1/models/%s:regress" % model,
                                  {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]})
    check(status == 200 and close(body["results"], [3.0, 4.0]), "regress: %s %s" % (status, body))
    status, body, _ = server.post("/v1/models/%s:regress" % model,
                                  {"signature_name": "regress_x_to_y2", "context": {"x": 2.0}, "examples": [{}]})
    check(status == 200 and close(body["results"], [4.0]), "regress with context (y2 = 0.5x + 3): %s" % body)
    # The same value as NaN and Infinity tokens pass through.
    status, body, _ = server.post("/v1/models/%s:predict" % model, '{"instances": [NaN, Infinity]}')
    check(status == 200 and body["predictions"][1] == float("inf") and body["predictions"][0] != body["predictions"][0],
          "non-finite: %s" % body)


def check_status(server, model):
    status, body, _ = server.get("/v1/models/" + model)
    check(status == 200, "status: %s %s" % (status, body))
    versions = body["model_version_status"]
    check(len(versions) == 1, "versions: %s" % versions)
    entry = versions[0]
    check(entry["version"] == "123" and entry["state"] == "AVAILABLE", "status entry: %s" % entry)
    check(entry["status"] == {"error_code": "OK", "error_message": ""}, "status: %s" % entry["status"])
    check(len(entry["savepoint"]["sha256"]) == 64, "status lacks the artifact hash: %s" % entry)
    check(entry["savepoint"]["loaded_by"].startswith("savepoint "), "loaded_by: %s" % entry)


def check_metadata(server, model):
    status, body, _ = server.get("/v1/models/%s/metadata" % model)
    check(status == 200, "metadata: %s %s" % (status, body))
    expected = expected_signatures("half_plus_two_model_metadata.json")
    check(body["model_spec"] == dict(expected["model_spec"], name=model), "model_spec: %s" % body["model_spec"])
    compare_signature_defs(body["metadata"]["signature_def"]["signature_def"],
                           expected["metadata"]["signature_def"]["signature_def"], "half_plus_two metadata")
    files = {entry["path"]: entry["sha256"] for entry in body["metadata"]["savepoint"]["files"]}
    check("saved_model.pb" in files and "variables/variables.index" in files, "files: %s" % files)
    # The hash of saved_model.pb is the one PROVENANCE.md lists for this fixture.
    check(files["saved_model.pb"] == "e233fdf986e74feba2329fd68f5fc18ebbde977a35e32080eb81a9a19ce0e02f",
          "saved_model.pb sha256 %s" % files["saved_model.pb"])


def check_errors(server, model):
    cases = [
        ("GET", "/v1/models/missing", None, 404, "Could not find any versions of model missing"),
        ("POST", "/v1/models/missing:predict", {"instances": [1.0]}, 404, "Servable not found for request: Latest(missing)"),
        ("POST", "/v1/models/%s/versions/999:predict" % model, {"instances": [1.0]}, 404, "Specific(%s, 999)" % model),
        ("POST", "/v1/models/%s:predict" % model, {"instances": [[1.0], "x"]}, 400, "input 'x'"),
        ("POST", "/v1/models/%s:predict" % model, {"instances": [1.0], "inputs": [1.0]}, 400, "only one of"),
        ("POST", "/v1/models/%s:predict" % model, {"signature_name": "bogus", "instances": [1.0]}, 400, "bogus"),
        ("POST", "/v1/models/%s:predict" % model, "{not json", 400, "JSON Parse error"),
        ("POST", "/v1/models/%s:classify" % model, {"examples": [{"x": 2.0}]}, 400, "method_name"),
        ("GET", "/v1/models/%s/versions/x1" % model, None, 400, "Malformed request"),
    ]
    for method, path, body, code, fragment in cases:
        status, answer, headers = server.request(method, path, body)
        check(status == code and isinstance(answer, dict) and fragment in answer.get("error", ""),
              "%s %s: expected %d with '%s', got %d %s" % (method, path, code, fragment, status, answer))
        check(headers.get("content-type") == "application/json", "error content type: %s" % headers)


def run(work):
    half = copy_model("saved_model_half_plus_two_cpu", os.path.join(work, "half"))
    with Server("--model_name=default", "--model_base_path=" + half, "--file_system_poll_wait_seconds=0.2") as server:
        check_status(server, "default")
        check_half_plus_two(server, "default")
        check_metadata(server, "default")
        check_errors(server, "default")
        check(server.stop() == 0, "exit status after SIGTERM")

    three = copy_model("saved_model_half_plus_three", os.path.join(work, "three"))
    with Server("--model_name=half_plus_three", "--model_base_path=" + three, "--file_system_poll_wait_seconds=0.2") as server:
        status, body, _ = server.post("/v1/models/half_plus_three:predict", {"instances": [2.0]})
        check(status == 200 and body == {"predictions": [4.0]}, "half_plus_three: %s %s" % (status, body))
        check(server.stop() == 0, "exit status")

    two = copy_model("saved_model_half_plus_two_2_versions", os.path.join(work, "two"))
    with Server("--model_name=saved_model_half_plus_two_2_versions", "--model_base_path=" + two,
                "--file_system_poll_wait_seconds=0.2") as server:
        name = "saved_model_half_plus_two_2_versions"
        status, body, _ = server.get("/v1/models/" + name)
        check([(v["version"], v["state"]) for v in body["model_version_status"]] == [("124", "AVAILABLE")],
              "latest policy: %s" % body)
        status, body, _ = server.get("/v1/models/%s/metadata" % name)
        expected = expected_signatures("saved_model_half_plus_two_2_versions_metadata.json")
        check(body["model_spec"] == dict(expected["model_spec"], version="124"), "model_spec %s" % body["model_spec"])
        compare_signature_defs(body["metadata"]["signature_def"]["signature_def"],
                               expected["metadata"]["signature_def"]["signature_def"], "2_versions metadata")
        status, body, _ = server.post("/v1/models/%s/versions/124:predict" % name, {"instances": [[1.0]]})
        check(status == 200 and body == {"predictions": [[2.5]]}, "2_versions predict: %s" % body)
        check(server.stop() == 0, "exit status")


if __name__ == "__main__":
    run_test("serve-fixtures", run)
