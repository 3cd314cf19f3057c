"""Images: build serving, training and MLflow images with pulumi-docker, tagged by content hash, or deploy
prebuilt ones.

kind/minikube: the images are loaded into the nodes (nothing is pushed). existing clusters: pushed to the
configured registry, or (preview stacks on the dev stack's kind cluster) loaded into that kind cluster.
The tag is a hash of everything that goes into the image: its input files (the Dockerfile, which pins the base
image by digest, included), the locked requirements it installs (exported from uv.lock with hashes, so pip
installs exactly those bits) and the build platform; unchanged inputs never rebuild and no tag is `latest`.
Each image builds from a context staged from its inputs alone, so pulumi-docker's context digest (which
decides whether to rebuild) changes only when they do. Prebuilt images (by digest, built and pushed by CI)
replace all of this: no build, no load, no push.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pulumi
import pulumi_command as command
import pulumi_docker as docker
from pulumi import Output, ResourceOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTEXTS_DIR = REPO_ROOT / ".state" / "image-contexts"
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
REQUIREMENTS_FILE = "requirements.txt"
"""Staged into every context: the image's locked dependencies with hashes (`pip install --require-hashes`)."""


class ImageBuildError(RuntimeError):
    """An image's context cannot be staged (the message says why and what fixes it)."""


@dataclass(frozen=True)
class ImageSpec:
    """One image: its Dockerfile and the repo paths that go into it (what the content hash covers)."""

    name: str
    dockerfile: str
    inputs: tuple[str, ...]
    requirements: tuple[str, ...]
    """`uv export` selection of what the image installs from uv.lock (base dependencies + an extra, or a
    dependency group alone); dev and infra groups never go into an image."""


SPECS = (
    ImageSpec(
        "mlops-serving",
        "services/serving/Dockerfile",
        ("pyproject.toml", "uv.lock", "mlops_contract", "services"),
        ("--no-default-groups", "--extra", "serving"),
    ),
    ImageSpec(
        "mlops-training",
        "training/Dockerfile",
        ("pyproject.toml", "uv.lock", "mlops_contract", "training"),
        ("--no-default-groups", "--extra", "training"),
    ),
    ImageSpec(
        "mlops-mlflow",
        "services/mlflow/Dockerfile",
        ("pyproject.toml", "uv.lock", "services/mlflow/Dockerfile"),
        ("--only-group", "mlflow-server"),
    ),
    ImageSpec(
        "mlops-retrain-trigger",
        "services/retrain_trigger/Dockerfile",
        ("pyproject.toml", "uv.lock", "mlops_contract", "services/__init__.py", "services/retrain_trigger"),
        ("--no-default-groups", "--extra", "trigger"),
    ),
)


def input_files(paths: Iterable[str], root: Path = REPO_ROOT) -> list[Path]:
    """Every file under `paths` (files or directories below `root`), sorted, caches skipped."""
    files: set[Path] = set()
    for rel in paths:
        target = root / rel
        files.update([target] if target.is_file() else (p for p in target.rglob("*") if p.is_file()))
    return sorted(p for p in files if not _SKIP_PARTS & set(p.parts) and p.suffix != ".pyc")


