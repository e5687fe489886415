#!/usr/bin/env bash
# The local stack without Docker: a single-node Apache Kafka (KRaft) from Maven Central and a
# PostgreSQL cluster from Debian's packages, both on loopback, data under $LAPOR_HUB_STATE_DIR.
#
#   stack.sh up | down | status | logs [kafka|postgres] | jars
#
# Every knob is an environment variable (see .env.example); defaults avoid the usual ports.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${LAPOR_HUB_STATE_DIR:-$ROOT/.local}
PY=${LAPOR_HUB_PYTHON:-$ROOT/.venv/bin/python}
KAFKA_PORT=${LAPOR_HUB_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${LAPOR_HUB_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_HEAP=${LAPOR_HUB_KAFKA_HEAP:-384m}
PG_PORT=${LAPOR_HUB_PG_PORT:-55432}
PG_USER=lapor_hub
PG_DB=lapor_hub
READY_TIMEOUT=${LAPOR_HUB_READY_TIMEOUT:-120}

KAFKA_DIR=$STATE/kafka
# Jars can be shared by a second stack (e.g. `make chaos`'s) instead of fetched again.
KAFKA_LIB=${LAPOR_HUB_KAFKA_LIB:-$KAFKA_DIR/lib}
KAFKA_LOG=$STATE/logs/kafka.log
KAFKA_PID=$KAFKA_DIR/kafka.pid
# A server given by URL is used as it is, unless the Makefile set the URL for our own cluster.
EXTERNAL_DB=""
[ "${LAPOR_HUB_LOCAL_PG:-0}" = 1 ] || EXTERNAL_DB=${LAPOR_HUB_DATABASE_URL:-${DATABASE_URL:-}}

say() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- PostgreSQL
# PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` user, and
# lives where that user can reach it (the repo's .local/ when its path is traversable).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ]; then
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed: sudo apt-get install postgresql"
    say "installing PostgreSQL from Debian's packages"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$bin"
}

pg_root() {
  local dir=$STATE/pg
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$dir" && chown postgres:postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      # Named after the state directory when it is not the default, so a second stack (e.g.
      # `make chaos`'s) never shares the first one's cluster.
      local owner=$ROOT; [ "$STATE" = "$ROOT/.local" ] || owner=$STATE
      dir=/var/lib/postgresql/lapor-hub-$(printf '%s' "$owner" | md5sum | cut -c1-10)
      mkdir -p "$dir" && chown postgres:postgres "$dir"
    fi
  else
    mkdir -p "$dir"
  fi
  echo "$dir"
}

PG_ROOT=""
pg_paths() {
  [ -n "$PG_ROOT" ] && return
  PG_ROOT=$(pg_root)
  PG_DATA=$PG_ROOT/data
  PG_SOCK=$PG_ROOT/run
  PG_LOG=$PG_ROOT/postgres.log
}

pg_running() { pg_paths; [ -f "$PG_DATA/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

pg_up() {
  if [ -n "$EXTERNAL_DB" ]; then say "PostgreSQL: using the existing server in DATABASE_URL"; return; fi
  pg_paths
  local bin; bin=$(pg_bin)
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "PostgreSQL: creating a cluster in $PG_DATA"
    as_pg mkdir -p "$PG_DATA" "$PG_SOCK"
    local pw=$PG_ROOT/.pw
    as_pg sh -c "umask 077; echo $PG_USER > '$pw'"
    as_pg "$bin/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pw" -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$STATE/logs/initdb.log" 2>&1 \
      || die "PostgreSQL initdb failed; see $STATE/logs/initdb.log"
    as_pg rm -f "$pw"
  fi
  as_pg mkdir -p "$PG_SOCK"
  if pg_running; then
    say "PostgreSQL: already running (port $PG_PORT)"
  else
    say "PostgreSQL: starting on 127.0.0.1:$PG_PORT"
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_SOCK -c max_connections=200" \
      >/dev/null || die "PostgreSQL did not start; see $PG_LOG"
  fi
  if ! as_pg "$bin/psql" -h "$PG_SOCK" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
    as_pg "$bin/createdb" -h "$PG_SOCK" -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
  fi
}

pg_down() {
  [ -n "$EXTERNAL_DB" ] && return
  pg_paths
  if pg_running; then
    say "PostgreSQL: stopping"
    as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  fi
}

# ---------------------------------------------------------------------- Kafka
jars() {
  local stamp=$KAFKA_LIB/.pom.sha
  local want; want=$(sha1sum "$ROOT/deploy/local/pom.xml" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  command -v mvn >/dev/null || die "Maven is needed to fetch the Kafka broker (apt-get install maven)"
  command -v java >/dev/null || die "Java 17 is needed to run the Kafka broker (apt-get install openjdk-17-jre-headless)"
  say "Kafka: resolving the broker's jars from Maven Central"
  rm -rf "$KAFKA_LIB" && mkdir -p "$KAFKA_LIB"
  mvn -q -B -f "$ROOT/deploy/local/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIB" -DincludeScope=runtime >"$STATE/logs/maven.log" 2>&1 \
    || die "Maven could not resolve the Kafka jars; see $STATE/logs/maven.log"
  echo "$want" >"$stamp"
}

kafka_running() { [ -f "$KAFKA_PID" ] && kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null; }

kafka_properties() {
  cat <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
min.insync.replicas=1
PROPS
}

kafka_up() {
  jars
  mkdir -p "$KAFKA_DIR/data"
  kafka_properties >"$KAFKA_DIR/server.properties"
  local cp="$KAFKA_LIB/*"
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    say "Kafka: formatting storage in $KAFKA_DIR/data"
    java -cp "$cp" -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.properties" \
      kafka.tools.StorageTool format -t "$(cat /proc/sys/kernel/random/uuid | tr -d -)" \
      -c "$KAFKA_DIR/server.properties" >"$STATE/logs/kafka-format.log" 2>&1 \
      || die "Kafka storage format failed; see $STATE/logs/kafka-format.log"
  fi
  if kafka_running; then
    say "Kafka: already running (port $KAFKA_PORT, pid $(cat "$KAFKA_PID"))"
    return
  fi
  say "Kafka: starting on 127.0.0.1:$KAFKA_PORT (heap $KAFKA_HEAP)"
  nohup java -Xms128m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Xss512k \
    -XX:MaxMetaspaceSize=128m -XX:ReservedCodeCacheSize=64m -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.properties" \
    -cp "$cp" kafka.Kafka "$KAFKA_DIR/server.properties" >>"$KAFKA_LOG" 2>&1 </dev/null &
  echo $! >"$KAFKA_PID"
}

# Until the broker listens; fails (with the log's last lines) if it exited meanwhile.
kafka_listening() {
  local pid; pid=$(cat "$KAFKA_PID")
  for _ in $(seq 1 120); do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "Kafka: exited while starting; the end of $KAFKA_LOG:"
      tail -n 20 "$KAFKA_LOG" >&2
      return 1
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null && return 0
    sleep 0.5
  done
  say "Kafka: not listening on $KAFKA_PORT after 60 s"
  return 1
}

kafka_down() {
  kafka_running || { rm -f "$KAFKA_PID"; return; }
  local pid; pid=$(cat "$KAFKA_PID")
  say "Kafka: stopping (pid $pid)"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then say "Kafka: did not stop in 30 s, killing"; kill -9 "$pid"; fi
  rm -f "$KAFKA_PID"
}

# ------------------------------------------------------------------- commands
wait_ready() {
  [ -x "$PY" ] || die "no virtualenv at $PY: run make"
  pg_paths
  LAPOR_HUB_KAFKA_LOG="$KAFKA_LOG" LAPOR_HUB_PG_LOG="${PG_LOG:-external}" \
    "$PY" -m lapor_hub.cli stack wait --timeout "$READY_TIMEOUT"
}

status() {
  if kafka_running; then
    local pid; pid=$(cat "$KAFKA_PID")
    say "Kafka:      up   127.0.0.1:$KAFKA_PORT  pid $pid  rss $(($(awk '/VmRSS/{print $2}' /proc/"$pid"/status) / 1024)) MiB  log $KAFKA_LOG"
  else
    say "Kafka:      down                          log $KAFKA_LOG"
  fi
  if [ -n "$EXTERNAL_DB" ]; then say "PostgreSQL: external (DATABASE_URL)"; return; fi
  pg_paths
  if pg_running; then
    say "PostgreSQL: up   127.0.0.1:$PG_PORT  pid $(as_pg head -n1 "$PG_DATA/postmaster.pid")  data $PG_DATA  log $PG_LOG"
  else
    say "PostgreSQL: down                          data $PG_DATA  log $PG_LOG"
  fi
}

mkdir -p "$STATE/logs"
case "${1:-}" in
  up) pg_up; kafka_up; wait_ready ;;
  down) kafka_down; pg_down ;;
  status) status ;;
  jars) jars ;;
  kafka-up)  # alone (a restart after an outage): until it listens, three tries
    for attempt in 1 2 3; do
      kafka_up && kafka_listening && break
      [ "$attempt" = 3 ] && die "Kafka did not start; see $KAFKA_LOG"
      kafka_down
    done ;;
  kafka-down) kafka_down ;;
  pg-up) pg_up ;;
  pg-down) pg_down ;;
  wait) wait_ready ;;
  logs)
    pg_paths
    case "${2:-all}" in
      kafka) tail -n 200 -F "$KAFKA_LOG" ;;
      postgres) as_pg tail -n 200 -F "$PG_LOG" ;;
      *) tail -n 50 -F "$KAFKA_LOG" "$PG_LOG" ;;
    esac ;;
  *) echo "usage: $0 up|down|status|logs [kafka|postgres]|jars|wait" >&2; exit 2 ;;
esac
