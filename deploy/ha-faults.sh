#!/usr/bin/env bash
# deploy/ha-faults.sh [--quick] [--no-cost]: the high-availability fault run (issue 18), one command,
# bounded, on loopback. A fresh cluster as deploy/ha.sh builds it (3 etcd, 3 Patroni members:
# primary, synchronous standby, asynchronous replica; HAProxy; 2 app nodes behind nginx on
# 127.0.0.1:8280), migrated and seeded for 2 days, 5-second holds, the fake payment gateway. Then:
#   1. under hold → checkout load (bench/Holdfast.Bench ha-faults), SIGKILL the primary's Patroni
#      and postmaster (a machine lost), pg_ctl -m immediate on what remains: seconds without
#      service, failed requests and their codes, confirmed bookings lost, seats with two owners,
#      hold-expiry lateness, SSE resumes and gaps, replica lag and anonymous seat-map reads;
#   2. the old primary restarted: it rejoins as a standby (pg_rewind) with no manual step;
#   3. migrate and grant-role through the primary port, against the new primary;
#   4. etcd partitioned from the primary (two of three members stopped): the primary demotes
#      itself; no two members ever take writes; etcd back, a primary again;
#   5. (unless --no-cost) what synchronous_commit costs: the bench's bookings scenario through
#      nginx with synchronous_commit=on, then local, back to back on the same cluster.
# Prints the figures and writes bench/results/ha-faults-<commit>.json. Exits 1 when a correctness
# figure is not 0. Everything it starts is stopped at the end; data in .data/ha/faults (wiped first).
set -euo pipefail
QUICK=""
COST=1
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK="--quick" ;;
    --no-cost) COST=0 ;;
    *) echo "usage: deploy/ha-faults.sh [--quick] [--no-cost]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
REPO=$PWD
. scripts/lib/postgres.sh
. scripts/lib/nginx.sh
. scripts/lib/ha.sh

ensure_postgres_binaries
ensure_ha_binaries
ensure_nginx
PSQL="$(pg_bin_dir)/psql"
MEMBERS=3
DIR="$REPO/.data/ha/faults"
LB_PORT="${HOLDFAST_HA_FAULTS_LB_PORT:-8280}"
APP_PORT=$LB_PORT
[ -d "$DIR" ] && { . scripts/lib/ha.sh; ha_stop_all "$DIR" "$MEMBERS" 2>/dev/null || true; rm -rf "$DIR"; }
mkdir -p "$DIR/nginx" "$REPO/bench/results"
chmod 755 "$REPO/.data" "$REPO/.data/ha" "$DIR"
[ "$(id -u)" -eq 0 ] && chown postgres "$DIR"

