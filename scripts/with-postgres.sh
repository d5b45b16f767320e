#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the registry tests: trust auth, loopback only, fsync off, its
# own free port and socket directory, so several builds (release, sanitize) can run side by side.
#
#   with-postgres.sh start STATE_DIR    start a cluster; write STATE_DIR/url (a libpq URI for the
#                                       "postgres" database), or STATE_DIR/skip with the reason
#                                       when PostgreSQL's server programs are not installed
#   with-postgres.sh stop STATE_DIR     stop it and remove its data
#   with-postgres.sh run COMMAND...     start, run COMMAND with SP_TEST_POSTGRES_URL set, stop
#
# As root (initdb refuses root) the server runs as the "postgres" user through runuser.
set -euo pipefail

find_bin_dir() {
  if [ -n "${SP_POSTGRES_BIN:-}" ] && [ -x "$SP_POSTGRES_BIN/initdb" ]; then echo "$SP_POSTGRES_BIN"; return; fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return
  fi
}

as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_is_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

stop_cluster() {
  local state=$1
  [ -f "$state/datadir" ] || return 0
  local data bin
  data=$(cat "$state/datadir")
  bin=$(cat "$state/bindir" 2>/dev/null || find_bin_dir)
  if [ -d "$data/data" ]; then
    as_server_user "$bin/pg_ctl" -D "$data/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data"
  rm -f "$state/datadir" "$state/bindir" "$state/url" "$state/port"
}

start_cluster() {
  local state=$1
  mkdir -p "$state"
  stop_cluster "$state"   # a cluster left behind by an interrupted run
  rm -f "$state/skip"
  local bin
  bin=$(find_bin_dir || true)
  if [ -z "$bin" ]; then
    echo "PostgreSQL server programs (initdb, pg_ctl) are not installed; install the 'postgresql' package" \
         "(scripts/install-deps.sh does) to run the registry tests against PostgreSQL" > "$state/skip"
    echo "with-postgres: $(cat "$state/skip")" >&2
    return 0
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "with-postgres: running as root and there is no 'postgres' user to run the server" >&2
    return 1
  fi
  local data
  data=$(mktemp -d /tmp/savepoint-pg.XXXXXX)
  echo "$data" > "$state/datadir"
  echo "$bin" > "$state/bindir"
  chmod 755 "$data"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$data"; fi
  as_server_user "$bin/initdb" -D "$data/data" -U savepoint --auth=trust -E UTF8 --no-locale --no-sync \
    >"$state/initdb.log" 2>&1 || { cat "$state/initdb.log" >&2; return 1; }
  local attempt port
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM + $$) % 40000 ))
    port_is_taken "$port" && continue
    if as_server_user "$bin/pg_ctl" -D "$data/data" -l "$data/server.log" -w -t 60 start \
         -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
         >/dev/null 2>&1; then
      echo "$port" > "$state/port"
      echo "postgresql://savepoint@127.0.0.1:$port/postgres?sslmode=disable&gssencmode=disable" > "$state/url"
      return 0
    fi
  done
  echo "with-postgres: the server did not start; its log:" >&2
  cat "$data/server.log" >&2 || true
  return 1
}

command=${1:-}
case "$command" in
  start) start_cluster "${2:?state directory}" ;;
  stop) stop_cluster "${2:?state directory}" ;;
  run)
    shift
    state=$(mktemp -d /tmp/savepoint-pg-state.XXXXXX)
    trap 'stop_cluster "$state"; rm -rf "$state"' EXIT
    start_cluster "$state"
    if [ -f "$state/url" ]; then export SP_TEST_POSTGRES_URL; SP_TEST_POSTGRES_URL=$(cat "$state/url"); fi
    "$@"
    ;;
  *) echo "usage: with-postgres.sh start STATE_DIR | stop STATE_DIR | run COMMAND..." >&2; exit 2 ;;
esac
