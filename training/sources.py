"""Training data named by a URI: a bundled scikit-learn name, a CSV file, a snapshot directory, or http(s).

A snapshot directory holds CSV files named `<UTC stamp>[-<label>].csv` (see `snapshot_name`); training reads
the newest. Files whose name starts with "." are still being written and are never read.
"""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlparse

from training.config import ConfigError

BUNDLED_NAMES = ("breast_cancer", "wine", "iris", "digits")
_SNAPSHOT = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)(-[A-Za-z0-9._-]+)?\.csv$")
_LABEL = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_CHUNK = 1 << 16
WHERE = "--dataset/MLOPS_DATASET"


class SourceKind(StrEnum):
    """How a dataset URI is read."""

    BUNDLED = "bundled"
    FILE = "file"
    SNAPSHOTS = "snapshots"
    HTTP = "http"


@dataclass(frozen=True)
class DownloadLimits:
    """Bounds on an http(s) source, so a slow or huge response cannot hang or fill a training pod."""

    timeout_seconds: float = 30.0
    max_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class ResolvedSource:
    """What a dataset URI pointed at when this run read it (recorded in MLflow for lineage)."""

    uri: str
    """The URI as configured."""
    kind: SourceKind
    location: str
    """What was actually read: the snapshot file, the file, the URL, or the bundled loader."""
    path: Path | None = None
    """Local copy of the bytes (None for bundled data)."""
    sha256: str | None = None
    """Digest of the bytes read (None for bundled data)."""
    snapshot: str | None = None
    """The snapshot's file name, for a snapshot directory."""

    @property
    def name(self) -> str:
        """A short dataset name for MLflow (file stem or bundled name)."""
        if self.path is None:
            return self.location.removeprefix("sklearn.datasets.load_")
        return Path(self.location).stem if self.kind is not SourceKind.HTTP else self.path.stem


def snapshot_name(moment: datetime, label: str | None = None) -> str:
    """`20261129T134500Z[-label].csv`: names sort by time, so the newest is the largest."""
    if label is not None and not _LABEL.match(label):
        raise ConfigError(f"--label: {label!r} may contain only letters, digits, '.', '_' and '-' (max 64)")
    stamp = moment.astimezone(UTC).strftime(_STAMP_FORMAT)
    return f"{stamp}-{label}.csv" if label else f"{stamp}.csv"


def snapshot_time(name: str) -> datetime | None:
    """The UTC time in a snapshot's name; None if the name is not a snapshot's."""
    match = _SNAPSHOT.match(name)
    if match is None:
        return None
    return datetime.strptime(match["stamp"], _STAMP_FORMAT).replace(tzinfo=UTC)


def list_snapshots(directory: Path) -> list[Path]:
    """Snapshot files in the directory, oldest first (in-progress dotfiles and other files left out)."""
    found = [p for p in directory.iterdir() if p.is_file() and snapshot_time(p.name) is not None]
    return sorted(found, key=lambda p: (snapshot_time(p.name), p.name))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(uri: str, scratch: Path, limits: DownloadLimits) -> ResolvedSource:
    """Find the bytes a URI names (downloading http(s) into `scratch`); ConfigError says what is wrong."""
    uri = uri.strip()
    if uri in BUNDLED_NAMES:
        return ResolvedSource(uri, SourceKind.BUNDLED, f"sklearn.datasets.load_{uri}")
    scheme = urlparse(uri).scheme.lower()
    if scheme in {"http", "https"}:
        return _download(uri, scratch, limits)
    if scheme == "file":
        path = Path(urlparse(uri).path)
    elif scheme:
        raise ConfigError(
            f"{WHERE}: unsupported URI scheme {scheme!r} in {uri!r} "
            "(allowed: a bundled name, a path or file:// URI to a CSV file or snapshot directory, http(s)://)"
        )
    else:
        path = Path(uri)
    if path.is_dir():
        return _newest_snapshot(uri, path)
    if path.suffix.lower() != ".csv":
        raise ConfigError(
            f"{WHERE}: unknown dataset {uri!r} (allowed: {', '.join(BUNDLED_NAMES)}, a .csv file, "
            "a directory of snapshots, or an http(s):// URL)"
        )
    if not path.is_file():
        raise ConfigError(f"{WHERE}: CSV file {str(path)!r} does not exist")
    resolved = path.resolve()
    return ResolvedSource(uri, SourceKind.FILE, str(resolved), resolved, sha256_file(resolved))


def _newest_snapshot(uri: str, directory: Path) -> ResolvedSource:
    snapshots = list_snapshots(directory)
    if not snapshots:
        raise ConfigError(
            f"{WHERE}: no snapshot in {str(directory)!r} (expected files named like "
            f"{snapshot_name(datetime(2026, 1, 31, 12, tzinfo=UTC))}; add one with "
            "`python -m training.snapshots add FILE`)"
        )
    newest = snapshots[-1].resolve()
    return ResolvedSource(
        uri, SourceKind.SNAPSHOTS, str(newest), newest, sha256_file(newest), snapshot=newest.name
    )


def _download(url: str, scratch: Path, limits: DownloadLimits) -> ResolvedSource:
    """Stream to a file with a timeout per read and a size cap; never keeps more than the cap."""
    name = Path(urlparse(url).path).name or "dataset.csv"
    target = scratch / (name if name.lower().endswith(".csv") else f"{name}.csv")
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        digest = _fetch(url, target, limits)
    except BaseException:
        target.unlink(missing_ok=True)  # never leave a partial download behind
        raise
    return ResolvedSource(url, SourceKind.HTTP, url, target, digest)


def _fetch(url: str, target: Path, limits: DownloadLimits) -> str:
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=limits.timeout_seconds) as response:  # noqa: S310 - http(s) only
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
                raise _too_large(url, limits)
            with target.open("wb") as out:
                while chunk := response.read(_CHUNK):
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise _too_large(url, limits)
                    digest.update(chunk)
                    out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise ConfigError(f"{WHERE}: GET {url} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ConfigError(f"{WHERE}: cannot fetch {url}: {exc.reason}") from None
    except TimeoutError:
        raise ConfigError(
            f"{WHERE}: fetching {url} timed out after {limits.timeout_seconds:g}s "
            "(--download-timeout raises the limit)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{WHERE}: cannot fetch {url}: {exc}") from None
    return digest.hexdigest()


def _too_large(url: str, limits: DownloadLimits) -> ConfigError:
    return ConfigError(
        f"{WHERE}: {url} is larger than the {limits.max_bytes} byte cap (--max-download-bytes raises it)"
    )
