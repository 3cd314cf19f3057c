#!/usr/bin/env bash
# Set up everything the platform and its tests need on a fresh Debian/Ubuntu machine with Python 3.11.
# Idempotent: each step checks before it installs. Usage: scripts/setup.sh [python|system|tools|monitoring|all]...
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never

step() { printf '\n==> %s\n' "$*"; }

python_deps() {
    if ! command -v uv >/dev/null 2>&1; then
        step "installing uv (pip --user)"
        python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
        export PATH="$HOME/.local/bin:$PATH"
    fi
    step "syncing the locked Python environment (.venv)"
    # --compile-bytecode: .pyc at install, as pip does. Otherwise each process's first start (MLflow,
    # training, serving, the tests' subprocesses) compiles its imports from source, and keeps doing so where
    # PYTHONDONTWRITEBYTECODE is set: a fresh clone's `make dev` was ready in 68 s instead of 22 s. Here and
    # not in pyproject's [tool.uv]: there every `uv run` would re-check all 13k files (~0.6 s each time).
    uv sync --frozen --all-extras --compile-bytecode
}

# Debian packages the integration tests run for real. Needs root (CI runs as root).
SYSTEM_PACKAGES=(prometheus prometheus-alertmanager docker.io debootstrap postgresql)

system_deps() {
    local missing=()
    command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
    command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    if [ ${#missing[@]} -eq 0 ]; then
        step "system packages present"
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing system packages: ${missing[*]} (run: sudo apt-get install ${SYSTEM_PACKAGES[*]})" >&2
        return 1
    fi
    step "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts nothing in containers, but on a real host the packages' own daemons would hold the
    # default ports; the tests start their own on free ports, so stop any that came up.
    for svc in prometheus prometheus-alertmanager postgresql; do
        (command -v systemctl >/dev/null && systemctl stop "$svc") >/dev/null 2>&1 || true
    done
}

# checkov pins old dependencies, so it gets a venv of its own.
CHECKOV_VENV=.state/tools/checkov
tools() {
    if [ -x "$CHECKOV_VENV/bin/checkov" ]; then
        step "checkov present"
        return
    fi
    step "installing checkov into $CHECKOV_VENV"
    python3 -m venv "$CHECKOV_VENV"
    "$CHECKOV_VENV/bin/pip" install --quiet "checkov>=3.2,<4"
}

# The local dev loop's optional monitoring (Prometheus + Alertmanager); never fatal: the loop runs without.
monitoring_deps() {
    if command -v prometheus >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "note: for metrics and alerts in the dev loop: sudo apt-get install prometheus prometheus-alertmanager"
        return
    fi
    step "installing Prometheus and Alertmanager"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        prometheus prometheus-alertmanager >/dev/null) || echo "note: could not install Prometheus; continuing"
    for svc in prometheus prometheus-alertmanager; do
        (command -v systemctl >/dev/null && systemctl stop "$svc") >/dev/null 2>&1 || true
    done
}

for target in "${@:-all}"; do
    case "$target" in
        python) python_deps ;;
        system) system_deps ;;
        tools) tools ;;
        monitoring) monitoring_deps ;;
        all) python_deps; system_deps; tools ;;
        *) echo "usage: $0 [python|system|tools|monitoring|all]..." >&2; exit 2 ;;
    esac
done
