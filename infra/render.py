"""Render every Kubernetes object a stack would create, without a cluster or the Pulumi CLI.

Runs the real program (`infra.mlops_platform.build`) under Pulumi's unit-test mocks, which stand in for the
engine: resources are recorded instead of created. Generated secrets are placeholders and the cluster and
image commands do not run, so the output shows what will be applied, not live values.

    python -m infra.render --stack dev            # multi-document YAML on stdout
    python -m infra.render --stack dev --out build/manifests
    python -m infra.render --stack dev --urns     # the URN of every resource, one a line
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from infra.config import PROJECT, ConfigError, StackConfig, load_stack_config
from infra.schema import REPO_ROOT, schema_defaults, stack_values

K8S_PREFIX = "kubernetes:"
PLACEHOLDER_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"
PLACEHOLDER_NODE_IP = "192.0.2.10"  # TEST-NET-1: documentation address, never a real node


@dataclass
class Recorded:
    """One resource as the engine would have received it."""

    type: str
    name: str
    inputs: dict[str, Any]
    urn: str = ""
    """The URN the engine gives it: state identity, so a changed URN is a delete and a create."""
    parent: str | None = None
    parent_type: str | None = None
    protect: bool = False
    retain_on_delete: bool = False
    depends_on: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    replace_on_changes: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)

    @property
    def is_kubernetes(self) -> bool:
        """A Kubernetes object (not the provider itself)."""
        return self.type.startswith(K8S_PREFIX)


# The engine protocol's marker for special values (pulumi.runtime.rpc): secrets arrive wrapped in it.
_SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d"
_LOCAL_RUN = "command:local:run"  # pulumi-command's invoke (the cluster presence probe)


def _plain(value: Any) -> Any:
    """Engine values back to what `kubectl apply` expects: secrets unwrapped, whole floats (the RPC has no
    ints) as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping) and _SPECIAL_SIG_KEY in value:
        return _plain(value.get("value"))
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class RecordingMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that record every resource and answer like the real providers would, with placeholders.

    A fake only for what cannot run here: the Pulumi engine and its providers.
    """

    def __init__(self) -> None:
        self.inputs: dict[str, tuple[str, dict[str, Any]]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"placeholder-{args.name}"
        elif args.typ == "command:local:Command":
            create = str(args.inputs.get("create", ""))
            state["stdout"] = (
                PLACEHOLDER_NODE_IP
                if create.endswith(" ip")
                else (PLACEHOLDER_KUBECONFIG if "kind get kubeconfig" in create else "")
            )
            state["stderr"] = ""
        elif args.typ == "docker:index/image:Image":
            state["repoDigest"] = f"{args.inputs.get('imageName')}@sha256:{'0' * 64}"
        self.inputs[args.name] = (args.typ, dict(args.inputs))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == _LOCAL_RUN:
            # The cluster presence probe: answer as a machine with no kind cluster or minikube profile yet.
            return {"stdout": "", "stderr": ""}, []
        return {}, None


@dataclass
class MockedStack:
    """What a program run under mocks declared, and its resolved outputs."""

    resources: list[Recorded]
    outputs: dict[str, Any]

    def urns(self) -> list[str]:
        """Every resource's URN, sorted."""
        return sorted(r.urn for r in self.resources)

    def kubernetes(self) -> list[Recorded]:
        """The Kubernetes objects, in declaration order."""
        return [r for r in self.resources if r.is_kubernetes]

    def by_name(self, name: str) -> Recorded:
        """A resource by its Pulumi name."""
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(name)

    def manifests(self) -> list[dict[str, Any]]:
        """Kubernetes manifests as `kubectl apply` would take them."""
        out = []
        for resource in self.kubernetes():
            inputs = _plain(resource.inputs)
            head = {
                "apiVersion": inputs.pop("apiVersion", _api_version(resource.type)),
                "kind": inputs.pop("kind", resource.type.rsplit(":", 1)[1]),
                "metadata": inputs.pop("metadata", {}),
            }
            out.append({**head, **dict(sorted(inputs.items()))})
        return out


def _api_version(token: str) -> str:
    """kubernetes:apps/v1:Deployment -> apps/v1; kubernetes:core/v1:Service -> v1."""
    group_version = token.split(":")[1]
    return group_version.removeprefix("core/")


