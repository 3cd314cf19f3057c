"""`python -m previews`: create, destroy, list and garbage-collect preview stacks; bootstrap their identity.

Exit codes: 0 done; 1 a Pulumi operation failed or the preview left objects behind; 2 bad input (a name,
TTL or environment variable). Expected errors print one `error:` line, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from infra.schema import schema_defaults
from previews.access import RUNNER_CONTEXT, RUNNER_NAME, RUNNER_NAMESPACE, apply_bootstrap, runner_kubeconfig
from previews.expiry import ExpiryError, expires_at, humanize, parse_expires_at, parse_ttl, select_expired
from previews.naming import (
    NAMESPACE_PREFIX,
    STACK_PREFIX,
    NamingError,
    PreviewName,
    from_stack,
    is_preview_stack,
    preview_name,
)
from previews.orphans import delete_namespace, preview_namespaces, select_orphans
from previews.preview_config import PreviewTarget, key, preview_config
from stacks.backend import BackendError, backend_from_env
from stacks.leftovers import (
    KubeApi,
    Leftover,
    LeftoverCheckError,
    api_client_for,
    core_api,
    find_leftovers,
    wait_for_cleanup,
)
from stacks.workspace import AutomationWorkspace, StackInfo, Workspace, WorkspaceError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_TTL = "72h"
DEFAULT_LEFTOVER_WAIT = 60.0
DELETE_UNREACHABLE_VAR = "PULUMI_K8S_DELETE_UNREACHABLE"
# pulumi-kubernetes: "configured Kubernetes cluster is unreachable: ..." (and its hint names the variable).
_UNREACHABLE = re.compile(r"unreachable", re.IGNORECASE)


@dataclass(frozen=True)
class Deps:
    """Everything the commands touch outside this process; tests pass doubles."""

    open_workspace: Callable[[], Workspace]
    """Opens the Pulumi workspace (lazily: bad input fails before Pulumi is needed)."""
    kube_api: Callable[[str | None], KubeApi]
    """A Kubernetes API client for a kubeconfig context."""
    now: Callable[[], datetime]
    """Wall-clock time, UTC (expiry)."""
    clock: Callable[[], float] = time.monotonic
    """Monotonic seconds (elapsed-time progress and waits)."""
    sleep: Callable[[float], None] = time.sleep
    """Pause between leftover checks."""
    environ: Mapping[str, str] = field(default_factory=dict)
    """Where `--secret KEY=VAR` values come from."""
    api_client: Callable[[str | None], Any] = api_client_for
    """A kubernetes ApiClient for a kubeconfig context (`bootstrap`, as the cluster admin)."""


class Progress:
    """Prints steps prefixed with the seconds since the command started."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.start = clock()

    def step(self, message: str) -> None:
        """One progress line on stdout."""
        print(f"[{self.clock() - self.start:7.1f}s] {message}", flush=True)


def _echo(line: str) -> None:
    """Pulumi's own output, passed through as it arrives."""
    print(line, flush=True)


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def _default_context(cluster_name: str) -> str:
    """kind names a cluster's kubeconfig context kind-<name>."""
    return f"kind-{cluster_name}"


# --- create ------------------------------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace, deps: Deps) -> int:
    """Create or update the preview of a branch or pull request."""
    name = preview_name(args.ref)
    ttl = parse_ttl(args.ttl)
    target = PreviewTarget(
        cluster_name=args.cluster_name, kube_context=args.context or _default_context(args.cluster_name)
    )
    stamp = expires_at(deps.now(), ttl)
    config = preview_config(name, target, stamp)
    extra = extra_config(args.set, config)
    secrets = secret_config(args.secret, config, deps.environ)
    progress = Progress(deps.clock)
    workspace = deps.open_workspace()
    progress.step(f"stack {name.stack}: namespace {name.namespace} on context {target.kube_context}")
    try:
        if workspace.discard_stale_stack_file(name.stack):
            progress.step(
                f"removed Pulumi.{name.stack}.yaml: the backend has no stack {name.stack} (its state is "
                "gone), and the file's encryption salt would not match this stack's passphrase"
            )
        workspace.select_or_create(name.stack)
        workspace.set_config(name.stack, {**config, **extra})
        if secrets:
            workspace.set_secret_config(name.stack, secrets)
        progress.step(f"pulumi up {name.stack} (expires {stamp})")
        workspace.up(name.stack, _echo)
    except WorkspaceError as err:
        progress.step(f"create failed; `python -m previews destroy {name.stack}` removes what was created")
        _error(str(err))
        return EXIT_FAILED
    progress.step(
        f"ready: {name.stack} in namespace {name.namespace}; reach it with "
        f"`kubectl --context {target.kube_context} -n {name.namespace} port-forward svc/serving 8000`"
    )
    return EXIT_OK


