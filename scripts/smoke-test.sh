#!/usr/bin/env bash
# Post-deployment smoke test (the pipeline runs it against PreProd; run it by hand against any
# environment): one async inference to Completed, then one token stream to its done event.
#   scripts/smoke-test.sh https://<id>.execute-api.<region>.amazonaws.com/api/
# Both endpoints may be at zero instances: the async request waits for scale-out, and the stream
# is retried while the streaming endpoint answers 503 (no capacity yet).
set -euo pipefail
api_url="${1:?usage: scripts/smoke-test.sh <api url>}"
timeout_seconds="${SMOKE_TEST_TIMEOUT_SECONDS:-3600}"
cd "$(dirname "$0")/.."

echo "async: submit and wait (up to ${timeout_seconds}s)"
.venv/bin/llm-infer --api-url "$api_url" submit --inputs "Say hello in five words." \
  --parameters '{"max_new_tokens": 32}' --wait --timeout "$timeout_seconds"

echo "stream: generate until done"
deadline=$((SECONDS + timeout_seconds))
until .venv/bin/llm-infer --api-url "$api_url" stream --inputs "Count from one to five." \
  --parameters '{"max_new_tokens": 32}'; do
  if (( SECONDS >= deadline )); then
    echo "stream: no successful stream within ${timeout_seconds}s" >&2
    exit 1
  fi
  echo "stream: not ready yet, retrying in 30s" >&2
  sleep 30
done
