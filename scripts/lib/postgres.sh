# Shared by scripts/run.sh and scripts/test.sh: find (or install) PostgreSQL and run a private
# cluster. PostgreSQL refuses to run as root, so when we are root its commands run as `postgres`.
# shellcheck shell=bash

pg_bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# Installs Debian's PostgreSQL server when no initdb is found.
ensure_postgres_binaries() {
  if [ -n "$(pg_bin_dir)" ]; then
    return 0
  fi
  echo "PostgreSQL binaries not found; installing Debian's postgresql package..." >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql
  # The package starts a system cluster on 5432; Holdfast uses its own, so leave that one alone.
  [ -n "$(pg_bin_dir)" ] || { echo "PostgreSQL install failed" >&2; return 1; }
}

# Runs a PostgreSQL command as the postgres user when we are root, else as ourselves.
as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# start_cluster DIR PORT: initdb DIR/data on first use (superuser `holdfast`, trust auth on
# loopback only), then start it on PORT listening on 127.0.0.1 with no Unix socket.
start_cluster() {
  local dir=$1 port=$2 bin
  bin=$(pg_bin_dir)
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      echo "The postgres user cannot reach $dir (a parent folder is not traversable)." >&2
      echo "Clone the repository somewhere world-traversable, e.g. under /work or /srv." >&2
      return 1
    fi
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg_user "$bin/initdb" -D "$dir/data" -U holdfast --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  if as_pg_user "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    return 0
  fi
  as_pg_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=300 -c shared_buffers=512MB -c fsync=on ${HOLDFAST_PG_OPTIONS:-}" \
    start >/dev/null || { tail -n 30 "$dir/postgres.log" >&2; return 1; }
}

stop_cluster() {
  local dir=$1 bin
  bin=$(pg_bin_dir)
  as_pg_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# ensure_database PORT NAME: creates database NAME on the cluster at PORT unless it exists.
ensure_database() {
  local port=$1 name=$2 bin
  bin=$(pg_bin_dir)
  "$bin/psql" -h 127.0.0.1 -p "$port" -U holdfast -d postgres -tAq \
    -c "select 1 from pg_database where datname = '$name'" | grep -q 1 \
    || "$bin/createdb" -h 127.0.0.1 -p "$port" -U holdfast "$name"
}

# wait_for_http URL [SECONDS]: waits until URL answers 2xx; fails after SECONDS (default 60).
wait_for_http() {
  local url=$1 tries=$(( ${2:-60} * 2 ))
  for _ in $(seq 1 "$tries"); do
    curl -fs -o /dev/null "$url" && return 0
    sleep 0.5
  done
  echo "No answer from $url" >&2
  return 1
}