class ExtraConfigError(ValueError):
    """A --set/--secret option names no config key, a key the tool sets itself, or an unset variable."""


def _extra_key(name: str, tool_keys: Mapping[str, str]) -> str:
    if name not in schema_defaults():
        raise ExtraConfigError(f"{name}: not a config key of Pulumi.yaml (see `config:` there)")
    if key(name) in tool_keys:
        raise ExtraConfigError(f"{name}: set by the preview tool itself; it cannot be overridden")
    return key(name)


def _pairs(options: list[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or not name:
            raise ExtraConfigError(
                f"{what} {option!r}: expected KEY={'VAR' if what == '--secret' else 'VALUE'}"
            )
        pairs.append((name, value))
    return pairs


def extra_config(options: list[str], tool_keys: Mapping[str, str]) -> dict[str, str]:
    """--set KEY=VALUE: further plain config (e.g. prebuilt images by digest), fully qualified."""
    return {_extra_key(name, tool_keys): value for name, value in _pairs(options, "--set")}


def secret_config(
    options: list[str], tool_keys: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, str]:
    """--secret KEY=VAR: a secret config value taken from environment variable VAR (never argv)."""
    values = {}
    for name, var in _pairs(options, "--secret"):
        if not environ.get(var):
            raise ExtraConfigError(f"--secret {name}={var}: environment variable {var} is not set (or empty)")
        values[_extra_key(name, tool_keys)] = environ[var]
    return values


# --- destroy -----------------------------------------------------------------------------------------------


def _resolve(ref: str, stacks: Mapping[str, StackInfo]) -> PreviewName:
    """A stack name as listed, else the branch/PR it was created from, else a stack name that is gone."""
    if ref in stacks:
        return from_stack(ref)
    mapped = preview_name(ref)
    if mapped.stack in stacks or not is_preview_stack(ref):
        return mapped
    return from_stack(ref)


def _report_leftovers(left: list[Leftover], name: PreviewName, context: str) -> None:
    _error(f"{name.stack} was destroyed but {len(left)} object(s) are still in the cluster:")
    for item in left:
        print(f"  - {item}", file=sys.stderr)
    print(
        f"  clean up by hand: kubectl --context {context} delete namespace {name.namespace}; "
        "then delete the PersistentVolumes listed (see docs/previews.md)",
        file=sys.stderr,
        flush=True,
    )


def destroy_preview(
    workspace: Workspace,
    name: PreviewName,
    info: StackInfo | None,
    context: str,
    wait: float,
    deps: Deps,
    progress: Progress,
) -> int:
    """Destroy one preview, remove its stack, and verify the cluster holds nothing of it."""
    namespace = name.namespace
    unreachable = False
    if info is None:
        progress.step(f"no stack {name.stack}; checking the cluster for anything left of it")
    else:
        namespace = info.config.get(key("namespace"), namespace)
        progress.step(f"pulumi destroy {name.stack}")
        try:
            try:
                workspace.destroy(name.stack, _echo, {})
            except WorkspaceError as err:
                if not _UNREACHABLE.search(f"{err}\n{err.details}"):
                    raise
                unreachable = True
                # The dev cluster was deleted before the preview: nothing can be deleted in it, so let the
                # provider drop its objects from the state instead of failing forever.
                progress.step(
                    f"cluster unreachable (deleted?): retrying with {DELETE_UNREACHABLE_VAR}=true, "
                    "which removes its objects from the state without deleting them"
                )
                workspace.destroy(name.stack, _echo, {DELETE_UNREACHABLE_VAR: "true"})
            progress.step(f"pulumi stack rm {name.stack}")
            workspace.remove(name.stack)
        except WorkspaceError as err:
            _error(f"destroying {name.stack} failed: {err}")
            return EXIT_FAILED
    progress.step(f"checking context {context} for objects of {name.stack} (up to {wait:.0f}s)")
    try:
        api = deps.kube_api(context)
        left = wait_for_cleanup(
            lambda: find_leftovers(api, name.stack, namespace),
            timeout=wait,
            sleep=deps.sleep,
            clock=deps.clock,
        )
    except LeftoverCheckError as err:
        if unreachable:
            progress.step(
                f"cannot check the cluster ({err}); if it was deleted nothing is left, otherwise check by "
                f"hand once it is back: kubectl --context {context} get namespace {namespace}"
            )
            return EXIT_OK
        _error(f"{name.stack}: could not verify that nothing is left behind: {err}")
        return EXIT_FAILED
    if left:
        _report_leftovers(left, name, context)
        return EXIT_FAILED
    progress.step(f"destroyed {name.stack}: nothing left in the cluster")
    return EXIT_OK


def cmd_destroy(args: argparse.Namespace, deps: Deps) -> int:
    """Destroy a preview by stack name, branch or pull request."""
    progress = Progress(deps.clock)
    workspace = deps.open_workspace()
    stacks = {s.name: s for s in workspace.list_stacks(STACK_PREFIX)}
    name = _resolve(args.name, stacks)
    info = stacks.get(name.stack)
    context = (
        args.context
        or (info.config.get(key("kubeContext")) if info else None)
        or _default_context(args.cluster_name)
    )
    return destroy_preview(workspace, name, info, context, args.wait_leftovers, deps, progress)


# --- list --------------------------------------------------------------------------------------------------


def _previews(workspace: Workspace) -> list[StackInfo]:
    return sorted(
        (s for s in workspace.list_stacks(STACK_PREFIX) if is_preview_stack(s.name)), key=lambda s: s.name
    )


def _expiry_text(raw: str | None, now: datetime) -> str:
    if not raw:
        return "-"
    try:
        moment = parse_expires_at(raw)
    except ExpiryError:
        return f"invalid ({raw})"
    if moment <= now:
        return f"expired {humanize(now - moment)} ago ({raw})"
    return f"in {humanize(moment - now)} ({raw})"


def cmd_list(args: argparse.Namespace, deps: Deps) -> int:  # noqa: ARG001 - every command takes its args
    """Table of preview stacks: namespace, time since the last update, expiry."""
    now = deps.now()
    stacks = _previews(deps.open_workspace())
    if not stacks:
        print("no preview stacks")
        return EXIT_OK
    rows = [("STACK", "NAMESPACE", "AGE", "EXPIRES")]
    for info in stacks:
        age = humanize(now - info.last_update) if info.last_update else "-"
        namespace = info.config.get(key("namespace"), "-")
        rows.append((info.name, namespace, age, _expiry_text(info.config.get(key("expiresAt")), now)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)),
            row[3],
            sep="  ",
        )
    return EXIT_OK


# --- gc ----------------------------------------------------------------------------------------------------


def cmd_gc(args: argparse.Namespace, deps: Deps) -> int:
    """Destroy every preview past its expiresAt, then expired preview namespaces no stack owns.

    Stacks and namespaces without a valid expiry are reported, never destroyed.
    """
    progress = Progress(deps.clock)
    now = deps.now()
    workspace = deps.open_workspace()
    stacks = {s.name: s for s in _previews(workspace)}
    # Only stacks this tool marked as previews: a stray preview-* stack without preview=true is left alone.
    expiries = {
        name: (info.config.get(key("expiresAt")) if info.config.get(key("preview")) == "true" else None)
        for name, info in stacks.items()
    }
    plan = select_expired(expiries, now)
    progress.step(
        f"{len(plan.expired)} expired, {len(plan.alive)} alive, {len(plan.unknown)} without a valid expiresAt"
    )
    for name in plan.unknown:
        progress.step(f"skipping {name}: no valid expiresAt (or preview=true); destroy it by hand if unused")
    failed = []
    for stack in plan.expired:
        if args.dry_run:
            progress.step(f"would destroy {stack}")
            continue
        info = stacks[stack]
        context = info.config.get(key("kubeContext")) or _default_context(args.cluster_name)
        code = destroy_preview(
            workspace, from_stack(stack), info, context, args.wait_leftovers, deps, progress
        )
        if code != EXIT_OK:
            failed.append(stack)
    context = args.context or _default_context(args.cluster_name)
    failed.extend(collect_orphans(set(stacks), context, now, args, deps, progress))
    if failed:
        _error(f"gc: {len(failed)} preview(s) not cleanly destroyed: {', '.join(failed)}")
        return EXIT_FAILED
    if not args.dry_run:
        progress.step(f"gc done: destroyed {len(plan.expired)}")
    return EXIT_OK


def collect_orphans(
    stacks: set[str], context: str, now: datetime, args: argparse.Namespace, deps: Deps, progress: Progress
) -> list[str]:
    """Delete expired preview namespaces that no stack owns; returns the namespaces not cleanly removed."""
    progress.step(f"looking for preview namespaces without a stack on context {context}")
    try:
        api = deps.kube_api(context)
        namespaces = preview_namespaces(api)
    except LeftoverCheckError as err:
        _error(f"gc: could not look for orphaned preview namespaces: {err}")
        return [f"(orphans on {context})"]
    plan = select_orphans(namespaces, stacks, now)
    owners = {ns.name: ns.stack for ns in namespaces}
    progress.step(
        f"orphaned preview namespaces: {len(plan.expired)} expired, {len(plan.alive)} not yet expired, "
        f"{len(plan.unknown)} without a valid expiry"
    )
    for namespace in (*plan.alive, *plan.unknown):
        progress.step(f"keeping orphaned namespace {namespace} (stack {owners[namespace]}): not expired")
    failed = []
    for namespace in plan.expired:
        if args.dry_run:
            progress.step(f"would delete orphaned namespace {namespace} (stack {owners[namespace]} is gone)")
            continue
        stack = owners[namespace] or STACK_PREFIX + namespace.removeprefix(NAMESPACE_PREFIX)
        progress.step(f"deleting orphaned namespace {namespace} (stack {stack} is gone, expired)")
        try:
            delete_namespace(api, namespace)
            left = wait_for_cleanup(
                partial(find_leftovers, api, stack, namespace),
                timeout=args.wait_leftovers,
                sleep=deps.sleep,
                clock=deps.clock,
            )
        except LeftoverCheckError as err:
            _error(f"gc: {err}")
            failed.append(namespace)
            continue
        if left:
            _report_leftovers(left, PreviewName(namespace.removeprefix(NAMESPACE_PREFIX)), context)
            failed.append(namespace)
        else:
            progress.step(f"deleted orphaned namespace {namespace}: nothing left in the cluster")
    return failed


# --- bootstrap ---------------------------------------------------------------------------------------------


def cmd_bootstrap(args: argparse.Namespace, deps: Deps) -> int:
    """As a cluster admin: the previews' namespace-scoped identity and its guard; a kubeconfig for it."""
    progress = Progress(deps.clock)
    hours = args.token_hours
    if not 1 <= hours <= 24 * 366:
        raise ExtraConfigError(f"--token-hours {hours}: must be from 1 to {24 * 366}")
    try:
        admin = deps.api_client(args.context)
        for name in apply_bootstrap(admin):
            progress.step(f"applied {name}")
        runner = runner_kubeconfig(admin, int(hours * 3600))
    except Exception as err:  # the client raises urllib3, ApiException and config errors alike
        _error(f"bootstrap on context {args.context!r} failed: {err}")
        return EXIT_FAILED
    out = Path(args.kubeconfig_out).expanduser()
    runner.write(out)
    progress.step(
        f"wrote {out} (context {RUNNER_CONTEXT}, ServiceAccount {RUNNER_NAMESPACE}/{RUNNER_NAME}, token "
        f"valid {hours}h): `KUBECONFIG={out} python -m previews create REF --context {RUNNER_CONTEXT} "
        f"--set deployerServiceAccount={RUNNER_NAMESPACE}/{RUNNER_NAME}`"
    )
    return EXIT_OK


# --- parser and entry point --------------------------------------------------------------------------------


def _wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-leftovers",
        type=float,
        default=DEFAULT_LEFTOVER_WAIT,
        metavar="SECONDS",
        help="how long to wait for namespace and volume deletion to finish "
        f"(default {DEFAULT_LEFTOVER_WAIT:.0f})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser; each subcommand stores its function as `handler`."""
    cluster_name = schema_defaults()["clusterName"]
    parser = argparse.ArgumentParser(
        prog="python -m previews",
        description="Preview environments: one Pulumi stack and namespace per branch or pull request "
        "(docs/previews.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser("create", help="create or update the preview of a branch or PR")
    create.add_argument("ref", help="branch (feature/x) or pull request (42, #42, refs/pull/42/merge)")
    create.add_argument(
        "--ttl", default=DEFAULT_TTL, help=f"time to live, e.g. 72h, 3d (default {DEFAULT_TTL})"
    )
    create.add_argument(
        "--cluster-name", default=cluster_name, help=f"the dev kind cluster (default {cluster_name})"
    )
    create.add_argument("--context", help="kubeconfig context (default kind-<cluster-name>)")
    create.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="further stack config, e.g. servingImage=registry/x@sha256:... (repeatable)",
    )
    create.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="KEY=VAR",
        help="secret stack config from environment variable VAR, e.g. postgresPassword=PG_PASSWORD",
    )
    create.set_defaults(handler=cmd_create)

    destroy = commands.add_parser("destroy", help="destroy a preview and check nothing is left")
    destroy.add_argument("name", help="stack name (preview-...), branch or pull request")
    destroy.add_argument("--cluster-name", default=cluster_name, help=argparse.SUPPRESS)
    destroy.add_argument("--context", help="kubeconfig context (default: the stack's kubeContext)")
    _wait_option(destroy)
    destroy.set_defaults(handler=cmd_destroy)

    listing = commands.add_parser("list", help="list previews with age and expiry")
    listing.set_defaults(handler=cmd_list)

    gc = commands.add_parser(
        "gc", help="destroy every expired preview, and delete expired preview namespaces whose stack is gone"
    )
    gc.add_argument("--dry-run", action="store_true", help="only print what would be destroyed")
    gc.add_argument("--cluster-name", default=cluster_name, help=argparse.SUPPRESS)
    gc.add_argument(
        "--context",
        help="where to look for preview namespaces whose stack is gone (default kind-<cluster-name>)",
    )
    _wait_option(gc)
    gc.set_defaults(handler=cmd_gc)

    bootstrap = commands.add_parser(
        "bootstrap", help="(cluster admin, once) the namespace-scoped identity previews deploy with"
    )
    bootstrap.add_argument("--context", required=True, help="an admin context of the preview cluster")
    bootstrap.add_argument(
        "--kubeconfig-out",
        default="~/.mlops-previews/kubeconfig",
        help="where to write the runner's kubeconfig (default ~/.mlops-previews/kubeconfig, mode 0600)",
    )
    bootstrap.add_argument(
        "--token-hours", type=int, default=720, help="lifetime of the runner's token (default 720 = 30 days)"
    )
    bootstrap.set_defaults(handler=cmd_bootstrap)
    return parser


