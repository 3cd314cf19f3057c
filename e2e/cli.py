"""`python scripts/e2e_kind.py` / `python -m e2e`: the command line's edge (arguments, environment, clock)."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

from devloop.process import port_free
from e2e.config import HOST_PORT_KEYS, E2eConfig, stack_name
from e2e.plan import E2eRun
from e2e.preflight import read_text
from e2e.runner import SubprocessRunner
from e2e.smoke import Retry
from e2e.steps import Echo, run_steps
from infra.schema import REPO_ROOT, schema_defaults
from stacks.backend import PASSPHRASE_VAR, Backend
from stacks.workspace import AutomationWorkspace

LOG_ROOT = REPO_ROOT / ".state" / "e2e"
HTTP_TIMEOUT = 10.0
# Extra environment of every Pulumi command of the run (the backend and passphrase come from Backend).
PULUMI_ENV = {"PULUMI_SKIP_UPDATE_CHECK": "true"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python scripts/e2e_kind.py",
        description="Bring up a throwaway kind stack with Pulumi, smoke-check it, tear it down.",
    )
    parser.add_argument("--smoke-timeout", type=float, default=300.0, help="seconds each smoke check retries")
    return parser


def _passphrase(environ: Mapping[str, str], echo: Echo) -> str:
    value = environ.get(PASSPHRASE_VAR, "")
    if value:
        return value
    echo(
        f"{PASSPHRASE_VAR} is not set: generated a random one for this run's throwaway state "
        "(not printed; set the variable to choose it)"
    )
    return secrets.token_urlsafe(32)


def build_config(
    stack: str, run_dir: Path, backend_dir: Path, passphrase: str, args: argparse.Namespace
) -> E2eConfig:
    """The run's config; model name and host ports are the Pulumi.yaml defaults the stack deploys with."""
    defaults = schema_defaults()
    return E2eConfig(
        stack=stack,
        repo_root=REPO_ROOT,
        run_dir=run_dir,
        backend=Backend(url=backend_dir.as_uri(), passphrase=passphrase),
        model_name=defaults["modelName"],
        host_ports=tuple(int(defaults[key]) for key in HOST_PORT_KEYS),
        smoke_timeout=args.smoke_timeout,
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the end-to-end test; 0 when every step and the teardown passed."""
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    stack = stack_name(datetime.now(UTC))
    run_dir = LOG_ROOT / stack
    run_dir.mkdir(parents=True, exist_ok=True)
    # A private file backend: the run never touches the user's `pulumi login` or other stacks.
    backend_dir = Path(tempfile.mkdtemp(prefix="mlops-e2e-pulumi-"))
    with (
        (run_dir / "e2e.log").open("a", encoding="utf-8") as log,
        httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False) as http,
    ):

        def echo(line: str) -> None:
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()

        echo(f"e2e stack {stack}: logs in {run_dir}, Pulumi state in {backend_dir}")
        cfg = build_config(stack, run_dir, backend_dir, _passphrase(environ, echo), args)
        run = E2eRun(
            cfg=cfg,
            # Opened by the stack-init step, after the preflight named the fix for a missing Pulumi CLI.
            open_workspace=lambda: AutomationWorkspace(cfg.backend, work_dir=cfg.repo_root, env=PULUMI_ENV),
            runner=SubprocessRunner(run_dir, REPO_ROOT, environ),
            http=http,
            echo=echo,
            read=read_text,
            is_free=port_free,
            retry=Retry(timeout=cfg.smoke_timeout, interval=cfg.poll_interval),
        )
        report = run_steps(run.steps(), run.teardown(), echo)
        for line in report.summary():
            echo(line)
        if report.failed_teardown:
            echo(f"Pulumi state kept in {backend_dir} (same {PASSPHRASE_VAR}) for manual cleanup")
        else:
            # The stack was removed: the backend holds only empty history.
            shutil.rmtree(backend_dir, ignore_errors=True)
    return report.exit_code
