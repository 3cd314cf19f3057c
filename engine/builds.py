"""What the real-engine tier builds from Go modules, as data: wrapper modules, packages, link flags.

None of these programs installs with a plain `go install M@V`: their go.mod files carry `replace`
directives (to sibling directories of their own repositories), which Go ignores outside the main module.
Each is therefore built from a small wrapper module of ours that requires the published versions instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine import pins

Prepare = Callable[[Path, Path], None]
"""Writes extra files into the wrapper directory, given it and the first required module's directory."""


@dataclass(frozen=True)
class GoBuild:
    """One wrapper module and the binaries built from it."""

    name: str
    """Cache directory and progress label."""
    requires: tuple[tuple[str, str], ...]
    """(module, version) the wrapper requires; the first is the one the binaries come from."""
    binaries: tuple[tuple[str, str], ...]
    """(package, binary name); package "." is the wrapper's own main package."""
    replaces: tuple[tuple[str, str], ...] = ()
    """(module, "module version") pins for modules that upstream requires at placeholder versions."""
    ldflags: tuple[str, ...] = ()
    """-X flags (versions the programs report; pulumi-kubernetes refuses a cluster saying v0.0.0)."""
    go_directive: str = "1.26"
    """The wrapper's `go` line (it sets the default GODEBUG behaviour, so match upstream's)."""
    main_go: str = ""
    """The wrapper's own main package, when upstream's main cannot be built from the module cache."""
    prepare: Prepare | None = field(default=None, compare=False)
    """Generates files the main package embeds (not in the module zip)."""
    assets: tuple[str, ...] = ()
    """Files of the first required module kept beside the binaries (in share/), e.g. kwok's stages."""

    def go_mod(self) -> str:
        """The wrapper's go.mod before `go get`/`go mod tidy` complete it."""
        lines = [f"module mlops.local/engine/{self.name}", "", f"go {self.go_directive}", ""]
        lines += [f"require {module} {version}" for module, version in self.requires]
        lines += [f"replace {module} => {target}" for module, target in self.replaces]
        return "\n".join(lines) + "\n"

    def fingerprint(self) -> str:
        """Everything that changes the built bits (the cache key hashes this)."""
        return json.dumps(
            [
                self.name,
                self.requires,
                self.binaries,
                self.replaces,
                self.ldflags,
                self.go_directive,
                self.main_go,
                self.assets,
            ],
            sort_keys=True,
        )


def _kubernetes() -> GoBuild:
    version = f"v{pins.KUBERNETES}"
    staging = f"v0.{pins.KUBERNETES.split('.', 1)[1]}"
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging/src/...
    modules = (
        "api",
        "apiextensions-apiserver",
        "apimachinery",
        "apiserver",
        "cli-runtime",
        "client-go",
        "cloud-provider",
        "cluster-bootstrap",
        "code-generator",
        "component-base",
        "component-helpers",
        "controller-manager",
        "cri-api",
        "cri-client",
        "csi-translation-lib",
        "dynamic-resource-allocation",
        "endpointslice",
        "externaljwt",
        "kms",
        "kube-aggregator",
        "kube-controller-manager",
        "kube-proxy",
        "kube-scheduler",
        "kubectl",
        "kubelet",
        "metrics",
        "mount-utils",
        "pod-security-admission",
        "sample-apiserver",
        "sample-cli-plugin",
        "sample-controller",
    )
    major, minor, _ = pins.KUBERNETES.split(".")
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return GoBuild(
        name="kubernetes",
        requires=(("k8s.io/kubernetes", version),),
        replaces=tuple((f"k8s.io/{m}", f"k8s.io/{m} {staging}") for m in modules),
        binaries=tuple(
            (f"k8s.io/kubernetes/cmd/{b}", b)
            for b in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
        ),
        ldflags=tuple(flags),
        go_directive="1.24.0",
    )


_ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


def _etcd() -> GoBuild:
    version = f"v{pins.ETCD}"
    # etcd's own main lives in the repository's root module, whose go.mod replaces every etcd module.
    return GoBuild(
        name="etcd",
        requires=(("go.etcd.io/etcd/server/v3", version),),
        binaries=((".", "etcd"),),
        ldflags=(),
        main_go=_ETCD_MAIN,
        go_directive="1.23",
    )


KWOK_DEFAULT_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
"""What kwokctl uses when it is given no stages (relative to the module's kustomize/stage/)."""


def _kwok() -> GoBuild:
    version = f"v{pins.KWOK}"
    return GoBuild(
        name="kwok",
        requires=(("sigs.k8s.io/kwok", version),),
        binaries=(("sigs.k8s.io/kwok/cmd/kwok", "kwok"), ("sigs.k8s.io/kwok/cmd/kwokctl", "kwokctl")),
        ldflags=(f"-X sigs.k8s.io/kwok/pkg/consts.Version={pins.KWOK}",),
        # kwok's default stages, which a cluster with one extra stage must list again (engine/cluster.py).
        assets=tuple(f"kustomize/stage/{path}" for path in KWOK_DEFAULT_STAGES),
    )


def _pulumi() -> GoBuild:
    version = f"v{pins.PULUMI}"
    return GoBuild(
        name="pulumi",
        # pkg/v3 replaces sdk/v3 with ../sdk: require the same published version instead.
        requires=(("github.com/pulumi/pulumi/pkg/v3", version), ("github.com/pulumi/pulumi/sdk/v3", version)),
        # pkg/v3's own fork pin (a bug fix of the clipboard module it vendors nothing else of).
        replaces=(
            (
                "github.com/atotto/clipboard",
                "github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e",
            ),
        ),
        binaries=(("github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", "pulumi"),),
        # The Automation API refuses a CLI whose version it cannot parse.
        ldflags=(f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={version}",),
    )


_PROVIDER_MAIN = """package main

import (
\t_ "embed"

\t"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
\t"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
\tprovider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
"""


def _embed_provider_schema(wrapper: Path, module_dir: Path) -> None:
    """What upstream's `go generate` does: the schema stamped with the version, for go:embed."""
    # The module's root is the repository's provider/ directory.
    source = module_dir / "cmd" / "pulumi-resource-kubernetes"
    schema = json.loads((source / "schema.json").read_text())
    schema["version"] = pins.KUBERNETES_PROVIDER
    (wrapper / "schema-embed.json").write_text(json.dumps(schema))
    mapping = json.loads((source / "terraform-mapping.json").read_text())
    (wrapper / "terraform-mapping-embed.json").write_text(json.dumps(mapping))


def _kubernetes_provider() -> GoBuild:
    module = "github.com/pulumi/pulumi-kubernetes/provider/v4"
    return GoBuild(
        name="pulumi-resource-kubernetes",
        requires=((module, pins.KUBERNETES_PROVIDER_MODULE_VERSION),),
        binaries=((".", "pulumi-resource-kubernetes"),),
        ldflags=(f"-X {module}/pkg/version.Version={pins.KUBERNETES_PROVIDER}",),
        main_go=_PROVIDER_MAIN,
        prepare=_embed_provider_schema,
    )


def all_builds() -> list[GoBuild]:
    """In build order: the control plane first (the tier's cluster), then the Pulumi engine."""
    return [_etcd(), _kubernetes(), _kwok(), _pulumi(), _kubernetes_provider()]
