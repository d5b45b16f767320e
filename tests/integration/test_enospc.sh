#!/usr/bin/env bash
# A checkpoint save that runs out of space (ENOSPC) fails with a clear message and leaves the
# previous checkpoint intact: the state file still names a complete checkpoint that
# `savepoint verify` passes (CRCs and its sha256 manifest) and that loads.
#
# A small tmpfs (needs root to mount; skipped with 77 otherwise) holds one checkpoint of a
# 10 KB model; a filler file then takes all but N KiB of the space, for N from 0 to 44 in steps
# of 4 KiB (tmpfs counts pages), so the next save runs out of space at every phase of a save:
# data file, index, sidecar manifest, state file, ownership manifest. Synchronous and async saves.
set -uo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
helpers=${SP_BINARY_DIR:?}/tests/peer-helpers
work=${SP_TEST_TMP:-/tmp}/enospc-$$
mount_point=$work/tmpfs
mkdir -p "$mount_point"
cleanup() {
  mountpoint -q "$mount_point" && umount "$mount_point"
  rm -rf "$work"
}
trap cleanup EXIT
if ! mount -t tmpfs -o size=256k tmpfs "$mount_point" 2>"$work/mount.err"; then
  echo "skipped: cannot mount a tmpfs here ($(cat "$work/mount.err")); the test needs root"
  exit 77
fi
failures=0
failed_saves=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

check_latest() { # DIR WHAT: the state file's latest checkpoint is complete and loads
  local latest out
  latest=$("$cli" ckpt latest "$1" 2>&1) || { fail "$2: no latest checkpoint: $latest"; return; }
  out=$("$cli" verify "$latest" 2>&1) || fail "$2: verify $latest: $out"
  case "$out" in "OK $latest: "*"matches its manifest") ;; *) fail "$2: verify printed '$out'" ;; esac
  "$cli" show "$latest" >/dev/null 2>&1 || fail "$2: show $latest failed"
}

for mode in sync async; do
  for free_kib in $(seq 0 4 44); do
    what="$mode, ${free_kib} KiB free"
    rm -rf "${mount_point:?}"/*
    dir=$mount_point/checkpoints
    "$helpers/checkpoint_save" "$dir" 50 1 0 $mode >/dev/null 2>"$work/err" || { fail "$what: first save: $(cat "$work/err")"; continue; }
    available=$(df -k --output=avail "$mount_point" | tail -1 | tr -d ' ')
    fill=$((available - free_kib))
    [ "$fill" -gt 0 ] && dd if=/dev/zero of="$mount_point/filler" bs=1k count=$fill status=none 2>/dev/null
    if "$helpers/checkpoint_save" "$dir" 50 1 0 $mode >"$work/out" 2>"$work/err"; then
      check_latest "$dir" "$what (the save fitted)"
      continue
    fi
    failed_saves=$((failed_saves + 1))
    grep -q "No space left on device" "$work/err" || fail "$what: the error does not say why: $(cat "$work/err")"
    grep -q "ckpt-2" "$work/err" || fail "$what: the error does not name the checkpoint: $(cat "$work/err")"
    check_latest "$dir" "$what"
    latest=$("$cli" ckpt latest "$dir" 2>/dev/null)
    case "$latest" in */ckpt-1|*/ckpt-2) ;; *) fail "$what: latest is '$latest'" ;; esac
    # The next manager (with space again) cleans up and continues.
    rm -f "$mount_point/filler"
    "$helpers/checkpoint_save" "$dir" 50 1 0 $mode >"$work/out" 2>"$work/err" || fail "$what: save after freeing space: $(cat "$work/err")"
    check_latest "$dir" "$what, then freed"
  done
done
[ "$failed_saves" -ge 8 ] || fail "only $failed_saves saves ran out of space: the filler sizes do not cover a save"
echo "$failed_saves saves hit ENOSPC; $failures failures"
[ "$failures" = 0 ]
