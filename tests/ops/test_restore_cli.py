"""`python -m ops restore` refuses bad input with a message naming the flag, before touching any database.

The restore itself runs against real PostgreSQL in tests/integration/test_day2_operations.py.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from ops.__main__ import main

needs_pg_restore = pytest.mark.skipif(shutil.which("pg_restore") is None, reason="pg_restore not installed")


def _restore(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["restore", "--port", "1", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@needs_pg_restore
def test_a_missing_dump_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _restore(capsys, "--dump", str(tmp_path / "nope.dump"))
    assert code == 1 and f"--dump {tmp_path / 'nope.dump'}: no such file" in err


@needs_pg_restore
def test_a_file_that_is_not_a_dump_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "mlflow.dump"
    bogus.write_bytes(gzip.compress(b"not a dump"))
    code, err = _restore(capsys, "--dump", str(bogus))
    assert code == 1 and "is not a pg_dump custom-format archive" in err


def test_without_pg_restore_the_fix_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, err = _restore(capsys, "--dump", str(tmp_path / "x.dump"))
    assert code == 1 and "pg_restore not found on PATH" in err


def test_missing_required_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["restore"])
    assert exit_info.value.code == 2
    assert "--dump" in capsys.readouterr().err
