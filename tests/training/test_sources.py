"""Dataset URIs: files, snapshot directories (newest wins) and bounded http(s) downloads from a real server."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from training.config import ConfigError, TrainConfig
from training.data import load_dataset
from training.sources import DownloadLimits, SourceKind, list_snapshots, resolve, snapshot_name

CSV = b"a,b,label\n1.0,2.0,cat\n2.0,1.0,dog\n3.0,0.5,cat\n0.5,3.0,bird\n"
LIMITS = DownloadLimits(timeout_seconds=2.0, max_bytes=1024)


def cfg(**overrides: object) -> TrainConfig:
    return TrainConfig(tracking_uri="http://127.0.0.1:5000", **overrides)  # type: ignore[arg-type]


def test_snapshot_directory_resolves_to_the_newest_complete_snapshot(tmp_path: Path) -> None:
    old = tmp_path / snapshot_name(datetime(2026, 1, 1, tzinfo=UTC), "jan")
    new = tmp_path / snapshot_name(datetime(2026, 3, 1, 12, 30, tzinfo=UTC))
    old.write_bytes(b"a,label\n1,0\n")
    new.write_bytes(CSV)
    (tmp_path / f".{snapshot_name(datetime(2026, 4, 1, tzinfo=UTC))}").write_bytes(b"half writ")
    (tmp_path / "notes.csv").write_bytes(b"x\n")
    assert new.name == "20260301T123000Z.csv"
    assert [p.name for p in list_snapshots(tmp_path)] == [old.name, new.name]

    source = resolve(str(tmp_path), tmp_path, LIMITS)
    assert source.kind is SourceKind.SNAPSHOTS and source.snapshot == new.name
    assert source.sha256 == hashlib.sha256(CSV).hexdigest()
    assert resolve(f"file://{tmp_path}", tmp_path, LIMITS).snapshot == new.name


def test_string_multiclass_labels_load_from_a_snapshot(tmp_path: Path) -> None:
    (tmp_path / snapshot_name(datetime(2026, 3, 1, tzinfo=UTC))).write_bytes(CSV)
    data = load_dataset(cfg(dataset=str(tmp_path), target_column="label"))
    assert list(data.features.columns) == ["a", "b"]
    assert sorted(data.target.unique()) == ["bird", "cat", "dog"]
    assert data.origin is not None and data.origin.snapshot == "20260301T000000Z.csv"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("{dir}", "no snapshot in .*add one with `python -m training.snapshots add FILE`"),
        ("s3://bucket/data.csv", "unsupported URI scheme 's3'"),
        ("{dir}/missing.csv", "CSV file .*missing.csv' does not exist"),
        ("imagenet", "unknown dataset 'imagenet'"),
    ],
)
def test_bad_uris_name_the_key_and_the_problem(tmp_path: Path, uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"--dataset/MLOPS_DATASET: {message}"):
        resolve(uri.format(dir=tmp_path), tmp_path, LIMITS)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        match self.path:
            case "/data.csv":
                self._send(CSV)
            case "/big.csv":
                self._send(b"a,label\n" + b"1,0\n" * 1000)
            case "/big-unannounced.csv":
                self.send_response(200)
                self.end_headers()  # no Content-Length: the cap must hold while streaming
                self.wfile.write(b"a,label\n" + b"1,0\n" * 1000)
            case "/slow.csv":
                time.sleep(5)
                self._send(CSV)
            case _:
                self.send_error(404)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The client gives up in the timeout case: that is the point.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_source_downloads_and_records_the_digest(http_base: str, tmp_path: Path) -> None:
    source = resolve(f"{http_base}/data.csv", tmp_path, LIMITS)
    assert source.kind is SourceKind.HTTP and source.location == f"{http_base}/data.csv"
    assert source.sha256 == hashlib.sha256(CSV).hexdigest()
    data = load_dataset(cfg(dataset=f"{http_base}/data.csv", target_column="label"))
    pd.testing.assert_series_equal(data.features["a"], pd.Series([1.0, 2.0, 3.0, 0.5], name="a"))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/nothing.csv", "answered HTTP 404"),
        ("/big.csv", "larger than the 1024 byte cap"),
        ("/big-unannounced.csv", "larger than the 1024 byte cap"),
        ("/slow.csv", "timed out after 2s"),
    ],
)
def test_http_failures_are_bounded_and_clear(http_base: str, tmp_path: Path, path: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match=message):
        resolve(f"{http_base}{path}", tmp_path, LIMITS)
    assert time.monotonic() - started < 4
    assert list(tmp_path.iterdir()) == []  # no partial download left behind


def test_unreachable_http_source_is_a_clear_error(tmp_path: Path) -> None:
    from tests.conftest import free_port

    with pytest.raises(ConfigError, match=r"cannot fetch http://127\.0\.0\.1:\d+/x\.csv"):
        resolve(f"http://127.0.0.1:{free_port()}/x.csv", tmp_path, LIMITS)
