#!/usr/bin/env bash
# The fault-injection run (issue 11), one command: bench/faults.sh [--quick]
# Repeats the operator's run on one box: a private PostgreSQL (port 55434) migrated and seeded for
# 3 days, two Holdfast nodes (127.0.0.1:8093 and 8094) whose SMTP server accepts connections and
# never answers (Email:TimeoutSeconds 5), 5-second holds, 1-minute payment deadlines, the fake
# payment gateway. The load generator (bench/Holdfast.Bench, `faults` mode) runs hold→checkout for
# 16 customers and hold-and-let-expire for 4, half on each node; mid-load it crashes PostgreSQL
# (pg_ctl -m immediate restart), then SIGKILLs node 2 mid-checkout and restarts it. After the load
# and a bounded drain it checks the database and prints the figures; it writes
# bench/results/faults-<commit>.json and exits 1 when a correctness figure is not 0.
# Env: HOLDFAST_FAULTS_PG_PORT, HOLDFAST_FAULTS_PORT, HOLDFAST_FAULTS_SECOND_PORT,
# HOLDFAST_FAULTS_SMTP_PORT, HOLDFAST_FAULTS_DAYS, HOLDFAST_FAULTS_EMAIL=pickup (no hung SMTP). Everything started here is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
. scripts/lib/postgres.sh

ensure_postgres_binaries
DIR=$(mktemp -d /tmp/holdfast-faults-XXXXXX)
chmod 755 "$DIR"
PG_PORT="${HOLDFAST_FAULTS_PG_PORT:-55434}"
NODE1_PORT="${HOLDFAST_FAULTS_PORT:-8093}"
NODE2_PORT="${HOLDFAST_FAULTS_SECOND_PORT:-8094}"
SMTP_PORT="${HOLDFAST_FAULTS_SMTP_PORT:-2526}"
SMTP_PID=""
cleanup() {
  for n in 1 2; do
    if [ -f "$DIR/node$n.pid" ]; then
      pid=$(cat "$DIR/node$n.pid")
      kill "$pid" 2>/dev/null && while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
  done
  [ -n "$SMTP_PID" ] && kill "$SMTP_PID" 2>/dev/null
  stop_cluster "$DIR"
  rm -rf "$DIR"
}
trap cleanup EXIT

start_cluster "$DIR" "$PG_PORT"
ensure_database "$PG_PORT" holdfast
CONNECTION="Host=127.0.0.1;Port=$PG_PORT;Username=holdfast;Database=holdfast;Maximum Pool Size=16"

dotnet build Holdfast.slnx -c Release -nologo -v quiet
APP="$REPO/src/bin/Release/net10.0/Holdfast.dll"
export ConnectionStrings__Holdfast="$CONNECTION"
export ASPNETCORE_ENVIRONMENT=Development
dotnet "$APP" migrate
echo "Seeding the catalogue..."
dotnet "$APP" seed --days "${HOLDFAST_FAULTS_DAYS:-3}"
# The seed's WAL is not what a crash in production replays: start the run from a checkpoint.
"$(pg_bin_dir)/psql" -h 127.0.0.1 -p "$PG_PORT" -U holdfast -d holdfast -qc checkpoint

# Fault C, for the whole run: an SMTP server that accepts the connection and never says a word.
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024); held = []
while True: held.append(s.accept()[0])
' "$SMTP_PORT" &
SMTP_PID=$!

export Logging__LogLevel__Default=Warning
export RateLimits__AuthPerMinute=1000000 RateLimits__HoldBurst=1000000 RateLimits__HoldsPerSecond=1000000 RateLimits__GlobalConcurrency=100000
export Holds__DurationSeconds=5 Holds__MaxSeatsPerCustomerPerShow=1000
export Payments__Provider=fake Payments__DeadlineMinutes=1
# HOLDFAST_FAULTS_EMAIL=pickup leaves fault C out (emails written to files), for comparison.
export Email__Mode="${HOLDFAST_FAULTS_EMAIL:-smtp}" Email__PickupDirectory="$DIR/mail" Email__Host=127.0.0.1 Email__Port="$SMTP_PORT" Email__StartTls=false Email__TimeoutSeconds=5
export WebPush__KeyFile="$DIR/vapid.json"

# The fault commands the generator runs; node N's pid is in $DIR/nodeN.pid.
cat > "$DIR/start-node.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
cd "$REPO"
. scripts/lib/postgres.sh
nohup dotnet "$APP" --urls "http://127.0.0.1:\$2" >> "$DIR/node\$1.log" 2>&1 &
echo \$! > "$DIR/node\$1.pid"
wait_for_http "http://127.0.0.1:\$2/health/ready" 60
SCRIPT
cat > "$DIR/restart-db.sh" <<SCRIPT
#!/usr/bin/env bash
cd "$REPO"
. scripts/lib/postgres.sh
as_pg_user "\$(pg_bin_dir)/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -m immediate -w -t 60 restart >/dev/null
SCRIPT
chmod +x "$DIR/start-node.sh" "$DIR/restart-db.sh"

bash "$DIR/start-node.sh" 1 "$NODE1_PORT"
bash "$DIR/start-node.sh" 2 "$NODE2_PORT"

mkdir -p bench/results
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
OUT="bench/results/faults-$COMMIT.json"
status=0
HOLDFAST_COMMIT="$COMMIT" dotnet bench/Holdfast.Bench/bin/Release/net10.0/Holdfast.Bench.dll faults \
  --nodes "http://127.0.0.1:$NODE1_PORT,http://127.0.0.1:$NODE2_PORT" --connection "$CONNECTION" --out "$OUT" \
  --restart-db "bash $DIR/restart-db.sh" \
  --kill-node "kill -KILL \$(cat $DIR/node2.pid)" \
  --start-node "bash $DIR/start-node.sh 2 $NODE2_PORT" --logs "$DIR/node1.log,$DIR/node2.log" "$@" || status=$?
echo "Results: $OUT"
exit "$status"
