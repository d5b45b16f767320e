#!/usr/bin/env bash
# Runs one libFuzzer target for a fixed time over a corpus seeded from the fixtures.
# usage: run-fuzz.sh TARGET_BINARY NAME SECONDS
set -euo pipefail
binary=$1 name=$2 seconds=$3
source_dir=${SP_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
fixtures=${SP_FIXTURES:-$source_dir/../shared/fixtures}
corpus=${SP_BINARY_DIR:-/tmp}/fuzz-corpus/$name
mkdir -p "$corpus"
seed_list="$source_dir/fuzz/seeds/$name.txt"
if [ -f "$seed_list" ] && [ -d "$fixtures" ]; then
  while IFS= read -r pattern; do
    case "$pattern" in ''|'#'*) continue ;; esac
    for file in $fixtures/$pattern; do
      [ -f "$file" ] && cp -f "$file" "$corpus/seed-$(echo "$file" | sha1sum | cut -c1-12)"
    done
  done < "$seed_list"
fi
if [ -d "$source_dir/fuzz/corpus/$name" ]; then
  cp -f "$source_dir/fuzz/corpus/$name"/* "$corpus/" 2>/dev/null || true
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 \
  -print_final_stats=1 "$corpus"
