# support.sh — the preamble the end-to-end shell tests share (sourced, not a test: ctest runs
# only test_*.sh). After `source "$(dirname "$0")/support.sh" NAME`:
#   $cli       the savepoint binary ($SP_CLI)
#   $work      a fresh directory under $SP_TEST_TMP, removed on exit
#   fail MSG   reports a failure and counts it in $failures; `finish WHAT` exits 1 if any
#   py CODE    runs CODE with /usr/bin/python3 (the peers' interpreter)
set -uo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
work=${SP_TEST_TMP:-/tmp}/${1:?support.sh needs the test name}-$$
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
py() { /usr/bin/python3 -c "$@"; }
finish() {
  [ "$failures" = 0 ] || exit 1
  echo "$1: all checks passed"
}
