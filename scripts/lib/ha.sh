# Shared by deploy/ha.sh and deploy/ha-faults.sh: a PostgreSQL cluster under Patroni on loopback.
# Three etcd members (the DCS: Patroni's leader lock), two or three PostgreSQL members (a primary,
# its synchronous standby, optionally an asynchronous replica) and HAProxy in front of them, which
# asks Patroni's REST API who may take writes. PostgreSQL (and Patroni, which starts it) run as the
# `postgres` user when we are root, like scripts/lib/postgres.sh; etcd and HAProxy as we are.
# Ports (loopback only; override with the env vars):
#   etcd clients 52379/52381/52383, peers 52380/52382/52384  (HOLDFAST_HA_ETCD_PORT, +2 per member)
#   PostgreSQL 56441/56442/56443, Patroni REST 58008/58009/58010 (HOLDFAST_HA_PG_PORT, HOLDFAST_HA_REST_PORT)
#   HAProxy: 56440 the primary (writes), 56439 the replicas (reads; the primary when none is healthy),
#   58404 its stats page (HOLDFAST_HA_PRIMARY_PORT, HOLDFAST_HA_REPLICAS_PORT, HOLDFAST_HA_STATS_PORT)
# shellcheck shell=bash

HA_ETCD_PORT="${HOLDFAST_HA_ETCD_PORT:-52379}"
HA_PG_PORT="${HOLDFAST_HA_PG_PORT:-56441}"
HA_REST_PORT="${HOLDFAST_HA_REST_PORT:-58008}"
HA_PRIMARY_PORT="${HOLDFAST_HA_PRIMARY_PORT:-56440}"
HA_REPLICAS_PORT="${HOLDFAST_HA_REPLICAS_PORT:-56439}"
HA_STATS_PORT="${HOLDFAST_HA_STATS_PORT:-58404}"

# Installs Debian's patroni, etcd-server and haproxy when missing (as scripts/test.sh does PostgreSQL).
ensure_ha_binaries() {
  command -v patroni >/dev/null && command -v etcd >/dev/null && command -v haproxy >/dev/null && return 0
  echo "patroni, etcd or haproxy not found; installing Debian's packages..." >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q patroni etcd-server haproxy >/dev/null
  # The packages may start system services of their own where systemd runs; ours use other ports.
  command -v patroni >/dev/null && command -v etcd >/dev/null && command -v haproxy >/dev/null \
    || { echo "patroni/etcd/haproxy install failed" >&2; return 1; }
}

ha_etcd_client_port() { echo $((HA_ETCD_PORT + 2 * ($1 - 1))); }
ha_etcd_peer_port() { echo $((HA_ETCD_PORT + 2 * ($1 - 1) + 1)); }
ha_pg_port() { echo $((HA_PG_PORT + $1 - 1)); }
ha_rest_port() { echo $((HA_REST_PORT + $1 - 1)); }

# ha_etcd_start DIR N: starts etcd member N (1..3) with data in DIR/etcdN; pid in DIR/etcdN.pid.
ha_etcd_start() {
  local dir=$1 n=$2 cluster="" i state=new
  for i in 1 2 3; do cluster="${cluster:+$cluster,}e$i=http://127.0.0.1:$(ha_etcd_peer_port "$i")"; done
  [ -d "$dir/etcd$n/member" ] && state=existing
  # v2 off: Patroni speaks etcd's v3 gRPC gateway. Short heartbeats: loopback.
  etcd --name "e$n" --data-dir "$dir/etcd$n" \
    --listen-client-urls "http://127.0.0.1:$(ha_etcd_client_port "$n")" --advertise-client-urls "http://127.0.0.1:$(ha_etcd_client_port "$n")" \
    --listen-peer-urls "http://127.0.0.1:$(ha_etcd_peer_port "$n")" --initial-advertise-peer-urls "http://127.0.0.1:$(ha_etcd_peer_port "$n")" \
    --initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token holdfast-ha \
    --heartbeat-interval 100 --election-timeout 1000 --log-level warn >> "$dir/etcd$n.log" 2>&1 &
  echo $! > "$dir/etcd$n.pid"
}

ha_etcd_stop() {
  local dir=$1 n=$2 pid
  [ -f "$dir/etcd$n.pid" ] || return 0
  pid=$(cat "$dir/etcd$n.pid")
  local tries=0
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/etcd$n.pid"
}

# ha_etcd_wait: until all three members answer /health.
ha_etcd_wait() {
  local i
  for i in 1 2 3; do wait_for_http "http://127.0.0.1:$(ha_etcd_client_port "$i")/health" 30; done
}

