#!/usr/bin/env bash
# Tamper tests (issue 7) for artifacts savepoint writes, each checked against the registry that
# recorded them (convert --registry) and against the manifest alone:
#   - one flipped byte in a saved .keras (manifest: the PATH.sha256 sidecar `savepoint manifest` writes);
#   - one flipped byte in an exported SavedModel's variables data file (the export's savepoint.sha256);
#   - a version directory replaced by another model's export: the registry's hashes name the
#     changed files; with the manifest alone, another model's files copied over a version (its
#     manifest left in place) are named. (A directory swapped whole with its own manifest is
#     self-consistent: only the registry, or the SHA-256 the server reports, can tell.)
# verify must exit non-zero and name the file every time; untouched artifacts verify.
source "$(dirname "$0")/support.sh" tamper
unset SAVEPOINT_REGISTRY
registry="sqlite:///$work/registry.db"
flip() { # FILE OFFSET: invert one byte in place
  /usr/bin/python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}
# expect_tampered WHAT FILE_NAMED VERIFY-ARGS...: verify fails and its report names the file
expect_tampered() {
  local what=$1 named=$2; shift 2
  if "$cli" verify "$@" >"$work/out" 2>"$work/err"; then fail "$what: verify passed"; return; fi
  grep -qF "$named" "$work/out" "$work/err" || fail "$what: the report does not name $named: $(cat "$work/out" "$work/err")"
}
model() { # NAME UNITS: a Dense model config
  cat > "$work/$1.json" <<JSON
{"module": "keras", "class_name": "Sequential", "config": {"name": "$1", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "name": "x"}, "registered_name": null},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "y", "units": $2, "activation": "linear"}, "registered_name": null}]},
 "registered_name": null}
JSON
}
model a 2
model b 4

# .keras
"$cli" convert "$work/a.json" "$work/a.keras" --registry "$registry" >/dev/null || fail "convert to .keras failed"
"$cli" manifest "$work/a.keras" >/dev/null || fail "manifest a.keras failed"
"$cli" verify "$work/a.keras" >/dev/null || fail "an untouched .keras should verify against its manifest"
"$cli" verify --registry "$registry" "$work/a.keras" >/dev/null || fail "an untouched .keras should verify against the registry"
size=$(stat -c %s "$work/a.keras")
flip "$work/a.keras" $((size / 2))
expect_tampered ".keras, manifest alone" "a.keras" "$work/a.keras"
rm "$work/a.keras.sha256"
expect_tampered ".keras, registry" "a.keras" --registry "$registry" "$work/a.keras"

# exported SavedModel: one byte of the variables
"$cli" convert "$work/a.json" "$work/models/a" --format savedmodel --version 1 --registry "$registry" >/dev/null \
  || fail "export version 1 failed"
"$cli" verify --registry "$registry" "$work/models/a/1" >/dev/null || fail "an untouched export should verify"
data="$work/models/a/1/variables/variables.data-00000-of-00001"
flip "$data" 3
expect_tampered "export variables, manifest alone" "variables/variables.data-00000-of-00001" "$work/models/a/1"
expect_tampered "export variables, registry" "variables/variables.data-00000-of-00001" --registry "$registry" "$work/models/a/1"

# a version directory replaced by another model's
"$cli" convert "$work/a.json" "$work/models/a" --format savedmodel --version 2 --registry "$registry" >/dev/null || fail "export 2"
"$cli" convert "$work/a.json" "$work/models/a" --format savedmodel --version 3 >/dev/null || fail "export 3"
"$cli" convert "$work/b.json" "$work/other" --format savedmodel --version 1 >/dev/null || fail "export of b"
rm -rf "$work/models/a/2" && cp -r "$work/other/1" "$work/models/a/2"
"$cli" verify "$work/models/a/2" >/dev/null || fail "a whole export with its own manifest is self-consistent"
expect_tampered "replaced version, registry" "variables/variables.data-00000-of-00001" --registry "$registry" "$work/models/a/2"
cp "$work/other/1/saved_model.pb" "$work/models/a/3/saved_model.pb"
cp "$work/other/1/variables/"* "$work/models/a/3/variables/"
expect_tampered "files of another model copied over a version, manifest alone" "variables/variables.data-00000-of-00001" "$work/models/a/3"
"$cli" verify --json "$work/models/a/3" > "$work/report.json" 2>/dev/null
/usr/bin/python3 - "$work/report.json" <<'PY' || fail "JSON report of the copied version: $(cat "$work/report.json")"
import json, sys
report = json.load(open(sys.argv[1]))
assert report["ok"] is False
names = sorted(p["name"].split("/models/a/3/")[-1] for p in report["problems"])
assert "variables/variables.data-00000-of-00001" in names, names
PY
finish "tamper"
