#!/usr/bin/env bash
# CI-sized load smoke test of `savepoint serve`: wrk on loopback for a few seconds against
# TF Serving's half_plus_two (predict [1.0, 2.0, 5.0]) while two new versions are published
# (copied under a temporary name and renamed, as savepoint's own exports do). Passes when wrk
# saw no non-2xx response and no socket error, the last version ends up AVAILABLE, and the
# server exits 0 on SIGTERM. Skips without wrk or without the fixtures.
set -euo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
fixtures=${SP_FIXTURES:-}
source_dir=${SP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
model=$fixtures/tfserving-testdata/saved_model_half_plus_two_cpu/00000123
command -v wrk >/dev/null || { echo "SKIP: wrk is not installed (scripts/install-deps.sh installs it)"; exit 77; }
[ -d "$model" ] || { echo "SKIP: fixtures are absent"; exit 77; }

work=$(mktemp -d "${SP_TEST_TMP:-/tmp}/serve-wrk-XXXXXX")
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/half"
cp -r "$model" "$work/half/1"
"$cli" serve --model_name=half --model_base_path="$work/half" --rest_api_port=0 \
  --file_system_poll_wait_seconds=0.2 2>"$work/log" &
server=$!
port=""
for _ in $(seq 1 200); do
  port=$(grep -o 'REST API on http://127.0.0.1:[0-9]*' "$work/log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/log"; echo "FAIL: server exited"; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { cat "$work/log"; echo "FAIL: server did not start"; exit 1; }

publish() {  # copy under a temporary name, then rename into place
  cp -r "$model" "$work/half/.$1.tmp-copy"
  mv "$work/half/.$1.tmp-copy" "$work/half/$1"
}
(sleep 1.5; publish 2; sleep 1.5; publish 3) &
swapper=$!
wrk -t2 -c16 -d5s -s "$source_dir/bench/serve_predict.lua" "http://127.0.0.1:$port/v1/models/half:predict" >"$work/wrk" 2>&1
wait "$swapper"
cat "$work/wrk"

grep -q "Requests/sec" "$work/wrk" || { echo "FAIL: wrk did not run"; exit 1; }
if grep -q "Non-2xx or 3xx responses" "$work/wrk"; then echo "FAIL: non-2xx responses during hot swaps"; cat "$work/log"; exit 1; fi
if grep -q "Socket errors" "$work/wrk"; then echo "FAIL: socket errors during hot swaps"; cat "$work/log"; exit 1; fi
for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:$port/v1/models/half/versions/3" | grep -q '"AVAILABLE"' && break
  sleep 0.1
done
curl -s "http://127.0.0.1:$port/v1/models/half/versions/3" | grep -q '"AVAILABLE"' || { echo "FAIL: version 3 is not serving"; cat "$work/log"; exit 1; }
answer=$(curl -s -X POST -d '{"instances": [1.0, 2.0, 5.0]}' "http://127.0.0.1:$port/v1/models/half:predict")
[ "$answer" = '{"predictions": [2.5, 3.0, 4.5]}' ] || { echo "FAIL: predict answered $answer"; exit 1; }
kill -TERM "$server"
status=0
wait "$server" || status=$?
server=""
[ "$status" -eq 0 ] || { echo "FAIL: exit status $status after SIGTERM"; cat "$work/log"; exit 1; }
echo "ok"
