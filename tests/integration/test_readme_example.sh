#!/usr/bin/env bash
# The C example in README.md (the ```c block after <!-- readme-example -->) compiles against the
# built library and public headers, runs, and learns what it says (f(0.5, -0.5) close to 3.5).
# Under the sanitizers (SP_SANITIZE=1) it is built with clang and ASan+UBSan like the library.
set -uo pipefail
source_dir=${SP_SOURCE_DIR:?} binary_dir=${SP_BINARY_DIR:?}
work=${SP_TEST_TMP:-/tmp}/readme-example-$$
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
awk '/<!-- readme-example -->/ { marked = 1; next }
     marked && /^```c$/ { inside = 1; next }
     inside && /^```$/ { exit }
     inside { print }' "$source_dir/README.md" > "$work/example.c"
[ -s "$work/example.c" ] || { echo "FAIL: no C example after <!-- readme-example --> in README.md"; exit 1; }
requires=$(sed -n 's/^Requires.private: *//p' "$binary_dir/savepoint.pc")
compiler=${CC:-cc} flags=""
if [ "${SP_SANITIZE:-0}" = 1 ]; then compiler=clang flags="-fsanitize=address,undefined"; fi
# shellcheck disable=SC2086
"$compiler" -std=c11 -Wall -Wextra -Werror $flags -I"$source_dir/include" -I"$binary_dir/include" "$work/example.c" \
  "$binary_dir/libsavepoint.a" $(pkg-config --libs $requires) -lpthread -lm -o "$work/example" \
  || { echo "FAIL: the README example does not compile"; exit 1; }
out=$("$work/example") || { echo "FAIL: the README example exited with an error: $out"; exit 1; }
echo "$out"
value=$(printf '%s' "$out" | sed -n 's/.*= \([-0-9.]*\)$/\1/p')
/usr/bin/python3 -c "import sys; sys.exit(0 if abs(float('$value') - 3.5) < 0.01 else 1)" \
  || { echo "FAIL: f(0.5, -0.5) = $value, expected 3.5"; exit 1; }
