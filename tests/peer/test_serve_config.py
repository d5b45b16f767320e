"""`savepoint serve --model_config_file`: TF Serving's ModelServerConfig text format (formats.md
§6.4) with several models, the three version policies and version labels, re-read on SIGHUP and
by --model_config_file_poll_wait_seconds.

Models are copies of TF Serving's test data: "two" = saved_model_half_plus_two_2_versions
(00000123 and 00000124), "three" = saved_model_half_plus_three, "half" =
saved_model_half_plus_two_cpu. Checked against the config's own meaning: which versions each
policy loads (all / latest / specific), which version each label answers with (the
X-Savepoint-Model-Version header and status by label), values by formula (0.5x + 2, 0.5x + 3);
a reload is declarative (a model dropped from the file is unloaded, a moved label moves, a new
policy takes effect, a new model appears); a broken file changes nothing.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_support import (Server, check, copy_model, fail,
                           run_test)


def config_text(models):
    parts = ["model_config_list {"]
    for name, base, policy, labels in models:
        parts.append("  config {")
        parts.append("    name: '%s'" % name)
        parts.append("    base_path: \"%s\"" % base)
        parts.append("    model_platform: 'tensorflow'")
        if policy:
            parts.append("    model_version_policy { %s }" % policy)
        for label, version in labels:
            parts.append("    version_labels { key: '%s' value: %d }" % (label, version))
        parts.append("  }")
    parts.append("}")
    return "\n".join(parts) + "\n"


def write(path, text):
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def versions_of(server, model):
    status, body, _ = server.get("/v1/models/" + model)
    if status != 200:
        return {}
    return {int(entry["version"]): entry["state"] for entry in body["model_version_status"]}


def answer_version(server, path, x=1.0):
    status, body, headers = server.post(path, {"instances": [x]})
    check(status == 200, "%s: %s %s" % (path, status, body))
    return int(headers["x-savepoint-model-version"]), body["predictions"][0]


def start(config, *extra):
    server = Server("--model_config_file=" + config, "--file_system_poll_wait_seconds=0.2", *extra, wait=False)
    server.ready.wait(60)
    if server.port is None:
        server.process.wait(10)
        fail("server did not start:\n" + server.log())
    return server


def run(work):
    two = copy_model("saved_model_half_plus_two_2_versions", os.path.join(work, "two"))
    three = copy_model("saved_model_half_plus_three", os.path.join(work, "three"))
    half = copy_model("saved_model_half_plus_two_cpu", os.path.join(work, "half"))
    config = os.path.join(work, "models.config")
    write(config, config_text([
        ("two", two, "all {}", [("stable", 123), ("canary", 124)]),
        ("three", three, None, []),
        ("pinned", two, "specific { versions: 123 }", []),
    ]))
    with start(config) as server:
        check(versions_of(server, "two") == {124: "AVAILABLE", 123: "AVAILABLE"}, "all policy: %s" % versions_of(server, "two"))
        check(versions_of(server, "pinned") == {123: "AVAILABLE"}, "specific policy: %s" % versions_of(server, "pinned"))
        check(versions_of(server, "three") == {123: "AVAILABLE"}, "three: %s" % versions_of(server, "three"))
        check(answer_version(server, "/v1/models/two/labels/stable:predict") == (123, 2.5), "stable label")
        check(answer_version(server, "/v1/models/two/labels/canary:predict") == (124, 2.5), "canary label")
        check(answer_version(server, "/v1/models/two:predict") == (124, 2.5), "latest of 'all'")
        check(answer_version(server, "/v1/models/three:predict", 2.0) == (123, 4.0), "half_plus_three")
        status, body, _ = server.get("/v1/models/two/labels/canary")
        check(status == 200 and body["model_version_status"][0]["version"] == "124", "status by label: %s" % body)
        status, body, _ = server.get("/v1/models/two/labels/canary/metadata")
        check(status == 200 and body["model_spec"]["version"] == "124", "metadata by label: %s" % body.get("model_spec"))
        status, body, _ = server.post("/v1/models/pinned/versions/124:predict", {"instances": [1.0]})
        check(status == 404, "pinned/124 must not be served: %s %s" % (status, body))
        status, body, _ = server.post("/v1/models/two/labels/nightly:predict", {"instances": [1.0]})
        check(status == 400 and "Unrecognized servable version label: nightly" in body["error"], "unknown label: %s" % body)

        # SIGHUP: declarative reload.
        write(config, config_text([
            ("two", two, "all {}", [("stable", 123), ("canary", 123)]),
            ("pinned", two, "specific { versions: 124 }", []),
            ("half", half, "latest { num_versions: 1 }", []),
        ]))
        server.signal(1)
        server.wait_for(lambda: versions_of(server, "three") == {}, "model 'three' unloaded after SIGHUP")
        server.wait_for(lambda: versions_of(server, "half").get(123) == "AVAILABLE", "model 'half' loaded after SIGHUP")
        server.wait_for(lambda: versions_of(server, "pinned").get(124) == "AVAILABLE", "pinned moved to 124")
        server.wait_for(lambda: versions_of(server, "pinned").get(123) == "END", "pinned 123 unloaded")
        check(answer_version(server, "/v1/models/two/labels/canary:predict") == (123, 2.5), "canary moved to 123")
        status, body, _ = server.post("/v1/models/three:predict", {"instances": [1.0]})
        check(status == 404, "removed model still answers: %s %s" % (status, body))

        # A broken file changes nothing.
        write(config, "model_config_list { config { name: 'x' base_path: } }")
        server.signal(1)
        server.wait_for(lambda: "not applied" in server.log(), "the broken config to be reported")
        check(versions_of(server, "half") == {123: "AVAILABLE"}, "models changed by a broken config")
        check(answer_version(server, "/v1/models/two/labels/canary:predict") == (123, 2.5), "labels changed by a broken config")
        check(server.stop() == 0, "exit status")

    # The file is re-read on its own with --model_config_file_poll_wait_seconds.
    write(config, config_text([("three", three, None, [])]))
    with start(config, "--model_config_file_poll_wait_seconds=1") as server:
        check(versions_of(server, "three") == {123: "AVAILABLE"}, "three at start")
        write(config, config_text([("three", three, None, []), ("half", half, None, [])]))
        server.wait_for(lambda: versions_of(server, "half").get(123) == "AVAILABLE", "config poll picking up 'half'")
        check(server.stop() == 0, "exit status")


if __name__ == "__main__":
    run_test("serve-config", run)
