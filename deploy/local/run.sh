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

for service in intake router notifier sync; do
  .venv/bin/python -m "services.$service" > >(sed -u "s/^/[$service] /" | tee -a "$STATE/logs/$service.log") 2>&1 &
  pids+=($!)
  echo "[run] $service started (pid $!, log $STATE/logs/$service.log)"
done
echo "[run] lapor-hub is running; Ctrl-C stops everything"
wait -n "${pids[@]}"
echo "[run] a service exited; stopping the rest"
stop
