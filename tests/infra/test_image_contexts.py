"""Per-image build contexts: each image is built from (and pulumi-docker hashes) only its own inputs.

pulumi-docker's Image decides whether to rebuild from a digest of every file in the build context (minus the
context root's .dockerignore); with the repository as the context, any edit anywhere rebuilt every image.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from infra.components.images import REPO_ROOT, SPECS, ImageSpec, content_hash, input_files, stage_context
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
    assert staged == expected
    assert "services/serving/Dockerfile" in staged and "README.md" in staged
    assert not any(name.startswith(("docs/", "infra/", "tests/", "training/")) for name in staged)


def test_an_edit_outside_an_images_inputs_changes_neither_its_context_nor_its_tag(repo: Path) -> None:
    before = _stage(SERVING, repo)
    digest, tag = provider_context_digest(before), content_hash(SERVING.inputs, repo)
    for outside in ("docs/infra.md", "infra/config.py", "training/train.py"):  # training: another image's
        (repo / outside).write_text((repo / outside).read_text() + "# edited\n")
    after = _stage(SERVING, repo)
    assert after == before
    assert provider_context_digest(after) == digest
    assert content_hash(SERVING.inputs, repo) == tag


def test_an_edit_to_an_input_changes_context_and_tag_and_prunes_the_old_context(repo: Path) -> None:
    before = _stage(TRAINING, repo)
    digest = provider_context_digest(before)
    (repo / "training/train.py").write_text((repo / "training/train.py").read_text() + "# edited\n")
    after = _stage(TRAINING, repo)
    assert after != before and provider_context_digest(after) != digest
    assert after.name == f"mlops-training-{content_hash(TRAINING.inputs, repo)}"
    assert not before.exists()  # one context per image, not one per edit


def test_caches_are_neither_staged_nor_hashed(repo: Path) -> None:
    tag = content_hash(SERVING.inputs, repo)
    cache = repo / "services/serving/__pycache__/app.cpython-311.pyc"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"\0")
    assert content_hash(SERVING.inputs, repo) == tag
    assert not any("__pycache__" in p.parts for p in _stage(SERVING, repo).rglob("*"))


def test_every_file_a_dockerfile_copies_is_an_input() -> None:
    """The staged context is all the build sees: a COPY source outside the inputs would fail the build."""
    for spec in SPECS:
        text = (REPO_ROOT / spec.dockerfile).read_text()
        for line in text.splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
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
        assert context.name == f"{spec.name}-{content_hash(spec.inputs)}"
        assert image.inputs["build"]["dockerfile"] == str(context / spec.dockerfile)
        assert (context / spec.dockerfile).is_file()
        assert image.inputs["imageName"].endswith(":" + content_hash(spec.inputs))
