#!/usr/bin/env bash
# `savepoint verify`: every fixture bundle verifies clean; a flipped byte in a tensor or in
# the index is named, with exit 1. Offsets of the damaged tensor come from PROVENANCE.md
# Appendix B (tf-trt-mnist-ckpt dense/bias at offset 225800, 2048 bytes).
set -uo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
fixtures=${SP_FIXTURES:-}
[ -d "$fixtures" ] || { echo "fixtures folder '$fixtures' is absent: skipped"; exit 77; }
work=${SP_TEST_TMP:-/tmp}/cli-verify-$$
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

flip_byte() { # FILE OFFSET: xor one byte with 0x20
  local byte
  byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "\\$(printf '%03o' $((byte ^ 32)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

count=0
while IFS= read -r index; do
  prefix=${index%.index}
  out=$("$cli" verify "$prefix") || fail "verify '$prefix' failed: $out"
  case "$out" in "OK $prefix: "*) ;; *) fail "verify '$prefix' printed '$out'" ;; esac
  count=$((count + 1))
done < <(find "$fixtures" -name '*.index' | sort)
[ "$count" = 33 ] || fail "expected 33 fixture bundles, verified $count"

trt=$fixtures/tf-trt-mnist-ckpt/model.ckpt-46900
out=$("$cli" verify "$trt")
[ "$out" = "OK $trt: 27 tensors in 1 data file, 686728 bytes, all checksums match" ] || fail "summary line: '$out'"

cp "$trt.index" "$work/ckpt.index"
cp "$trt.data-00000-of-00001" "$work/ckpt.data-00000-of-00001"
flip_byte "$work/ckpt.data-00000-of-00001" $((225800 + 100))
out=$("$cli" verify "$work/ckpt" 2>"$work/err"); code=$?
[ "$code" = 1 ] || fail "damaged data: exit $code"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "damaged data: expected one BAD line, got: $out"
case "$out" in "BAD dense/bias: "*"checksum mismatch"*) ;; *) fail "damaged data: '$out'" ;; esac
grep -q "1 problem found" "$work/err" || fail "damaged data: stderr '$(cat "$work/err")'"
if [ -x /usr/bin/python3 ]; then
  report=$("$cli" verify "$work/ckpt" --json 2>/dev/null)
  /usr/bin/python3 -c '
import json, sys
report = json.loads(sys.argv[1])
assert report["ok"] is False and [p["name"] for p in report["problems"]] == ["dense/bias"], report' "$report" \
    || fail "damaged data: --json report"
fi

cp "$trt.data-00000-of-00001" "$work/ckpt.data-00000-of-00001"
flip_byte "$work/ckpt.index" 40
out=$("$cli" verify "$work/ckpt" 2>/dev/null); code=$?
[ "$code" = 1 ] || fail "damaged index: exit $code"
case "$out" in "BAD $work/ckpt.index: "*"data block 0 (bytes 0.."*"checksum mismatch"*) ;; *) fail "damaged index: '$out'" ;; esac

out=$("$cli" verify "$work/absent" 2>&1); code=$?
[ "$code" = 1 ] || fail "absent: exit $code"
"$cli" verify 2>/dev/null; [ $? = 2 ] || fail "no PATH: expected exit 2"

[ "$failures" = 0 ] || { echo "$failures failures"; exit 1; }
echo "all verify checks passed"