INLINE_VAR = "MLOPS_PULUMI_INLINE"


def real_deps(environ: Mapping[str, str]) -> Deps:
    """The Automation API workspace on the configured backend and the real Kubernetes client.

    With MLOPS_PULUMI_INLINE=1 the program runs inline (no Python language host needed: docs/engine-tier.md).
    """
    inline: Callable[[], None] | None = None
    if environ.get(INLINE_VAR) == "1":
        from infra.program import program  # imported only then: it pulls in the whole Pulumi program

        inline = program
    return Deps(
        # The backend is read when a command opens the workspace: `bootstrap` needs no passphrase.
        open_workspace=lambda: AutomationWorkspace(backend_from_env(environ), program=inline),
        kube_api=core_api,
        now=lambda: datetime.now(UTC),
        environ=dict(environ),
    )


def main(
    argv: list[str] | None = None, deps: Deps | None = None, environ: Mapping[str, str] | None = None
) -> int:
    """Parse, run one command, map expected errors to exit codes."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse: 2 for bad usage (after printing it), 0 for --help
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    try:
        handler: Callable[[argparse.Namespace, Deps], int] = args.handler
        return handler(args, deps or real_deps(os.environ if environ is None else environ))
    except (NamingError, ExpiryError, BackendError, ExtraConfigError) as err:
        _error(str(err))
        return EXIT_USAGE
    except (WorkspaceError, LeftoverCheckError) as err:
        _error(str(err))
        return EXIT_FAILED