NODE_PIDS=()
cleanup() {
  trap - INT TERM EXIT
  [ -f "$DIR/nginx/nginx.pid" ] && kill "$(cat "$DIR/nginx/nginx.pid")" 2>/dev/null || true
  for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${NODE_PIDS[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
  ha_stop_all "$DIR" "$MEMBERS"
  echo "Stopped nginx, the app nodes, HAProxy, Patroni, PostgreSQL and etcd."
}
trap cleanup INT TERM EXIT
now() { date +%s.%N; }
since() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$1" "$(now)"; }
q() { "$PSQL" -h 127.0.0.1 -p "$1" -U holdfast -d "${3:-postgres}" -tAqc "$2" 2>/dev/null; }

echo "== Cluster: 3 etcd, $MEMBERS Patroni members, HAProxy"
for i in 1 2 3; do ha_etcd_start "$DIR" "$i"; done
ha_etcd_wait
ha_patroni_start "$DIR" 1
sleep 2
for i in $(seq 2 "$MEMBERS"); do ha_patroni_start "$DIR" "$i"; done
ha_wait_streaming "$MEMBERS" 180
ha_haproxy_start "$DIR" "$MEMBERS"
until q "$HA_PRIMARY_PORT" "select 1" >/dev/null; do sleep 0.5; done
ensure_database "$HA_PRIMARY_PORT" holdfast
echo "   primary pg$(ha_leader "$MEMBERS"); synchronous_commit=$(q "$HA_PRIMARY_PORT" "show synchronous_commit"), synchronous_standby_names=$(q "$HA_PRIMARY_PORT" "show synchronous_standby_names")"

dotnet build Holdfast.slnx -c Release -nologo -v quiet
APP="$REPO/src/bin/Release/net10.0/Holdfast.dll"
PRIMARY_CS="Host=127.0.0.1;Port=$HA_PRIMARY_PORT;Username=holdfast;Database=holdfast;Maximum Pool Size=30"
export ASPNETCORE_ENVIRONMENT=Development
export ConnectionStrings__Holdfast="$PRIMARY_CS"
export ConnectionStrings__HoldfastReads="Host=127.0.0.1;Port=$HA_REPLICAS_PORT;Username=holdfast;Database=holdfast;Maximum Pool Size=30"
export Database__MigrateOnStartup=false
export Logging__LogLevel__Default=Warning
export RateLimits__AuthPerMinute=1000000 RateLimits__HoldBurst=1000000 RateLimits__HoldsPerSecond=1000000 RateLimits__GlobalConcurrency=100000
export Holds__DurationSeconds=5 Holds__MaxSeatsPerCustomerPerShow=1000
export Payments__Provider=fake Payments__DeadlineMinutes=1
export Email__PickupDirectory="$DIR/mail" WebPush__KeyFile="$DIR/vapid.json"
dotnet "$APP" migrate >/dev/null
echo "== Seeding 2 days of shows"
dotnet "$APP" seed --days "${HOLDFAST_HA_FAULTS_DAYS:-2}"

UPSTREAMS=""
for i in 1 2; do
  port=$((APP_PORT + i))
  dotnet "$APP" --urls "http://127.0.0.1:$port" > "$DIR/nginx/node-$i.log" 2>&1 &
  NODE_PIDS+=($!)
  UPSTREAMS="$UPSTREAMS    server 127.0.0.1:$port max_fails=1 fail_timeout=5s;\n"
done
for i in 1 2; do wait_for_http "http://127.0.0.1:$((APP_PORT + i))/health/ready" 120; done
sed -e "s|@UPSTREAMS@|$UPSTREAMS|" -e "s|@DIR@|$DIR/nginx|g" -e "s|127.0.0.1:8080|127.0.0.1:$LB_PORT|" deploy/nginx.conf.template > "$DIR/nginx/nginx.conf"
nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx"
URL="http://127.0.0.1:$LB_PORT"

# --- 1. Kill the primary under load.
OLD=$(ha_leader "$MEMBERS")
cat > "$DIR/kill-primary.sh" <<SCRIPT
#!/usr/bin/env bash
# A machine lost: Patroni and the postmaster SIGKILLed at once (Patroni gets no chance to restart
# PostgreSQL in place or to release its leader lock), then pg_ctl -m immediate on the data for
# anything left (backends of the killed postmaster).
cd "$REPO"; . scripts/lib/postgres.sh
date +%s.%N > "$DIR/killed-at"
kill -KILL \$(cat "$DIR/patroni$OLD.pid") \$(head -1 "$DIR/pg$OLD/data/postmaster.pid") 2>/dev/null
as_pg_user "\$(pg_bin_dir)/pg_ctl" -D "$DIR/pg$OLD/data" -m immediate -w stop >/dev/null 2>&1 || true
rm -f "$DIR/patroni$OLD.pid"
SCRIPT
chmod +x "$DIR/kill-primary.sh"
echo "== 1. Load through nginx; the primary (pg$OLD) is killed mid-load"
status=0
HOLDFAST_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dotnet bench/Holdfast.Bench/bin/Release/net10.0/Holdfast.Bench.dll ha-faults --base-url "$URL" --connection "$PRIMARY_CS" \
  --kill-primary "bash $DIR/kill-primary.sh" --out "$DIR/load.json" $QUICK || status=1
NEW=$(ha_leader "$MEMBERS")
echo "   new primary: pg$NEW"

# --- 2. The old primary rejoins as a standby.
echo "== 2. Restarting pg$OLD: it should rejoin as a standby (pg_rewind when its timeline forked)"
t0=$(now)
ha_patroni_start "$DIR" "$OLD"
REJOIN_SECONDS=null
for _ in $(seq 1 240); do
  if [ "$(ha_member_role "$OLD")" = "replica" ] && [ "$(q "$(ha_pg_port "$NEW")" "select count(*) from pg_stat_replication where state = 'streaming' and application_name = 'pg$OLD'")" = 1 ]; then
    REJOIN_SECONDS=$(since "$t0"); break
  fi
  sleep 0.5
done
REWOUND=$(grep -c -i "rewind" "$DIR/patroni$OLD.log" || true)
echo "   pg$OLD streaming from pg$NEW after ${REJOIN_SECONDS} s; what its Patroni did:"
grep -i -E "rewind|demot|timeline|bootstrap|replica" "$DIR/patroni$OLD.log" | grep -v -i "no action" | tail -n 8 | sed 's/^/     /' || true
"$PSQL" -h 127.0.0.1 -p "$(ha_pg_port "$NEW")" -U holdfast -d postgres -c "select application_name, state, sync_state from pg_stat_replication order by 1"

# --- 3. Migrations and grant-role against the cluster (the new primary, through HAProxy).
echo "== 3. migrate and grant-role through the primary port"
MIGRATE=$(dotnet "$APP" migrate 2>&1 | tail -1)
echo "   migrate: $MIGRATE"
EMAIL="ha-admin-$(date +%s)@holdfast.example"
curl -fs -o /dev/null -X POST "$URL/auth/register" -H 'Content-Type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"fault run password 123\"}"
GRANT_EXIT=0
dotnet "$APP" grant-role --email "$EMAIL" --role admin || GRANT_EXIT=$?
ROLE=$(q "$HA_PRIMARY_PORT" "select role from app_user where email = '$EMAIL'" holdfast || true)
echo "   grant-role exit $GRANT_EXIT; role now: $ROLE"

# --- 4. Partition etcd from the primary: stop two of its three members (no quorum).
echo "== 4. etcd partition: members 2 and 3 stopped"
PRIMARY_BEFORE=$(ha_leader "$MEMBERS")
ha_etcd_stop "$DIR" 2; ha_etcd_stop "$DIR" 3
t0=$(now)
DEMOTE_SECONDS=null
MAX_WRITABLE=0
for _ in $(seq 1 120); do
  writable=0
  for i in $(seq 1 "$MEMBERS"); do
    # txid_current() needs a transaction id: a standby (or a demoted primary) refuses it.
    q "$(ha_pg_port "$i")" "select txid_current()" >/dev/null && writable=$((writable + 1))
  done
  [ "$writable" -gt "$MAX_WRITABLE" ] && MAX_WRITABLE=$writable
  if [ "$writable" -eq 0 ]; then DEMOTE_SECONDS=$(since "$t0"); break; fi
  sleep 0.25
done
WRITE_VIA_HAPROXY=$(q "$HA_PRIMARY_PORT" "select txid_current()" >/dev/null && echo accepted || echo refused)
echo "   no member takes writes after ${DEMOTE_SECONDS} s (most members writable at once: $MAX_WRITABLE); a write through HAProxy: $WRITE_VIA_HAPROXY"
ha_etcd_start "$DIR" 2; ha_etcd_start "$DIR" 3
t0=$(now)
HEAL_SECONDS=null
for _ in $(seq 1 240); do
  if q "$HA_PRIMARY_PORT" "select txid_current()" >/dev/null; then HEAL_SECONDS=$(since "$t0"); break; fi
  sleep 0.5
done
echo "   etcd back: writes accepted again after ${HEAL_SECONDS} s (primary pg$(ha_leader "$MEMBERS"), before: pg$PRIMARY_BEFORE)"

# --- 5. What synchronous_commit costs: bookings through nginx, on vs local.
COST_JSON="{}"
if [ "$COST" = 1 ]; then
  ha_wait_streaming "$MEMBERS" 120 || true
  BENCH=(dotnet bench/Holdfast.Bench/bin/Release/net10.0/Holdfast.Bench.dll --base-url "$URL" --connection "$PRIMARY_CS"
    --app-pid "${NODE_PIDS[0]}" --pgbench "$(pg_bin_dir)/pgbench" --quick --only bookings)
  set_sync() {
    curl -fs -o /dev/null -X PATCH "http://127.0.0.1:$(ha_rest_port "$(ha_leader "$MEMBERS")")/config" \
      -d "{\"postgresql\":{\"parameters\":{\"synchronous_commit\":\"$1\"}}}"
    until [ "$(q "$HA_PRIMARY_PORT" "show synchronous_commit")" = "$1" ]; do sleep 0.5; done
  }
  for mode in on local; do
    echo "== 5. bookings with synchronous_commit=$mode"
    set_sync "$mode"
    "${BENCH[@]}" --label " (synchronous_commit=$mode)" --out "$DIR/cost-$mode.json" > "$DIR/cost-$mode.log" 2>&1 || true
    grep -E "bookings" "$DIR/cost-$mode.log" | head -12 || true
  done
  set_sync on
  COST_JSON=$(python3 - "$DIR/cost-on.json" "$DIR/cost-local.json" <<'PY'
import json, sys
out = {}
for path, mode in zip(sys.argv[1:], ["on", "local"]):
    try:
        figures = json.load(open(path)).get("figures", [])
    except Exception:
        continue
    out[mode] = [f for f in figures if f.get("scenario", "").startswith("bookings, ")]
print(json.dumps(out))
PY
)
fi

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
OUT="bench/results/ha-faults-$COMMIT.json"
python3 - "$DIR/load.json" "$OUT" <<PY
import json, sys
load = json.load(open(sys.argv[1])) if __import__("os").path.exists(sys.argv[1]) else {}
result = {
  "commit": "$COMMIT", "members": $MEMBERS, "old_primary": "pg$OLD", "new_primary": "pg$NEW",
  "failover_under_load": load,
  "rejoin_seconds": $REJOIN_SECONDS, "rejoin_patroni_log_lines_naming_rewind": $REWOUND,
  "migrate_after_failover": "$MIGRATE", "grant_role_exit": $GRANT_EXIT, "grant_role_result": "$ROLE",
  "partition_demote_seconds": $DEMOTE_SECONDS, "partition_most_writable_members_at_once": $MAX_WRITABLE,
  "partition_write_through_haproxy": "$WRITE_VIA_HAPROXY", "partition_heal_seconds": $HEAL_SECONDS,
  "synchronous_commit_cost": json.loads('''$COST_JSON'''),
}
json.dump(result, open(sys.argv[2], "w"), indent=2)
PY
echo "== Figures"
cat "$OUT"
for v in "$REJOIN_SECONDS" "$DEMOTE_SECONDS" "$HEAL_SECONDS"; do [ "$v" = null ] && status=1; done
[ "$MAX_WRITABLE" -le 1 ] || status=1
[ "$GRANT_EXIT" = 0 ] || status=1
echo "Results: $OUT"
exit "$status"
