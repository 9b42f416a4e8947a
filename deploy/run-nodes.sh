#!/usr/bin/env bash
# deploy/run-nodes.sh [N]: N Holdfast nodes (default 2) on 127.0.0.1:8101… behind nginx on
# http://127.0.0.1:8080, all on the one PostgreSQL that scripts/run.sh uses (.data/postgres, port
# 55432). Installs nginx from Debian if missing. Every node migrates at start; the advisory lock
# makes that happen once. Seat feeds, jobs and caches work across nodes through the database.
# Ctrl-C stops nginx, the nodes and PostgreSQL.
set -euo pipefail
NODES="${1:-2}"
cd "$(dirname "$0")/.."
. scripts/lib/postgres.sh

. scripts/lib/nginx.sh

ensure_postgres_binaries
ensure_nginx

PG_DIR="$PWD/.data/postgres"
PG_PORT="${HOLDFAST_PG_PORT:-55432}"
start_cluster "$PG_DIR" "$PG_PORT"
ensure_database "$PG_PORT" holdfast

dotnet build src -c Release -nologo -v quiet
APP="$PWD/src/bin/Release/net10.0/Holdfast.dll"
export ASPNETCORE_ENVIRONMENT=Development
export ConnectionStrings__Holdfast="Host=127.0.0.1;Port=$PG_PORT;Username=holdfast;Database=holdfast;Maximum Pool Size=50"
export Database__MigrateOnStartup=true
export Email__PickupDirectory="$PWD/.data/mail" WebPush__KeyFile="$PWD/.data/vapid-keys.json"

NGINX_DIR=$(mktemp -d /tmp/holdfast-nginx-XXXXXX)
chmod 755 "$NGINX_DIR"
PIDS=()
cleanup() {
  trap - INT TERM EXIT
  [ -f "$NGINX_DIR/nginx.pid" ] && kill "$(cat "$NGINX_DIR/nginx.pid")" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  stop_cluster "$PG_DIR"
  rm -rf "$NGINX_DIR"
  echo "Stopped nginx, $NODES nodes and PostgreSQL."
}
trap cleanup INT TERM EXIT

# Migrate and seed once before the nodes start (they would also migrate, once, under the lock).
dotnet "$APP" migrate
dotnet "$APP" seed --days "${HOLDFAST_SEED_DAYS:-30}"

UPSTREAMS=""
for i in $(seq 1 "$NODES"); do
  port=$((8100 + i))
  (cd src && exec dotnet "$APP" --urls "http://127.0.0.1:$port") > "$NGINX_DIR/node-$i.log" 2>&1 &
  PIDS+=($!)
  UPSTREAMS="$UPSTREAMS    server 127.0.0.1:$port max_fails=1 fail_timeout=5s;\n"
done
for i in $(seq 1 "$NODES"); do
  wait_for_http "http://127.0.0.1:$((8100 + i))/health/ready"
done

sed -e "s|@UPSTREAMS@|$UPSTREAMS|" -e "s|@DIR@|$NGINX_DIR|g" deploy/nginx.conf.template > "$NGINX_DIR/nginx.conf"
nginx -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR"
echo "Holdfast: $NODES nodes behind nginx on http://127.0.0.1:8080 (node logs in $NGINX_DIR). Ctrl-C stops it."
wait "${PIDS[@]}"