def _urn(stack: str, qualified_type: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{qualified_type}::{name}"


def run_program(
    cfg: StackConfig, program: Callable[[StackConfig], Mapping[str, Any]], preview: bool = False
) -> MockedStack:
    """Run `program(cfg)` (which declares resources and returns its outputs) under recording mocks."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=cfg.stack, preview=preview)
    options: dict[str, Recorded] = {}
    outputs: dict[str, Any] = {}
    # The engine's URN type is the chain of parent types (the stack's own left out); the mocks' monitor
    # puts only the nearest parent's type in it, so it is computed here, as the engine does.
    qualified_types: dict[pulumi.Resource, str] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        opts = args.opts
        parent = opts.parent if opts is not None else None
        depends = opts.depends_on if opts is not None and isinstance(opts.depends_on, list) else []
        parent_type = qualified_types.get(parent) if parent is not None else None
        qualified_types[args.resource] = f"{parent_type}${args.type_}" if parent_type else args.type_
        options[args.name] = Recorded(
            type=args.type_,
            name=args.name,
            inputs={},
            urn=_urn(cfg.stack, qualified_types[args.resource], args.name),
            parent=getattr(parent, "_name", None),
            parent_type=getattr(parent, "_type", None),
            protect=bool(opts.protect) if opts is not None else False,
            retain_on_delete=bool(opts.retain_on_delete) if opts is not None else False,
            depends_on=[getattr(d, "_name", "?") for d in depends],
            delete_before_replace=bool(opts.delete_before_replace) if opts is not None else False,
            replace_on_changes=list(opts.replace_on_changes or []) if opts is not None else [],
            ignore_changes=list(opts.ignore_changes or []) if opts is not None else [],
            additional_secret_outputs=list(opts.additional_secret_outputs or []) if opts is not None else [],
        )

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def declare() -> pulumi.Output[Any]:
        pulumi.runtime.register_stack_transformation(record)
        declared = program(cfg)
        return pulumi.Output.from_input(dict(declared)).apply(outputs.update)

    declare()
    resources = []
    for name, recorded in options.items():
        recorded.inputs = mocks.inputs.get(name, (recorded.type, {}))[1]
        resources.append(recorded)
    return MockedStack(resources=resources, outputs=_plain(outputs))


def platform_program(cfg: StackConfig) -> Mapping[str, Any]:
    """The program `pulumi up` runs (minus the tool preflight, which checks the local machine)."""
    from infra.mlops_platform import build

    return build(cfg).outputs()


def stack_config(stack: str, overrides: Mapping[str, str] | None = None) -> StackConfig:
    """A stack's validated config from Pulumi.<stack>.yaml (if present) plus overrides, as Pulumi would."""
    values: dict[str, str] = {}
    stack_file = REPO_ROOT / f"Pulumi.{stack}.yaml"
    if stack_file.is_file():
        values.update(stack_values(stack_file))
    values.update(overrides or {})
    return load_stack_config(values, stack, schema_defaults())


def render(cfg: StackConfig) -> list[dict[str, Any]]:
    """Every Kubernetes manifest of the stack."""
    return run_program(cfg, platform_program).manifests()


def _documents(manifests: list[dict[str, Any]]) -> Iterator[str]:
    for manifest in manifests:
        yield yaml.safe_dump(manifest, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    """CLI: render a stack's manifests to stdout or one file per object."""
    parser = argparse.ArgumentParser(prog="python -m infra.render", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to read (default dev)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)"
    )
    parser.add_argument("--out", type=Path, help="write one YAML file per object into this directory")
    parser.add_argument("--urns", action="store_true", help="print every resource's URN instead of manifests")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: expected KEY=VALUE")
        overrides[key.removeprefix(f"{PROJECT}:")] = value
    try:
        stack = run_program(stack_config(args.stack, overrides), platform_program)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.urns:
        sys.stdout.write("".join(f"{urn}\n" for urn in stack.urns()))
        return 0
    manifests = stack.manifests()
    if args.out is None:
        sys.stdout.write("---\n".join(_documents(manifests)))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for index, (manifest, text) in enumerate(zip(manifests, _documents(manifests), strict=True)):
        meta = manifest.get("metadata", {})
        (args.out / f"{index:03d}-{manifest['kind'].lower()}-{meta.get('name', 'unnamed')}.yaml").write_text(
            text
        )
    print(f"wrote {len(manifests)} manifests to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