def content_hash(paths: Iterable[str], root: Path = REPO_ROOT, extra: bytes = b"") -> str:
    """12 hex chars over the relative paths and bytes of every input file (and `extra`, if any)."""
    digest = hashlib.sha256()
    for path in input_files(paths, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    if extra:
        digest.update(extra)
    return digest.hexdigest()[:12]


def locked_requirements(spec: ImageSpec, root: Path = REPO_ROOT) -> bytes:
    """The image's dependencies from uv.lock as a requirements file with every distribution's hashes."""
    uv = shutil.which("uv")
    if uv is None:
        raise ImageBuildError(
            f"{spec.name}: `uv` is not on PATH; it exports the image's locked requirements from uv.lock "
            "(install it: https://docs.astral.sh/uv/getting-started/installation/)"
        )
    argv = [uv, "export", "--frozen", "--no-emit-project", "--no-header", "--format", "requirements-txt"]
    result = subprocess.run(
        [*argv, *spec.requirements], cwd=root, capture_output=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise ImageBuildError(f"{spec.name}: `uv export` failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def stage_context(
    spec: ImageSpec, root: Path = REPO_ROOT, out: Path = CONTEXTS_DIR, platform: str | None = None
) -> Path:
    """A build context holding only the image's inputs (same relative paths), named by their hash.

    pulumi-docker hashes the whole context directory to decide whether to rebuild, and reads only the
    context's root .dockerignore (not BuildKit's per-Dockerfile ignore files): with the repository as
    context, any edit anywhere rebuilt every image. Content-addressed directories are never rewritten, so
    concurrent runs cannot see a half-staged one.
    """
    requirements = locked_requirements(spec, root)
    extra = requirements + b"\0" + (platform or "").encode()
    target = out / f"{spec.name}-{content_hash(spec.inputs, root, extra)}"
    if target.is_dir():
        return target
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=out))
    for path in input_files(spec.inputs, root):
        dest = staging / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    (staging / REQUIREMENTS_FILE).write_bytes(requirements)
    staging.chmod(0o755)
    try:
        staging.rename(target)
    except OSError:  # another run staged the same inputs first
        shutil.rmtree(staging)
    for stale in out.glob(f"{spec.name}-*"):
        if stale != target and stale.name[len(spec.name) + 1 :].isalnum():
            shutil.rmtree(stale, ignore_errors=True)
    return target


def context_tag(spec: ImageSpec, context: Path) -> str:
    """The content-hash tag of a staged context (its directory name carries it)."""
    return context.name.removeprefix(f"{spec.name}-")


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
    cluster_identity: Output[str] | None = None
    """Changes when the cluster is recreated: images are then loaded again."""
    platform: str | None = None
    """Build platform (os/arch[/variant]); None: the host's architecture."""
    prebuilt: Mapping[str, str] | None = None
    """Image name -> digest reference built elsewhere: nothing is built, loaded or pushed."""
    contexts_dir: Path = CONTEXTS_DIR
    """Where per-image build contexts are staged."""


class Images(pulumi.ComponentResource):
    """Built (and loaded or pushed) images, or prebuilt ones, by name."""

    refs: dict[str, Output[str]]
    """Image name -> reference pods use (name:hash, registry/name:hash, or the prebuilt digest reference)."""

    def __init__(self, name: str, args: ImagesArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:Images", name, None, opts)
        if args.prebuilt is not None:
            self.refs = {spec.name: Output.from_input(args.prebuilt[spec.name]) for spec in SPECS}
        else:
            self.refs = {spec.name: self._deliver(name, spec, args) for spec in SPECS}
        self.register_outputs({"refs": self.refs})

    def _deliver(self, name: str, spec: ImageSpec, args: ImagesArgs) -> Output[str]:
        """Build one image, then load it into the nodes or (build) push it; the reference pods use."""
        context = stage_context(spec, out=args.contexts_dir, platform=args.platform)
        tag = context_tag(spec, context)
        repository = f"{args.registry}/{spec.name}" if args.registry else spec.name
        image = docker.Image(
            f"{name}-{spec.name}",
            image_name=f"{repository}:{tag}",
            build=docker.DockerBuildArgs(
                context=str(context),
                dockerfile=str(context / spec.dockerfile),
                # Unset: the host's architecture, which is the kind/minikube node's (arm64 laptops too).
                platform=args.platform,
            ),
            skip_push=args.delivery is not Delivery.PUSH,
            opts=ResourceOptions(parent=self),
        )
        if args.delivery is Delivery.PUSH:
            # What was pushed, by digest: the tag could be moved in the registry, the digest cannot.
            return image.repo_digest
        load = (
            Output.concat("kind load docker-image ", image.image_name, f" --name {args.cluster_name}")
            if args.delivery is Delivery.KIND_LOAD
            else Output.concat(f"minikube -p {args.cluster_name} image load ", image.image_name)
        )
        triggers: list[Output[str]] = [image.image_name]
        if args.cluster_identity is not None:
            triggers.append(args.cluster_identity)
        loaded = command.local.Command(
            f"{name}-{spec.name}-load",
            create=load,
            # A new tag, or a recreated cluster (which has none of the images), loads again.
            triggers=triggers,
            opts=ResourceOptions(parent=self, depends_on=[image, *args.cluster_ready]),
        )
        return Output.all(image.image_name, loaded.stdout).apply(lambda parts: str(parts[0]))
