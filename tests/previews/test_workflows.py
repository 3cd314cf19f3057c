"""The preview GitHub workflows: valid YAML, the right triggers, and `python -m previews` calls the parser accepts.

No GitHub runner is involved: the files are parsed, and every `python -m previews ...` line is fed (with
`${{ }}` expressions replaced by a sample value) to the CLI's real argparse parser. No Pulumi workspace is
needed, so no test double is used here.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.schema import REPO_ROOT
from previews.access import RUNNER_CONTEXT, RUNNER_NAME, RUNNER_NAMESPACE
from previews.cli import build_parser
from previews.naming import preview_name
from stacks.backend import stack_passphrase

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
INVOCATION = re.compile(r"python -m previews (?P<args>.+)$")
EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")


def _load(name: str) -> dict[str, Any]:
    raw: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as True.
    return {("on" if key is True else str(key)): value for key, value in raw.items()}


def _parse(line: str) -> argparse.Namespace:
    match = INVOCATION.search(line)
    assert match, line
    return build_parser().parse_args(shlex.split(EXPRESSION.sub("42", match.group("args"))))


def _invocations(workflow: dict[str, Any]) -> dict[str, list[argparse.Namespace]]:
    """Job -> the parsed arguments of each `python -m previews` call in it."""
    parser = build_parser()
    found: dict[str, list[argparse.Namespace]] = {}
    for job_name, job in workflow["jobs"].items():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                match = INVOCATION.search(line)
                if match:
                    argv = shlex.split(EXPRESSION.sub("42", match.group("args")))
                    found.setdefault(job_name, []).append(parser.parse_args(argv))
    return found


def _uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"] for step in job["steps"] if "uses" in step]


@pytest.mark.parametrize("name", ["preview.yml", "preview-gc.yml"])
def test_workflows_run_on_the_dev_runner_with_the_pinned_toolchain(name: str) -> None:
    workflow = _load(name)
    # The passphrase is an environment secret, handed only to jobs of an environment (never workflow-wide).
    assert "PULUMI_CONFIG_PASSPHRASE" not in workflow["env"]
    assert workflow["env"]["PULUMI_BACKEND_URL"].startswith("file://")
    assert workflow["concurrency"]["cancel-in-progress"] is False
    for job in workflow["jobs"].values():
        assert job["runs-on"] == ["self-hosted", "mlops-dev"]
        assert job["environment"] in ("preview", "preview-teardown")
        uses = _uses(job)
        assert any(u.startswith("actions/checkout@") for u in uses)
        assert any(u.startswith("astral-sh/setup-uv@") for u in uses)
        pulumi_step = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
        assert re.fullmatch(r"\d+\.\d+\.\d+", str(pulumi_step["with"]["pulumi-version"]))
        runs = [s["run"] for s in job["steps"] if "run" in s]
        assert "uv sync --frozen --all-extras" in runs
        tool = [r for r in runs if "uv run python -m previews " in r]
        assert tool
        # As the namespace-scoped runner identity (previews/access.py), never the runner's admin context.
        for run in tool:
            assert run.startswith('KUBECONFIG="$HOME/.mlops-previews/kubeconfig" uv run python -m previews ')
            args = _parse(run)
            if args.command in ("create", "gc"):
                assert args.context == RUNNER_CONTEXT
            if args.command == "create":
                assert f"deployerServiceAccount={RUNNER_NAMESPACE}/{RUNNER_NAME}" in args.set


def test_pull_requests_create_on_open_and_push_and_destroy_on_close() -> None:
    workflow = _load("preview.yml")
    assert set(workflow["on"]["pull_request_target"]["types"]) == {
        "opened",
        "synchronize",
        "reopened",
        "closed",
    }
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    calls = _invocations(workflow)
    assert [args.command for args in calls["create"]] == ["create"]
    assert [args.command for args in calls["destroy"]] == ["destroy"]
    assert calls["create"][0].ref == calls["destroy"][0].name == "42"  # the same PR names both
    assert "!= 'closed'" in workflow["jobs"]["create"]["if"]
    assert "== 'closed'" in workflow["jobs"]["destroy"]["if"]


def test_gc_runs_nightly_and_on_demand() -> None:
    workflow = _load("preview-gc.yml")
    assert workflow["on"]["schedule"][0]["cron"]
    assert "workflow_dispatch" in workflow["on"]
    assert [args.command for args in _invocations(workflow)["gc"]] == ["gc"]


def test_every_subcommand_the_workflows_use_exists() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    used = {
        args.command
        for name in ("preview.yml", "preview-gc.yml")
        for calls in _invocations(_load(name)).values()
        for args in calls
    }
    assert used == {"create", "destroy", "gc"}
    assert used <= set(subparsers.choices)


ALL_WORKFLOWS = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"^\s*(?:- )?uses: (?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # v\d+\.\d+\.\d+$")


@pytest.mark.parametrize("name", ALL_WORKFLOWS)
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version(name: str) -> None:
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if re.search(r"\buses:", line)]
    assert lines
    for line in lines:
        assert PINNED.match(line), f"{name}: {line.strip()} is not pinned to a commit SHA (# vX.Y.Z)"


def test_one_version_of_each_action_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for name in ALL_WORKFLOWS:
        for line in (WORKFLOWS / name).read_text().splitlines():
            match = PINNED.match(line)
            if match:
                pins.setdefault(match["action"], set()).add(match["sha"])
    assert pins and all(len(shas) == 1 for shas in pins.values()), pins


def test_pull_request_code_runs_only_after_approval_and_teardown_runs_only_base_code() -> None:
    workflow = _load("preview.yml")
    assert "pull_request" not in workflow["on"]  # the workflow file itself comes from the base branch
    create, destroy = workflow["jobs"]["create"], workflow["jobs"]["destroy"]
    assert create["environment"] == "preview"  # required reviewers (docs/security.md)
    assert "head.repo.full_name == github.repository" in create["if"]  # never a fork
    checkout = next(s for s in create["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {
        "ref": "${{ github.event.pull_request.head.sha }}",
        "persist-credentials": False,
    }
    assert destroy["environment"] == "preview-teardown"
    checkout = next(s for s in destroy["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    gc = _load("preview-gc.yml")["jobs"]["gc"]
    assert gc["environment"] == "preview-teardown"
    assert (
        "ref" not in next(s for s in gc["steps"] if s.get("uses", "").startswith("actions/checkout@"))["with"]
    )


def _secrets_by_step(job: dict[str, Any]) -> list[set[str]]:
    """The `secrets.*` each step can read: its own env, plus the job's env, which every step gets."""
    job_secrets = set(re.findall(r"secrets\.(\w+)", str(job.get("env", {}))))
    return [
        job_secrets | set(re.findall(r"secrets\.(\w+)", str(step.get("env", {})))) for step in job["steps"]
    ]


