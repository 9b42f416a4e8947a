#!/usr/bin/env bash
# deploy/ha.sh [--nodes N] [--no-replica]: Holdfast on a highly available PostgreSQL, on loopback.
#   - three etcd members (Patroni's leader lock; a majority of two keeps it);
#   - PostgreSQL 15 members under Patroni, run as the `postgres` user: a primary, its synchronous
#     standby and (unless --no-replica) a third member that replicates asynchronously and becomes
#     the synchronous standby when the first one is gone; synchronous_commit=on, strict mode;
#   - HAProxy: 127.0.0.1:56440 reaches the primary (Patroni's /primary check), 127.0.0.1:56439 the
#     replicas (/replica?lag=16MB; the primary when none is healthy), stats on 127.0.0.1:58404;
#   - N app nodes (default 2) on 127.0.0.1:8101… behind nginx on http://127.0.0.1:8080
#     (HOLDFAST_HA_LB_PORT), writing through the primary port and reading what tolerates lag
#     through the replicas port (ConnectionStrings:HoldfastReads);
#   - migrations and the demo seed once, through the primary port.
# Data under .data/ha/cluster (kept between runs: a second start resumes the cluster). Installs
# patroni, etcd-server, haproxy, nginx and PostgreSQL from Debian when missing. Ctrl-C stops
# nginx, the app nodes, HAProxy, Patroni (and its PostgreSQL) and etcd.
# See docs/decisions/0030-high-availability.md; deploy/ha-faults.sh runs the faults.
set -euo pipefail
NODES=2
MEMBERS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=$2; shift 2 ;;
    --no-replica) MEMBERS=2; shift ;;
    *) echo "usage: deploy/ha.sh [--nodes N] [--no-replica]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
. scripts/lib/postgres.sh
. scripts/lib/nginx.sh
. scripts/lib/ha.sh

ensure_postgres_binaries
ensure_ha_binaries
ensure_nginx

DIR="${HOLDFAST_HA_DIR:-$PWD/.data/ha/cluster}"
LB_PORT="${HOLDFAST_HA_LB_PORT:-8080}"
APP_PORT="${HOLDFAST_HA_APP_PORT:-8100}"
mkdir -p "$DIR"
chmod 755 "$PWD/.data" "$PWD/.data/ha" "$DIR" 2>/dev/null || true
[ "$(id -u)" -eq 0 ] && chown postgres "$DIR"

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  [ -f "$DIR/nginx/nginx.pid" ] && kill "$(cat "$DIR/nginx/nginx.pid")" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
  ha_stop_all "$DIR" "$MEMBERS"
  echo "Stopped nginx, $NODES app nodes, HAProxy, $MEMBERS Patroni members and 3 etcd members."
}
trap cleanup INT TERM EXIT

for i in 1 2 3; do ha_etcd_start "$DIR" "$i"; done
ha_etcd_wait
# The first member bootstraps (initdb) when the cluster is new; the others clone it (pg_basebackup).
ha_patroni_start "$DIR" 1
[ -f "$DIR/pg1/data/PG_VERSION" ] || sleep 2
for i in $(seq 2 "$MEMBERS"); do ha_patroni_start "$DIR" "$i"; done
ha_wait_streaming "$MEMBERS" 180
ha_haproxy_start "$DIR" "$MEMBERS"
wait_for_tcp() { for _ in $(seq 1 60); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.5; done; return 1; }
wait_for_tcp "$HA_PRIMARY_PORT"
until "$(pg_bin_dir)/psql" -h 127.0.0.1 -p "$HA_PRIMARY_PORT" -U holdfast -d postgres -tAqc "select 1" >/dev/null 2>&1; do sleep 0.5; done
ensure_database "$HA_PRIMARY_PORT" holdfast

dotnet build src -c Release -nologo -v quiet
APP="$PWD/src/bin/Release/net10.0/Holdfast.dll"
export ASPNETCORE_ENVIRONMENT=Development
export ConnectionStrings__Holdfast="Host=127.0.0.1;Port=$HA_PRIMARY_PORT;Username=holdfast;Database=holdfast;Maximum Pool Size=50"
export ConnectionStrings__HoldfastReads="Host=127.0.0.1;Port=$HA_REPLICAS_PORT;Username=holdfast;Database=holdfast;Maximum Pool Size=50"
export Database__MigrateOnStartup=false
export Email__PickupDirectory="$PWD/.data/mail" WebPush__KeyFile="$PWD/.data/vapid-keys.json"

# Migrations and the seed once, through the primary port (the schema is replicated like any write).
dotnet "$APP" migrate
dotnet "$APP" seed --days "${HOLDFAST_SEED_DAYS:-30}"

mkdir -p "$DIR/nginx"
UPSTREAMS=""
for i in $(seq 1 "$NODES"); do
  port=$((APP_PORT + i))
  (cd src && exec dotnet "$APP" --urls "http://127.0.0.1:$port") > "$DIR/nginx/node-$i.log" 2>&1 &
  PIDS+=($!)
  UPSTREAMS="$UPSTREAMS    server 127.0.0.1:$port max_fails=1 fail_timeout=5s;\n"
done
for i in $(seq 1 "$NODES"); do
  wait_for_http "http://127.0.0.1:$((APP_PORT + i))/health/ready"
done
sed -e "s|@UPSTREAMS@|$UPSTREAMS|" -e "s|@DIR@|$DIR/nginx|g" -e "s|127.0.0.1:8080|127.0.0.1:$LB_PORT|" deploy/nginx.conf.template > "$DIR/nginx/nginx.conf"
nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx"

leader=$(ha_leader "$MEMBERS")
echo "Holdfast HA: $NODES app nodes behind nginx on http://127.0.0.1:$LB_PORT; PostgreSQL primary pg$leader"
echo "  writes 127.0.0.1:$HA_PRIMARY_PORT, reads 127.0.0.1:$HA_REPLICAS_PORT, HAProxy stats http://127.0.0.1:$HA_STATS_PORT/"
echo "  patronictl -c $DIR/pg1.yml list    shows the members; logs in $DIR. Ctrl-C stops it all."
if [ "${HOLDFAST_HA_EXIT_WHEN_READY:-0}" = 1 ]; then
  exit 0
fi
wait "${PIDS[@]}"
