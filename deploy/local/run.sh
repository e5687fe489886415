#!/usr/bin/env bash
# `make run`: every lapor-hub service in the foreground against the local stack.
# Ctrl-C (or SIGTERM) stops the services, then the stack if this script started it.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
STATE=${LAPOR_HUB_STATE_DIR:-$ROOT/.local}
mkdir -p "$STATE/logs"

pids=()
stop() {
  trap - INT TERM EXIT
  echo "[run] stopping services"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  wait
  if [ "${LAPOR_HUB_KEEP_STACK:-0}" != 1 ]; then deploy/local/stack.sh down; fi
  exit 0
}
trap stop INT TERM EXIT

start() {  # start NAME MODULE: one process, its output prefixed and kept in .local/logs/NAME.log
  .venv/bin/python -m "$2" > >(sed -u "s/^/[$1] /" | tee -a "$STATE/logs/$1.log") 2>&1 &
  pids+=($!)
  echo "[run] $1 started (pid $!, log $STATE/logs/$1.log)"
}

# The operator console (in intake) lists and retries the notifier's dead deliveries with a
# notifier dead-letter operator's key: one for this run, unless one was given.
if [ -z "${LAPOR_HUB_CONSOLE_NOTIFIER_API_KEY:-}" ]; then
  LAPOR_HUB_CONSOLE_NOTIFIER_API_KEY=$(.venv/bin/lapor-hub notifier keys create "operator-console-$(date +%Y%m%d%H%M%S)" --role dead_letter_operator)
  export LAPOR_HUB_CONSOLE_NOTIFIER_API_KEY
fi

# National LAPOR's API is closed: locally the sync service talks to the simulator.
start national-simulator services.sync.simulator
# Agencies' alerts go to a local SMTP sink (mail kept in .local/mail/).
start mail-sink services.notifier.mail_sink
for service in intake router notifier sync; do start "$service" "services.$service"; done
# The demo feed (LAPOR_HUB_DEMO=0, or `make run DEMO=0`, runs the services alone); the live
# summary is printed either way.
feed=--feed
[ "${LAPOR_HUB_DEMO:-1}" = 0 ] && feed=--no-feed
.venv/bin/lapor-hub stack wait >/dev/null
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:${LAPOR_HUB_INTAKE_HTTP_PORT:-8080}/healthz" >/dev/null && break; sleep 0.5; done
.venv/bin/lapor-hub demo $feed --intake-url "http://127.0.0.1:${LAPOR_HUB_INTAKE_HTTP_PORT:-8080}" &
pids+=($!)
echo "[run] lapor-hub is running; Ctrl-C stops everything"
wait -n "${pids[@]}"
echo "[run] a service exited; stopping the rest"
stop
