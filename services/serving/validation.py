"""Turn validated JSON rows into the model's input matrix, checking them against the model signature."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from services.serving.schemas import ErrorDetail


class InputError(ValueError):
    """Rows that do not match the model's inputs; details name the row and feature."""

    def __init__(self, details: list[ErrorDetail]) -> None:
        super().__init__("; ".join(d.msg for d in details))
        self.details = details


def _problem(loc: list[str | int], msg: str) -> ErrorDetail:
    return ErrorDetail(loc=["body", "rows", *loc], msg=msg)


def to_matrix(
    rows: Sequence[Sequence[float]] | Sequence[dict[str, float]], feature_names: Sequence[str], max_rows: int
) -> npt.NDArray[np.float64]:
    """A (rows x features) float matrix in signature order; InputError lists at most a few problems."""
    if len(rows) > max_rows:
        raise InputError([_problem([], f"at most {max_rows} rows per request (got {len(rows)})")])
    n = len(feature_names)
    problems: list[ErrorDetail] = []
    if isinstance(rows[0], dict):
        index = {name: j for j, name in enumerate(feature_names)}
        matrix = np.empty((len(rows), n), dtype=float)
        for i, row in enumerate(rows):
            assert isinstance(row, dict)
            missing = [name for name in feature_names if name not in row]
            unknown = [key[:64] for key in row if key not in index]
            if missing:
                problems.append(_problem([i], f"missing feature(s): {', '.join(missing[:5])}"))
            if unknown:
                problems.append(_problem([i], f"unknown feature(s): {', '.join(unknown[:5])}"))
            if not missing and not unknown:
                for key, value in row.items():
                    matrix[i, index[key]] = _as_float(value)
            if len(problems) >= 5:
                break
    else:
        for i, row in enumerate(rows):
            if len(row) != n:
                problems.append(_problem([i], f"expected {n} values in signature order, got {len(row)}"))
                if len(problems) >= 5:
                    break
        if not problems:
            try:
                matrix = np.array(rows, dtype=float)
            except OverflowError:  # an integer beyond float64: slow path only for such requests
                matrix = np.array(
                    [[_as_float(v) for v in row] for row in cast(Sequence[Sequence[float]], rows)]
                )
    if problems:
        raise InputError(problems)
    bad = np.argwhere(~np.isfinite(matrix))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise InputError([_problem([i, j], "must be a finite number within float64 range")])
    return matrix


def _as_float(value: float) -> float:
    """float(value), with integers beyond float64 range mapped to inf (reported as not finite)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf
