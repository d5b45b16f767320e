#!/usr/bin/env bash
# `savepoint verify` compares SHA-256 hashes with a manifest: a SavedModel directory, a checkpoint
# prefix (with its CRC check too), and an artifact with neither manifest nor registry record.
set -euo pipefail
fixtures=${SP_FIXTURES:?}
[ -d "$fixtures" ] || { echo "fixtures folder '$fixtures' is absent: skipped"; exit 77; }
cli=${SP_CLI:?}
work=$(mktemp -d "${SP_TEST_TMP:-/tmp}/verify-hashes.XXXXXX")
trap 'rm -rf "$work"' EXIT
export SAVEPOINT_REGISTRY=

cp -r "$fixtures/tfserving-testdata/saved_model_half_plus_two_cpu/00000123" "$work/sm"
if "$cli" verify "$work/sm" 2>"$work/err"; then echo "verify without a manifest must fail"; exit 1; fi
grep -q "no manifest" "$work/err"

"$cli" manifest "$work/sm" >/dev/null
"$cli" verify "$work/sm" | grep -q "matches its manifest"
# the manifest is what sha256sum writes, so sha256sum checks it too
(cd "$work/sm" && sha256sum --quiet -c savepoint.sha256)

printf '\x01' | dd of="$work/sm/variables/variables.data-00000-of-00001" bs=1 seek=3 conv=notrunc 2>/dev/null
if "$cli" verify "$work/sm" >"$work/out" 2>"$work/err"; then echo "a flipped byte must fail"; exit 1; fi
grep -q "BAD $work/sm/variables/variables.data-00000-of-00001: changed (per manifest)" "$work/out"
"$cli" verify --json "$work/sm" >"$work/report.json" 2>/dev/null || true
/usr/bin/python3 - "$work/report.json" <<'PY' || { echo "JSON report wrong"; exit 1; }
import json, sys
report = json.load(open(sys.argv[1]))
assert report["ok"] is False, report
assert [p["name"].endswith("variables.data-00000-of-00001") for p in report["problems"]] == [True], report
PY

cp -r "$fixtures/tf-trt-mnist-ckpt" "$work/ck"
"$cli" manifest "$work/ck/model.ckpt-46900" >/dev/null
"$cli" verify "$work/ck/model.ckpt-46900" | grep -q "27 tensors in 1 data file.*matches its manifest"
echo "verify hashes: ok"