def test_the_job_running_pull_request_code_never_holds_the_passphrase_key() -> None:
    create = _load("preview.yml")["jobs"]["create"]
    steps, readable = create["steps"], _secrets_by_step(create)
    holders = [i for i, names in enumerate(readable) if "PREVIEW_PASSPHRASE_KEY" in names]
    checkout = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/checkout@"))
    # Only the derivation step, before the pull request's code is even checked out; no secret after it.
    assert holders == [0] and holders[0] < checkout
    assert all(not names for names in readable[1:])
    assert "secrets.PULUMI_CONFIG_PASSPHRASE" not in str(create)  # no shared passphrase any more
    for name, job in [("destroy", _load("preview.yml")["jobs"]["destroy"]),
                      ("gc", _load("preview-gc.yml")["jobs"]["gc"])]:  # fmt: skip
        assert job["env"]["MLOPS_PREVIEW_PASSPHRASE_KEY"] == "${{ secrets.PREVIEW_PASSPHRASE_KEY }}", name


def test_the_workflow_derives_the_same_passphrase_as_the_tool(tmp_path: Path) -> None:
    """Runs the derivation step's own script (as the runner would) for PR 42, against stacks.backend."""
    step = _load("preview.yml")["jobs"]["create"]["steps"][0]
    stack = EXPRESSION.sub("42", step["env"]["STACK"])
    assert stack == preview_name("42").stack
    script = step["run"].split("<<'PY'\n", 1)[1].rsplit("PY", 1)[0]
    github_env = tmp_path / "github_env"
    env = {"PATH": os.environ["PATH"], "PREVIEW_PASSPHRASE_KEY": "k" * 32, "STACK": stack}
    result = subprocess.run(
        [sys.executable, "-I", "-c", script],
        env={**env, "GITHUB_ENV": str(github_env)},
        capture_output=True,
        text=True,
        check=True,
    )
    expected = stack_passphrase("k" * 32, stack)
    assert github_env.read_text() == f"PULUMI_CONFIG_PASSPHRASE={expected}\n"
    assert result.stdout == f"::add-mask::{expected}\n"  # masked in the job's log
    empty = subprocess.run(
        [sys.executable, "-I", "-c", script],
        env={**env, "PREVIEW_PASSPHRASE_KEY": "", "GITHUB_ENV": str(github_env)},
        capture_output=True,
        text=True,
    )
    assert empty.returncode != 0 and "PREVIEW_PASSPHRASE_KEY is empty" in empty.stderr
