#!/bin/bash
# Lambda Web Adapter entry point (handler "run.sh", AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap):
# the adapter forwards each invocation to this server on AWS_LWA_PORT and, with
# AWS_LWA_INVOKE_MODE=response_stream, streams the response back as it is written.
# Dependencies packaged in the asset root (requirements.txt, boto3 included) come before the runtime's.
set -euo pipefail
cd "$(dirname "$0")"
export PYTHONPATH="${LAMBDA_TASK_ROOT:-.}:${LAMBDA_RUNTIME_DIR:-}:${PYTHONPATH:-}"
# serve.py: uvicorn serving app:app on AWS_LWA_PORT, started with the garbage collector paused.
exec python serve.py
