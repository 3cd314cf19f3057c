"""check_finite: every way a value can be out of range is caught, on both its small and its large path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.serving.validation import FEATURE_LIMIT, SMALL_CHECK_VALUES, InputError, check_finite

BAD = [math.nan, math.inf, -math.inf, FEATURE_LIMIT * 1.0000001, -FEATURE_LIMIT * 2, 1e300]
# A small matrix (checked as Python floats first) and one past SMALL_CHECK_VALUES (numpy only).
SHAPES = [(1, 30), (SMALL_CHECK_VALUES // 30 + 1, 30)]


@pytest.mark.parametrize("shape", SHAPES)
def test_values_within_the_limit_pass_unchanged(shape: tuple[int, int]) -> None:
    matrix = np.random.default_rng(0).uniform(-FEATURE_LIMIT, FEATURE_LIMIT, shape)
    matrix[0, 0], matrix[-1, -1] = FEATURE_LIMIT, -FEATURE_LIMIT
    assert check_finite(matrix) is matrix


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bad", BAD)
def test_any_bad_value_anywhere_is_named_by_its_position(shape: tuple[int, int], bad: float) -> None:
    rows, cols = shape
    for i, j in ((0, 0), (rows - 1, cols - 1), (rows // 2, 7)):
        matrix = np.ones(shape)
        matrix[i, j] = bad
        with pytest.raises(InputError) as caught:
            check_finite(matrix, ("inputs",))
        assert caught.value.details[0].loc == ["inputs", i, j], (bad, i, j)


def test_a_nan_after_an_infinity_and_opposite_infinities_are_caught() -> None:
    """The small path's min and max can step over a NaN, and +inf and -inf sum to NaN: neither may pass."""
    for values in ([1.0, math.inf, math.nan], [math.inf, -math.inf], [math.nan, 1.0], [2.0, math.nan]):
        with pytest.raises(InputError):
            check_finite(np.array([values]))


def test_a_transposed_view_is_checked_like_its_copy() -> None:
    """V2 hands over columns transposed: a view, not a C-ordered array."""
    columns = np.ones((30, 2))
    columns[4, 1] = math.nan
    with pytest.raises(InputError) as caught:
        check_finite(columns.T)
    assert caught.value.details[0].loc[-2:] == [1, 4]


def test_an_empty_matrix_passes() -> None:
    empty = np.empty((0, 30))
    assert check_finite(empty) is empty
