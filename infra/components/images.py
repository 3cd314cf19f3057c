"""Images: build serving, training and MLflow images with pulumi-docker, tagged by content hash.

kind/minikube: the images are loaded into the nodes (nothing is pushed). existing clusters: pushed to the
configured registry, or (preview stacks on the dev stack's kind cluster) loaded into that kind cluster.
The tag is a hash of the image's build inputs, so unchanged code never rebuilds and no tag is `latest`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pulumi
import pulumi_command as command
import pulumi_docker as docker
from pulumi import Output, ResourceOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


@dataclass(frozen=True)
class ImageSpec:
    """One image: its Dockerfile and the repo paths that go into it (what the content hash covers)."""

    name: str
    dockerfile: str
    inputs: tuple[str, ...]


SPECS = (
    ImageSpec(
        "mlops-serving",
        "services/serving/Dockerfile",
        ("pyproject.toml", "uv.lock", "mlops_contract", "services", "services/serving/Dockerfile"),
    ),
    ImageSpec(
        "mlops-training", "training/Dockerfile", ("pyproject.toml", "uv.lock", "mlops_contract", "training")
    ),
    ImageSpec("mlops-mlflow", "services/mlflow/Dockerfile", ("services/mlflow/Dockerfile",)),
    ImageSpec(
        "mlops-retrain-trigger",
        "services/retrain_trigger/Dockerfile",
        ("pyproject.toml", "uv.lock", "mlops_contract", "services/__init__.py", "services/retrain_trigger"),
    ),
)


def content_hash(paths: Iterable[str], root: Path = REPO_ROOT) -> str:
    """12 hex chars over the relative paths and bytes of every file under `paths` (sorted, caches skipped)."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for rel in paths:
        target = root / rel
        files.extend([target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file()))
    for path in sorted(set(files)):
        if _SKIP_PARTS & set(path.parts) or path.suffix == ".pyc":
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


class Delivery(StrEnum):
    """How built images reach the cluster's nodes."""

    KIND_LOAD = "kind-load"
    MINIKUBE_LOAD = "minikube-load"
    PUSH = "push"


@dataclass(frozen=True)
class ImagesArgs:
    """Where images go."""

    delivery: Delivery
    """Load into kind/minikube nodes, or push to `registry`."""
    cluster_name: str
    """kind cluster / minikube profile to load into."""
    registry: str | None
    """existing: registry prefix (e.g. registry.example.com/mlops)."""
    cluster_ready: list[pulumi.Resource]
    """Loading needs the cluster to exist."""


class Images(pulumi.ComponentResource):
    """Built (and loaded or pushed) images, by name."""

    refs: dict[str, Output[str]]
    """Image name -> reference pods use (name:hash or registry/name:hash)."""

    def __init__(self, name: str, args: ImagesArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:Images", name, None, opts)
        self.refs = {}
        for spec in SPECS:
            tag = content_hash(spec.inputs)
            repository = f"{args.registry}/{spec.name}" if args.registry else spec.name
            image = docker.Image(
                f"{name}-{spec.name}",
                image_name=f"{repository}:{tag}",
                # No platform pinned: the host's architecture is the kind/minikube node's (arm64 laptops too).
                build=docker.DockerBuildArgs(
                    context=str(REPO_ROOT),
                    dockerfile=str(REPO_ROOT / spec.dockerfile),
                ),
                skip_push=args.delivery is not Delivery.PUSH,
                opts=ResourceOptions(parent=self),
            )
            ref = image.image_name
            if args.delivery is Delivery.KIND_LOAD:
                loaded = command.local.Command(
                    f"{name}-{spec.name}-load",
                    create=Output.concat("kind load docker-image ", ref, f" --name {args.cluster_name}"),
                    triggers=[ref],
                    opts=ResourceOptions(parent=self, depends_on=[image, *args.cluster_ready]),
                )
                ref = Output.all(ref, loaded.stdout).apply(lambda parts: str(parts[0]))
            elif args.delivery is Delivery.MINIKUBE_LOAD:
                loaded = command.local.Command(
                    f"{name}-{spec.name}-load",
                    create=Output.concat(f"minikube -p {args.cluster_name} image load ", ref),
                    triggers=[ref],
                    opts=ResourceOptions(parent=self, depends_on=[image, *args.cluster_ready]),
                )
                ref = Output.all(ref, loaded.stdout).apply(lambda parts: str(parts[0]))
            self.refs[spec.name] = ref
        self.register_outputs({"refs": self.refs})
