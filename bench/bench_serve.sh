#!/usr/bin/env bash
# Benchmark of `savepoint serve` against a ceiling on this machine.
#
#   bench/bench_serve.sh [BUILD_DIR] [SECONDS]      (defaults: build, 30)
#
# 1. savepoint serve with TF Serving's half_plus_two (fixtures), wrk POSTing
#    {"instances": [1.0, 2.0, 5.0]} to :predict for SECONDS, while three new versions are
#    published (copied under a temporary name, renamed into place) at 1/4, 2/4 and 3/4 of the run.
# 2. nginx (nginx-light) serving a static file holding the same response body, wrk GETting it for
#    SECONDS with the same threads and connections: the cost of HTTP alone on this machine.
# 3. The savepoint run again without swaps, to show what the swaps cost.
# Prints requests/s, p50 and p99 latency of each, the ratio, and the number of non-2xx responses
# and socket errors during the swaps (which must be 0). wrk shares the cores with the server, so
# only the ratio means something across machines. Everything binds 127.0.0.1.
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
seconds=${2:-30}
cli=$build/savepoint
fixtures=${SP_FIXTURES:-$source_dir/../shared/fixtures}
model=$fixtures/tfserving-testdata/saved_model_half_plus_two_cpu/00000123
threads=${WRK_THREADS:-2}
connections=${WRK_CONNECTIONS:-32}
for tool in wrk nginx curl; do command -v "$tool" >/dev/null || { echo "bench_serve: $tool is not installed"; exit 1; }; done
[ -x "$cli" ] || { echo "bench_serve: no $cli (build first)"; exit 1; }
[ -d "$model" ] || { echo "bench_serve: fixtures not found at $fixtures"; exit 1; }

work=$(mktemp -d /tmp/bench-serve-XXXXXX)
server="" nginx_pid=""
cleanup() {
  [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# "Requests/sec", and the 50% and 99% lines of wrk --latency, in milliseconds.
summarize() {
  /usr/bin/python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = {k: ms(*re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % k, text).groups()) for k in ("50", "99")}
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
print("%.0f %.3f %.3f %s %s" % (rate, p["50"], p["99"], bad.group(1) if bad else "0", "'" + errors.group(1) + "'" if errors else "none"))
PY
}

echo "machine: $(nproc) CPUs, $(uname -r); wrk -t$threads -c$connections -d${seconds}s"
mkdir -p "$work/half"
cp -r "$model" "$work/half/1"
port=$(free_port)
"$cli" serve --model_name=half --model_base_path="$work/half" --rest_api_port="$port" \
  --file_system_poll_wait_seconds=1 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/v1/models/half" >/dev/null 2>&1 && break; sleep 0.05; done
body=$(curl -sf -X POST -d '{"instances": [1.0, 2.0, 5.0]}' "http://127.0.0.1:$port/v1/models/half:predict")
[ "$body" = '{"predictions": [2.5, 3.0, 4.5]}' ] || { echo "bench_serve: predict answered '$body'"; cat "$work/serve.log"; exit 1; }

(
  for version in 2 3 4; do
    sleep "$(/usr/bin/python3 -c "print($seconds / 4)")"
    cp -r "$model" "$work/half/.$version.tmp-copy"
    mv "$work/half/.$version.tmp-copy" "$work/half/$version"
  done
) &
swapper=$!
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$source_dir/bench/serve_predict.lua" \
  "http://127.0.0.1:$port/v1/models/half:predict" >"$work/serve.wrk"
wait "$swapper"
sleep 2
final=$(curl -sf "http://127.0.0.1:$port/v1/models/half" | tr -d ' \n')
# The same run with no swap, to show what the swaps cost.
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$source_dir/bench/serve_predict.lua" \
  "http://127.0.0.1:$port/v1/models/half:predict" >"$work/steady.wrk"
kill -TERM "$server"; wait "$server" || true; server=""

mkdir -p "$work/nginx/html" "$work/nginx/logs"
printf '%s' "$body" > "$work/nginx/html/predict.json"
nginx_port=$(free_port)
cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes auto;
error_log $work/nginx/logs/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  open_file_cache max=16 inactive=60s;
  open_file_cache_valid 60s;
  keepalive_requests 1000000;
  types { application/json json; }
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/nginx/html;
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$nginx_port/predict.json" >/dev/null 2>&1 && break; sleep 0.05; done
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$nginx_port/predict.json" >"$work/nginx.wrk"

read -r serve_rate serve_p50 serve_p99 serve_bad serve_errors < <(summarize "$work/serve.wrk")
read -r steady_rate steady_p50 steady_p99 _ _ < <(summarize "$work/steady.wrk")
read -r nginx_rate nginx_p50 nginx_p99 _ _ < <(summarize "$work/nginx.wrk")
printf '%-42s %12s %10s %10s\n' "" "requests/s" "p50 ms" "p99 ms"
printf '%-42s %12s %10s %10s\n' "savepoint serve :predict (3 hot swaps)" "$serve_rate" "$serve_p50" "$serve_p99"
printf '%-42s %12s %10s %10s\n' "savepoint serve :predict (no swap)" "$steady_rate" "$steady_p50" "$steady_p99"
printf '%-42s %12s %10s %10s\n' "nginx static file, same body (${#body} B)" "$nginx_rate" "$nginx_p50" "$nginx_p99"
/usr/bin/python3 -c "print('throughput ratio savepoint/nginx: %.2f' % ($serve_rate / $nginx_rate))"
echo "non-2xx during the swaps: $serve_bad; socket errors: $serve_errors"
echo "versions after the run: $(echo "$final" | grep -o '"version":"[0-9]*","state":"[A-Z]*"' | tr '\n' ' ')"
[ "$serve_bad" = "0" ] && [ "$serve_errors" = "none" ]
