# mlops-platform: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV_RUN := uv run --frozen

.PHONY: help setup test test-fast lint format dev render bench up destroy

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

setup: ## Install everything: Python env (uv, locked), system packages (apt, as root), checkov
	scripts/setup.sh all

test: setup ## Set up, then run the whole test suite (unit + integration)
	$(UV_RUN) pytest

test-fast: ## Run only the tests that start no external process
	$(UV_RUN) pytest -m "not integration and not docker"

lint: ## ruff (lint + format check) and mypy
	$(UV_RUN) ruff check .
	$(UV_RUN) ruff format --check .
	$(UV_RUN) mypy mlops_contract devloop training services infra

format: ## Apply ruff formatting and autofixes
	$(UV_RUN) ruff format .
	$(UV_RUN) ruff check --fix .
