#!/usr/bin/env bash
# The benchmark suite, one command: bench/run.sh [--quick]
# Starts a private PostgreSQL in a temp folder, migrates, seeds the real catalogue for 55 days
# (about 10,000 shows and 2,000,000 show seats), starts Holdfast (Release) as its own process on
# 127.0.0.1:8090, then runs the load generator (bench/Holdfast.Bench) as a separate process on
# loopback. It prints a table and writes bench/results/<commit>.json. Everything stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/postgres.sh
. scripts/lib/nginx.sh

ensure_postgres_binaries
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true   # 5,000 SSE clients need the sockets
DIR=$(mktemp -d /tmp/holdfast-bench-XXXXXX)
chmod 755 "$DIR"
PG_PORT="${HOLDFAST_BENCH_PG_PORT:-55433}"
URL="http://127.0.0.1:${HOLDFAST_BENCH_PORT:-8090}"
APP_PID=""
SECOND_PID=""
cleanup() {
  [ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null
  [ -n "$SECOND_PID" ] && kill "$SECOND_PID" 2>/dev/null && wait "$SECOND_PID" 2>/dev/null
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null
  stop_cluster "$DIR"
  rm -rf "$DIR"
}
trap cleanup EXIT

# HOLDFAST_BENCH_PROFILE=1: load pg_stat_statements (with planning) to see where a booking's time
# goes; the bookings scenario then also counts statements and pool resets per booking,
# and the top statements and the WAL by record type (pg_walinspect) are written beside the results.
# It costs some throughput: compare like with like.
if [ "${HOLDFAST_BENCH_PROFILE:-0}" = 1 ]; then
  export HOLDFAST_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on -c pg_stat_statements.max=5000"
fi
start_cluster "$DIR" "$PG_PORT"
ensure_database "$PG_PORT" holdfast
if [ "${HOLDFAST_BENCH_PROFILE:-0}" = 1 ]; then
  "$(pg_bin_dir)/psql" -h 127.0.0.1 -p "$PG_PORT" -U holdfast -d holdfast -qc "create extension if not exists pg_stat_statements" \
    -c "create extension if not exists pg_walinspect"
fi
CONNECTION="Host=127.0.0.1;Port=$PG_PORT;Username=holdfast;Database=holdfast;Maximum Pool Size=16"

dotnet build Holdfast.slnx -c Release -nologo -v quiet
APP=src/bin/Release/net10.0/Holdfast.dll
export ConnectionStrings__Holdfast="$CONNECTION"
export ASPNETCORE_ENVIRONMENT=Development
dotnet "$APP" migrate
echo "Seeding the catalogue..."
dotnet "$APP" seed --days "${HOLDFAST_BENCH_DAYS:-55}"

# Limits raised so the load is measured, not throttled; 5-second holds for the expiry scenario.
export Logging__LogLevel__Default=Warning
export RateLimits__AuthPerMinute=1000000 RateLimits__HoldBurst=1000000 RateLimits__HoldsPerSecond=1000000 RateLimits__GlobalConcurrency=100000
export Holds__DurationSeconds=5 Holds__MaxSeatsPerCustomerPerShow=1000
export Email__PickupDirectory="$DIR/mail" WebPush__KeyFile="$DIR/vapid.json"
start_app() {
  Cache__Enabled="$1" dotnet "$APP" --urls "$URL" > "$DIR/app-$1.log" 2>&1 &
  APP_PID=$!
  wait_for_http "$URL/openapi/v1.json"
}

mkdir -p bench/results
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
BENCH="dotnet bench/Holdfast.Bench/bin/Release/net10.0/Holdfast.Bench.dll --base-url $URL --pgbench $(pg_bin_dir)/pgbench"

# Search with the read cache off first, to measure what the cache gains.
start_app false
HOLDFAST_COMMIT="$COMMIT" $BENCH --connection "$CONNECTION" --app-pid "$APP_PID" --only search --label " (cache off)" --out "$DIR/cache-off.json" "$@"
kill "$APP_PID"; wait "$APP_PID" 2>/dev/null || true

start_app true
HOLDFAST_COMMIT="$COMMIT" $BENCH --connection "$CONNECTION" --app-pid "$APP_PID" --merge "$DIR/cache-off.json" --out "$DIR/one-box.json" "$@"
RESULT="$DIR/one-box.json"

# Several nodes: the holds scenario through nginx with one app node, then with two.
if [ "${HOLDFAST_BENCH_NODES:-1}" = 1 ] && ensure_nginx; then
  NGINX_URL="http://127.0.0.1:${HOLDFAST_BENCH_LB_PORT:-8092}"
  nginx_with() {
    sed -e "s|@UPSTREAMS@|$1|" -e "s|@DIR@|$DIR|g" -e "s|127.0.0.1:8080|${NGINX_URL#http://}|" deploy/nginx.conf.template > "$DIR/nginx.conf"
    if [ -f "$DIR/nginx.pid" ]; then nginx -c "$DIR/nginx.conf" -p "$DIR" -s reload; sleep 1; else nginx -c "$DIR/nginx.conf" -p "$DIR"; fi
  }
  NODE_BENCH="dotnet bench/Holdfast.Bench/bin/Release/net10.0/Holdfast.Bench.dll --base-url $NGINX_URL --pgbench $(pg_bin_dir)/pgbench"
  nginx_with "    server ${URL#http://};\n"
  HOLDFAST_COMMIT="$COMMIT" $NODE_BENCH --connection "$CONNECTION" --app-pid "$APP_PID" --only holds --label " (1 node behind nginx)" --merge "$RESULT" --out "$DIR/one-node.json" "$@"
  SECOND_URL="http://127.0.0.1:${HOLDFAST_BENCH_SECOND_PORT:-8091}"
  Cache__Enabled=true dotnet "$APP" --urls "$SECOND_URL" > "$DIR/app-second.log" 2>&1 &
  SECOND_PID=$!
  wait_for_http "$SECOND_URL/openapi/v1.json"
  nginx_with "    server ${URL#http://};\n    server ${SECOND_URL#http://};\n"
  HOLDFAST_COMMIT="$COMMIT" $NODE_BENCH --connection "$CONNECTION" --app-pid "$APP_PID" --only holds --label " (2 nodes behind nginx)" --merge "$DIR/one-node.json" --out "$DIR/two-nodes.json" "$@"
  RESULT="$DIR/two-nodes.json"
fi
cp "$RESULT" "bench/results/$COMMIT.json"
if [ -f "$DIR/one-box-statements.txt" ]; then
  cp "$DIR/one-box-statements.txt" "bench/results/$COMMIT-statements.txt"
  echo "Top statements of the 64-client bookings window: bench/results/$COMMIT-statements.txt"
fi
if [ -f "$DIR/one-box-wal.txt" ]; then
  cp "$DIR/one-box-wal.txt" "bench/results/$COMMIT-wal.txt"
  echo "WAL by record type per booking, 64 clients: bench/results/$COMMIT-wal.txt"
fi
echo "Results: bench/results/$COMMIT.json"
