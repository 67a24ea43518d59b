#!/bin/bash
# Lambda Web Adapter entry point (handler "run.sh", AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap):
# the adapter forwards each invocation to this server on AWS_LWA_PORT and, with
# AWS_LWA_INVOKE_MODE=response_stream, streams the response back as it is written.
# Dependencies packaged in the asset root (requirements.txt, boto3 included) come before the runtime's.
set -euo pipefail
cd "$(dirname "$0")"
export PYTHONPATH="${LAMBDA_TASK_ROOT:-.}:${LAMBDA_RUNTIME_DIR:-}:${PYTHONPATH:-}"
# httptools: uvicorn's C parser, named so that a bundle without it fails here instead of falling back to h11.
exec python -m uvicorn app:app --host 0.0.0.0 --port "${AWS_LWA_PORT:-8080}" --no-access-log --http httptools
