# mlops-platform: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# uv on PATH, else the pinned copy scripts/setup.sh installs under .state/tools/uv: no target needs uv on PATH.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.state/tools/uv/bin/uv)
export UV
UV_RUN := $(UV) run --frozen

.PHONY: help setup test test-fast test-engine engine-tools lint format dev render bench up destroy e2e-kind

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

setup: ## Install everything: Python env (uv, locked), system packages (apt, as root), checkov
	scripts/setup.sh all

test: setup engine-tools ## Set up, then run the whole test suite (unit + integration + real-engine tier)
	$(UV_RUN) pytest -m "not engine"
	$(UV_RUN) pytest -m engine

test-engine: ## The real-engine tier only: pulumi preview/up/destroy against a simulated cluster (docs/engine-tier.md)
	$(UV_RUN) pytest -m engine

engine-tools: ## Build the Pulumi CLI, its kubernetes provider and a Kubernetes control plane from Go modules (cached)
	$(UV_RUN) python -m engine

test-fast: ## Run only the tests that start no external process
	$(UV_RUN) pytest -m "not integration and not docker and not engine"

lint: ## ruff (lint + format check) and mypy
	$(UV_RUN) ruff check .
	$(UV_RUN) ruff format --check .
	$(UV_RUN) mypy mlops_contract devloop training services infra monitoring previews e2e stacks engine ops

format: ## Apply ruff formatting and autofixes
	$(UV_RUN) ruff format .
	$(UV_RUN) ruff check --fix .

dev: ## Set up (Python env; Prometheus if root) and run the platform locally; ARGS=--check: exit once it answers; ARGS=--demo-drift: watch it adapt to drift
	scripts/setup.sh python monitoring
	$(UV_RUN) python -m devloop $(ARGS)

render: ## Print every Kubernetes object the dev stack would create (no cluster needed); STACK=dev
	$(UV_RUN) python -m infra.render --stack $(or $(STACK),dev)

bench: ## Serving benchmark against `mlflow models serve` (needs wrk); ARGS="--model random_forest"
	$(UV_RUN) python benchmarks/serving.py $(ARGS)

up: ## pulumi up on the dev stack (kind): needs docker, kind and the Pulumi CLI (see docs/infra.md)
	@command -v pulumi >/dev/null || { echo "the Pulumi CLI is not installed: https://www.pulumi.com/docs/install/"; exit 1; }
	scripts/setup.sh python
	pulumi up --stack $(or $(STACK),dev)

destroy: ## pulumi destroy on the dev stack (deletes the kind cluster too)
	@command -v pulumi >/dev/null || { echo "the Pulumi CLI is not installed: https://www.pulumi.com/docs/install/"; exit 1; }
	pulumi destroy --stack $(or $(STACK),dev)

e2e-kind: ## Full platform on a throwaway kind cluster: pulumi up, smoke checks, destroy, leftover check (docs/e2e-kind.md)
	$(UV_RUN) python scripts/e2e_kind.py $(ARGS)
