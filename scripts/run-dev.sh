#!/usr/bin/env bash
# Starts the web server, a Celery worker and beat together; one Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p var/log
# The demo business's country (manage.py demo_data): national numbers typed anywhere are read as its numbers.
export PHONE_DEFAULT_REGION="${PHONE_DEFAULT_REGION:-DE}"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping..."
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

$PY -m celery -A retarget worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 &
pids+=($!)
$PY -m celery -A retarget beat --loglevel=INFO >var/log/beat.log 2>&1 &
pids+=($!)
$PY manage.py runserver 127.0.0.1:8000 --noreload &
pids+=($!)
# The WhatsApp sandbox stands in for Meta's Cloud API: sends go to it, its signed webhooks come back here.
# With the demo's templates (written by manage.py demo_data), among them one whose link points at this installation.
sandbox_config=()
[ -f var/demo-sandbox.json ] && sandbox_config=(--config @var/demo-sandbox.json)
$PY manage.py whatsapp_sandbox --port 8765 --webhook-url http://127.0.0.1:8000/webhooks/whatsapp "${sandbox_config[@]}" >var/log/sandbox.log 2>&1 &
pids+=($!)
$PY - <<'WAIT'
import time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:8765/_sandbox/health", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
WAIT
$PY manage.py sync_templates || echo "Template sync failed: see var/log/sandbox.log"

echo "Retarget is running at http://127.0.0.1:8000/admin/  (API docs: http://127.0.0.1:8000/api/docs/)"
echo "Worker, beat and WhatsApp sandbox logs: var/log/. Press Ctrl-C to stop everything."
wait -n "${pids[@]}"