# ha_patroni_config DIR N SYNC_COMMIT: writes DIR/pgN.yml.
ha_patroni_config() {
  local dir=$1 n=$2 bin hosts="" i
  bin=$(pg_bin_dir)
  for i in 1 2 3; do hosts="${hosts:+$hosts,}127.0.0.1:$(ha_etcd_client_port "$i")"; done
  cat > "$dir/pg$n.yml" <<YAML
# Patroni member pg$n, written by scripts/lib/ha.sh.
scope: holdfast
namespace: /holdfast/
name: pg$n
log:
  # INFO: the fault run reads what Patroni did (promotions, pg_rewind) from its log.
  level: INFO
restapi:
  listen: 127.0.0.1:$(ha_rest_port "$n")
  connect_address: 127.0.0.1:$(ha_rest_port "$n")
etcd3:
  hosts: $hosts
bootstrap:
  # Cluster-wide settings, stored in etcd at the first start (later edits: patronictl edit-config).
  dcs:
    # The leader lock lives 10 s; a primary that cannot renew it (etcd gone) demotes itself before then.
    ttl: 10
    loop_wait: 2
    retry_timeout: 3
    # A standby more than 1 MiB behind is not promoted (a sync standby never is: it has every commit).
    maximum_lag_on_failover: 1048576
    # The primary names one synchronous standby; only it (or the primary) may be promoted, so no
    # commit a client saw is lost. Strict: with no standby left, commits wait rather than go to
    # one server alone (docs/decisions/0030-high-availability.md).
    synchronous_mode: true
    synchronous_mode_strict: true
    synchronous_node_count: 1
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        # on: COMMIT returns once the synchronous standby has flushed the WAL to its disk.
        synchronous_commit: "${HOLDFAST_HA_SYNCHRONOUS_COMMIT:-on}"
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_connections: 300
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        max_prepared_transactions: 0
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
postgresql:
  listen: 127.0.0.1:$(ha_pg_port "$n")
  connect_address: 127.0.0.1:$(ha_pg_port "$n")
  data_dir: $dir/pg$n/data
  bin_dir: $bin
  pgpass: $dir/pg$n/pgpass
  # Trust on loopback only, as the project's other private clusters (scripts/lib/postgres.sh).
  pg_hba:
    - local all all trust
    - host replication all 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
  authentication:
    superuser:
      username: holdfast
      password: holdfast
    replication:
      username: replicator
      password: replicator
    rewind:
      username: holdfast
      password: holdfast
  parameters:
    unix_socket_directories: $dir/pg$n
    shared_buffers: 256MB
    fsync: "on"
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
YAML
}

# ha_patroni_start DIR N: starts Patroni member N as the postgres user; pid (of runuser) in DIR/patroniN.pid.
ha_patroni_start() {
  local dir=$1 n=$2
  mkdir -p "$dir/pg$n"
  [ -f "$dir/pg$n.yml" ] || ha_patroni_config "$dir" "$n"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres "$dir/pg$n" "$dir/pg$n.yml"
    touch "$dir/patroni$n.log" && chown postgres "$dir/patroni$n.log"
  fi
  # setpriv execs Patroni itself as postgres (no runuser parent in between), so the recorded pid
  # is Patroni's and a SIGTERM to it stops PostgreSQL and releases the leader lock.
  if [ "$(id -u)" -eq 0 ]; then
    HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups patroni "$dir/pg$n.yml" >> "$dir/patroni$n.log" 2>&1 &
  else
    patroni "$dir/pg$n.yml" >> "$dir/patroni$n.log" 2>&1 &
  fi
  echo $! > "$dir/patroni$n.pid"
}

# ha_patroni_stop DIR N: SIGTERM to Patroni, which stops its PostgreSQL (fast) and releases the lock.
ha_patroni_stop() {
  local dir=$1 n=$2 pid tries=0
  [ -f "$dir/patroni$n.pid" ] || return 0
  pid=$(cat "$dir/patroni$n.pid")
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $tries -lt 300 ]; do sleep 0.1; tries=$((tries + 1)); done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/patroni$n.pid"
  # A PostgreSQL left behind (Patroni killed hard) is stopped on its own data.
  as_pg_user "$(pg_bin_dir)/pg_ctl" -D "$dir/pg$n/data" -m fast -w stop >/dev/null 2>&1 || true
}

