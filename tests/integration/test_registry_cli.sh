#!/usr/bin/env bash
# End to end: `savepoint manifest` and `savepoint registry` on SQLite and on the test PostgreSQL
# cluster — record (add), list, show with lineage, labels and their history, verify before and after
# a flipped byte (exit status and the file named), gc, --json parsed by Python, and the error that
# says how to configure a registry.
set -euo pipefail
cli=${SP_CLI:?SP_CLI must name the savepoint binary}
python=/usr/bin/python3
work=${SP_TEST_TMP:-/tmp}/registry-cli-$$
rm -rf "$work"
mkdir -p "$work"
database=""
admin_url=""
cleanup() {
  rm -rf "$work"
  if [ -n "$database" ]; then psql "$admin_url" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

fail() { echo "FAIL ($backend): $*" >&2; exit 1; }
json_field() { "$python" -c "import json,sys; data=json.load(sys.stdin); print($1)"; }

flip_byte() {
  "$python" -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[3]^=1; open(p,'wb').write(b)" "$1"
}

run_suite() {
  local root=$1
  local model=$root/models/mnist/1
  mkdir -p "$model/variables"
  printf 'graph' > "$model/saved_model.pb"
  printf 'index' > "$model/variables/variables.index"
  head -c 4096 /dev/urandom > "$model/variables/variables.data-00000-of-00001"
  printf 'keras zip' > "$root/model.keras"

  "$cli" manifest "$model" >/dev/null
  (cd "$model" && sha256sum --check --strict --quiet savepoint.sha256) || fail "sha256sum rejects the manifest"

  local keras export converted
  keras=$("$cli" registry add "$root/model.keras" --kind model --format keras --producer "keras 3.7.0" --json | json_field 'data["id"]')
  export=$("$cli" registry add "$model" --kind export --format saved_model --producer "savepoint 0.1.0" \
            --name mnist --model-version 1 --parent "$keras" --metrics '{"accuracy": 0.97}' --json | json_field 'data["id"]')
  converted=$("$cli" registry add "$model" --kind export --format tfjs --parent "$export" --json | json_field 'data["id"]')

  [ "$("$cli" registry list --json | json_field 'len(data)')" = 3 ] || fail "list does not show 3 artifacts"
  [ "$("$cli" registry list --kind model --json | json_field 'data[0]["producer_version"]')" = 3.7.0 ] || fail "filter by kind"
  "$cli" registry list | head -1 | grep -q "sha256" || fail "the table has no header"
  [ "$("$cli" registry show "$converted" --json | json_field '[a["id"] for a in data["lineage"]]')" = "[$export, $keras]" ] \
    || fail "lineage of $converted is not [$export, $keras]"
  [ "$("$cli" registry show "$export" --json | json_field 'data["artifact"]["metrics"]["accuracy"]')" = 0.97 ] || fail "metrics"
  [ "$("$cli" registry show "$export" --json | json_field 'len(data["files"])')" = 3 ] || fail "files"

  "$cli" registry label prod "$export" >/dev/null
  "$cli" registry label prod "$converted" >/dev/null
  [ "$("$cli" registry label prod --json | json_field '[r["artifact_id"] for r in data]')" = "[$export, $converted]" ] \
    || fail "label history"
  [ "$("$cli" registry history --label prod --at now --json | json_field 'data[0]["artifact_id"]')" = "$converted" ] \
    || fail "label at now"

  "$cli" registry verify "$export" >/dev/null || fail "an intact artifact fails verification"
  flip_byte "$model/variables/variables.data-00000-of-00001"
  local status=0
  "$cli" registry verify "$export" >"$work/out" 2>"$work/err" || status=$?
  [ "$status" = 1 ] || fail "verify of a tampered artifact exits $status, not 1"
  grep -q "variables/variables.data-00000-of-00001" "$work/err" || fail "verify does not name the file: $(cat "$work/err")"
  [ "$("$cli" registry verify "$export" --json 2>/dev/null | json_field 'data["problems"][0]["kind"]')" = changed ] \
    || fail "verify --json"
  status=0
  "$cli" registry verify "$model" >"$work/out" 2>"$work/err" || status=$?
  [ "$status" = 1 ] || fail "verify PATH of a tampered artifact exits $status, not 1"
  grep -q "changed: .*variables/variables.data-00000-of-00001 (per manifest)" "$work/out" || fail "verify PATH: $(cat "$work/out")"

  rm "$root/model.keras"
  [ "$("$cli" registry gc --json | json_field 'len(data)')" = 1 ] || fail "gc does not find the deleted file"
  local types
  types=$("$cli" registry list events --json | json_field '" ".join(sorted(set(e["type"] for e in data)))')
  [ "$types" = "converted deleted label_moved saved verified" ] || fail "event types: $types"
  [ "$("$cli" registry history mnist --json | json_field 'len(data)')" = 0 ] || fail "no server has loaded mnist"
}

backend=sqlite
export SAVEPOINT_REGISTRY="sqlite://$work/sqlite/registry/registry.db"
case "$SAVEPOINT_REGISTRY" in sqlite:///*) ;; *) SAVEPOINT_REGISTRY="sqlite:$work/sqlite/registry/registry.db" ;; esac
run_suite "$work/sqlite"

status=0
env -u SAVEPOINT_REGISTRY "$cli" registry list >/dev/null 2>"$work/err" || status=$?
[ "$status" = 2 ] || fail "no registry: exit $status, not 2"
grep -q "SAVEPOINT_REGISTRY" "$work/err" || fail "the message does not say how to configure: $(cat "$work/err")"

backend=postgresql
state=${SP_TEST_POSTGRES_STATE:-}
if [ -n "${SP_TEST_POSTGRES_URL:-}" ]; then
  admin_url=$SP_TEST_POSTGRES_URL
elif [ -n "$state" ] && [ -f "$state/url" ]; then
  admin_url=$(cat "$state/url")
elif [ -n "$state" ] && [ -f "$state/skip" ]; then
  echo "SQLite passed; PostgreSQL skipped: $(cat "$state/skip")"
  exit 77
else
  echo "SQLite passed; PostgreSQL skipped: run through ctest (its fixture starts a server)"
  exit 77
fi
database=registry_cli_$$
psql "$admin_url" -qc "CREATE DATABASE $database" >/dev/null
export SAVEPOINT_REGISTRY="${admin_url/\/postgres/\/$database}"
run_suite "$work/postgres"
echo "registry CLI: SQLite and PostgreSQL passed"
