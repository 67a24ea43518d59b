#!/usr/bin/env bash
# Bootstraps the tooling account and every account the pipeline deploys to: each workload account
# trusts the tooling account (config/pipeline.yaml) to deploy into it.
#
#   scripts/bootstrap-accounts.sh --tooling-profile tooling \
#       --profile Dev=dev --profile PreProd=preprod --profile Prod=prod [--dry-run] [--config-dir DIR]
#
# The targets are the tooling account and the account and region of every environment in the
# pipeline's waves (config/pipeline.yaml and each environment's file); give one AWS CLI profile per
# environment with `--profile STAGE=PROFILE`. Environments that share an account and region are
# bootstrapped once. --dry-run prints the commands instead of running them. The CloudFormation
# execution policy defaults to CDK's AdministratorAccess; set CFN_EXECUTION_POLICY to a narrower
# managed policy ARN of yours. Sandboxes are bootstrapped with `make bootstrap`.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=false
tooling_profile=""
config_dir="config"
declare -A profile=()
while (( $# )); do
  case "$1" in
    --tooling-profile)
      [[ $# -ge 2 ]] || { echo "error: $1 needs a profile name" >&2; exit 2; }
      tooling_profile="$2"; shift 2 ;;
    --profile)
      [[ $# -ge 2 && "$2" == *=* ]] || { echo "error: --profile needs STAGE=PROFILE, such as --profile Dev=dev" >&2; exit 2; }
      profile["${2%%=*}"]="${2#*=}"; shift 2 ;;
    --config-dir)
      [[ $# -ge 2 ]] || { echo "error: $1 needs a directory" >&2; exit 2; }
      config_dir="$2"; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    *) echo "error: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done

make --quiet .make/node >/dev/null
# "stage account region" per target, read through the same validated config model synth uses
targets="$(CONFIG_DIR="$config_dir" .venv/bin/python - <<'PY'
import os
import sys
from pathlib import Path
from stacks.config import ConfigError, load_environments, load_pipeline_config
config_dir = Path(os.environ["CONFIG_DIR"])
try:
    environments = load_environments(config_dir)
    pipeline = load_pipeline_config(config_dir, environments)
except ConfigError as err:
    sys.exit(f"error: {err}")
by_name = {config.stage_name: config for config in environments.values()}
print(f"tooling {pipeline.tooling.account} {pipeline.tooling.region}")
for wave in pipeline.waves:
    for name in wave.environments:
        print(f"{name} {by_name[name].account} {by_name[name].region}")
PY
)"

[[ -n "$tooling_profile" ]] || { echo "error: --tooling-profile is required" >&2; exit 2; }
missing=()
while read -r role _ _; do
  [[ "$role" == tooling || -n "${profile[$role]:-}" ]] || missing+=("--profile ${role}=PROFILE")
done <<<"$targets"
if (( ${#missing[@]} )); then
  echo "error: missing ${missing[*]} (one per environment in config/pipeline.yaml's waves)" >&2
  exit 2
fi
profile[tooling]="$tooling_profile"

policy="${CFN_EXECUTION_POLICY:-arn:aws:iam::aws:policy/AdministratorAccess}"
node_bin="$(.venv/bin/python -c 'from stacks.toolchain import pinned_node; print(pinned_node().parent)')"
tooling_account=""
declare -A done_targets=()

while read -r role account region; do
  [[ -z "${done_targets[$account/$region]:-}" ]] || continue
  done_targets[$account/$region]=1
  command=(node_modules/.bin/cdk bootstrap "aws://${account}/${region}" --profile "${profile[$role]}"
           --cloudformation-execution-policies "$policy")
  if [[ "$role" == tooling ]]; then
    tooling_account="$account"
  else
    command+=(--trust "$tooling_account" --trust-for-lookup "$tooling_account")
  fi
  if $dry_run; then
    echo "${command[*]}"
  else
    echo "bootstrapping ${role}: aws://${account}/${region}"
    PATH="$node_bin:$PATH" "${command[@]}"
  fi
done <<<"$targets"