# ha_member_role N: "primary", "replica" or "" (Patroni's REST /patroni says).
ha_member_role() {
  curl -fs --max-time 2 "http://127.0.0.1:$(ha_rest_port "$1")/patroni" 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("role","") if d.get("state")=="running" else "")' 2>/dev/null || true
}

# ha_leader MEMBERS: the number of the member Patroni's /primary answers 200 for, or nothing.
ha_leader() {
  local i
  for i in $(seq 1 "$1"); do
    if curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$(ha_rest_port "$i")/primary"; then echo "$i"; return 0; fi
  done
}

# ha_wait_streaming MEMBERS SECONDS: until a primary has MEMBERS-1 replicas streaming, one of them sync.
ha_wait_streaming() {
  local members=$1 tries=$(( ${2:-120} * 2 )) leader
  for _ in $(seq 1 "$tries"); do
    leader=$(ha_leader "$members")
    if [ -n "$leader" ] && [ "$("$(pg_bin_dir)/psql" -h 127.0.0.1 -p "$(ha_pg_port "$leader")" -U holdfast -d postgres -tAq \
         -c "select count(*) filter (where state = 'streaming') || ':' || count(*) filter (where sync_state = 'sync') from pg_stat_replication" 2>/dev/null)" = "$((members - 1)):1" ]; then
      return 0
    fi
    sleep 0.5
  done
  echo "The cluster did not reach one primary with $((members - 1)) streaming replicas (one sync)" >&2
  return 1
}

# ha_haproxy_start DIR MEMBERS: HAProxy on the primary and replicas ports, checking Patroni's REST API.
ha_haproxy_start() {
  local dir=$1 members=$2 i servers_primary="" servers_replicas=""
  for i in $(seq 1 "$members"); do
    servers_primary="$servers_primary  server pg$i 127.0.0.1:$(ha_pg_port "$i") check port $(ha_rest_port "$i")
"
    servers_replicas="$servers_replicas  server pg$i 127.0.0.1:$(ha_pg_port "$i") check port $(ha_rest_port "$i")
"
  done
  cat > "$dir/haproxy.cfg" <<CFG
# Written by scripts/lib/ha.sh. TCP proxy; Patroni's REST API says which member may take what.
global
  maxconn 2000
  pidfile $dir/haproxy.pid
  daemon

defaults
  mode tcp
  timeout connect 2s
  # Pooled and LISTEN connections sit idle for long; the app's own timeouts bound a query.
  timeout client 2h
  timeout server 2h
  timeout check 1s
  # Checked every 500 ms (250 ms while changing); 2 failures mark a member down and close every
  # session through it, so pooled connections to an old primary die at once instead of lingering.
  default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2 on-marked-down shutdown-sessions

listen stats
  mode http
  bind 127.0.0.1:$HA_STATS_PORT
  stats enable
  stats uri /

# Writes: the member that holds Patroni's leader lock and runs as primary (/primary answers 200
# only there; a primary that lost the lock answers 503 before it has even demoted).
listen primary
  bind 127.0.0.1:$HA_PRIMARY_PORT
  option httpchk GET /primary
  http-check expect status 200
$servers_primary
# Reads that tolerate lag: streaming replicas less than 16 MB behind, round robin; the primary
# when none is healthy.
frontend reads
  bind 127.0.0.1:$HA_REPLICAS_PORT
  use_backend replicas if { nbsrv(replicas) gt 0 }
  default_backend primary

backend replicas
  balance roundrobin
  option httpchk GET /replica?lag=16MB
  http-check expect status 200
$servers_replicas
CFG
  haproxy -c -q -f "$dir/haproxy.cfg" && haproxy -f "$dir/haproxy.cfg"
}

ha_haproxy_stop() {
  local dir=$1 pid
  [ -f "$dir/haproxy.pid" ] || return 0
  pid=$(cat "$dir/haproxy.pid")
  kill "$pid" 2>/dev/null && while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$dir/haproxy.pid"
}

# ha_stop_all DIR MEMBERS: HAProxy, then Patroni members (each stops its PostgreSQL), then etcd.
ha_stop_all() {
  local dir=$1 members=$2 i stops=()
  ha_haproxy_stop "$dir"
  # In parallel, and waited for by pid: a bare `wait` would also wait for etcd, started by this shell.
  for i in $(seq 1 "$members"); do ha_patroni_stop "$dir" "$i" & stops+=($!); done
  wait "${stops[@]}"
  for i in 1 2 3; do ha_etcd_stop "$dir" "$i"; done
}
