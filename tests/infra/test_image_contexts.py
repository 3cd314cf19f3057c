"""Per-image build contexts: each image is built from (and pulumi-docker hashes) only its own inputs.

pulumi-docker's Image decides whether to rebuild from a digest of every file in the build context (minus the
context root's .dockerignore); with the repository as the context, any edit anywhere rebuilt every image.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from infra.components.images import (
    REPO_ROOT,
    REQUIREMENTS_FILE,
    SPECS,
    ImageSpec,
    context_tag,
    input_files,
    stage_context,
)
from infra.render import MockedStack
from tests.infra.conftest import built

SERVING = next(spec for spec in SPECS if spec.name == "mlops-serving")
TRAINING = next(spec for spec in SPECS if spec.name == "mlops-training")


def provider_context_digest(context: Path) -> str:
    """What pulumi-docker's hashContext covers: every file in the context, by relative path, mode and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + oct(path.stat().st_mode).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's image inputs plus files no image uses."""
    root = tmp_path / "repo"
    for spec in SPECS:
        for path in input_files(spec.inputs):
            dest = root / path.relative_to(REPO_ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
    for outside in ("docs/infra.md", "infra/config.py", "tests/test_x.py"):
        (root / outside).parent.mkdir(parents=True, exist_ok=True)
        (root / outside).write_text("# not an image input\n")
    return root


def _stage(spec: ImageSpec, repo: Path) -> Path:
    return stage_context(spec, root=repo, out=repo.parent / "contexts")


def test_context_holds_exactly_the_image_inputs(repo: Path) -> None:
    context = _stage(SERVING, repo)
    staged = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
    expected = sorted(p.relative_to(repo).as_posix() for p in input_files(SERVING.inputs, repo))
    assert staged == sorted([*expected, REQUIREMENTS_FILE])
    assert "services/serving/Dockerfile" in staged and "uv.lock" in staged
    assert not any(name.startswith(("docs/", "infra/", "tests/", "training/")) for name in staged)


def test_an_edit_outside_an_images_inputs_changes_neither_its_context_nor_its_tag(repo: Path) -> None:
    before = _stage(SERVING, repo)
    digest, tag = provider_context_digest(before), context_tag(SERVING, before)
    for outside in ("docs/infra.md", "infra/config.py", "training/train.py"):  # training: another image's
        (repo / outside).write_text((repo / outside).read_text() + "# edited\n")
    after = _stage(SERVING, repo)
    assert after == before
    assert provider_context_digest(after) == digest
    assert context_tag(SERVING, after) == tag


def test_an_edit_to_an_input_changes_context_and_tag_and_prunes_the_old_context(repo: Path) -> None:
    before = _stage(TRAINING, repo)
    digest = provider_context_digest(before)
    (repo / "training/train.py").write_text((repo / "training/train.py").read_text() + "# edited\n")
    after = _stage(TRAINING, repo)
    assert after != before and provider_context_digest(after) != digest
    assert context_tag(TRAINING, after) != context_tag(TRAINING, before)
    assert not before.exists()  # one context per image, not one per edit


def test_caches_are_neither_staged_nor_hashed(repo: Path) -> None:
    tag = context_tag(SERVING, _stage(SERVING, repo))
    cache = repo / "services/serving/__pycache__/app.cpython-311.pyc"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"\0")
    after = _stage(SERVING, repo)
    assert context_tag(SERVING, after) == tag
    assert not any("__pycache__" in p.parts for p in after.rglob("*"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_image_installs_the_locked_set_with_hashes(spec: ImageSpec) -> None:
    """Each context carries its locked requirements, every one pinned with hashes; the Dockerfile installs only
    those (--require-hashes, no dependency resolution at build time)."""
    context = stage_context(spec)
    lines = (context / REQUIREMENTS_FILE).read_text().splitlines()
    pins = [line for line in lines if line and not line.startswith((" ", "#"))]
    assert len(pins) > 10
    for pin in pins:
        assert "==" in pin and pin.endswith("\\"), f"{spec.name}: {pin} is not pinned with hashes"
    # The server image's MLflow comes from the lock too (it used to be resolved at build time).
    assert ("mlflow==" in "\n".join(pins)) is (spec.name == "mlops-mlflow")
    dockerfile = (REPO_ROOT / spec.dockerfile).read_text()
    assert "--require-hashes" in dockerfile and "--no-hashes" not in dockerfile
    code = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    installs = [line for line in code if "pip install" in line or "uv " in line]
    assert installs == [f"RUN pip install --no-deps --require-hashes -r /tmp/{REQUIREMENTS_FILE} \\"]


def test_the_tag_covers_the_lock_and_the_platform(repo: Path) -> None:
    tag = context_tag(SERVING, _stage(SERVING, repo))
    assert context_tag(SERVING, stage_context(SERVING, repo, repo.parent / "c2", "linux/arm64")) != tag
    # Same files, another locked set (the trigger's extra): another tag, so the installed bits are covered.
    other = ImageSpec(
        SERVING.name, SERVING.dockerfile, SERVING.inputs, ("--no-default-groups", "--extra", "trigger")
    )
    assert context_tag(other, _stage(other, repo)) != tag


def test_every_file_a_dockerfile_copies_is_an_input() -> None:
    """The staged context is all the build sees: a COPY source outside the inputs would fail the build."""
    for spec in SPECS:
        text = (REPO_ROOT / spec.dockerfile).read_text()
        for line in text.splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    if source == REQUIREMENTS_FILE:  # written into every context by stage_context
                        continue
                    assert input_files([source.rstrip("/")]), f"{spec.dockerfile}: {source} is not staged"
                    assert any(
                        source.rstrip("/") == i or source.startswith(i.rstrip("/") + "/") for i in spec.inputs
                    ), f"{spec.dockerfile}: COPY {source} is not among {spec.inputs}"


@pytest.mark.parametrize("mode", ["kind", "existing"])
def test_images_build_from_their_staged_context(mode: str) -> None:
    stack: MockedStack = built(mode)
    for spec in SPECS:
        image = stack.by_name(f"images-{spec.name}")
        context = Path(image.inputs["build"]["context"])
        assert context == stage_context(spec)
        assert image.inputs["build"]["dockerfile"] == str(context / spec.dockerfile)
        assert (context / spec.dockerfile).is_file() and (context / REQUIREMENTS_FILE).is_file()
        assert image.inputs["imageName"].endswith(":" + context_tag(spec, context))
