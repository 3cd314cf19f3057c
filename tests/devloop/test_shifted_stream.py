"""The drift demo's stream: reproducible, one feature shifted, labels by the changed rule, disjoint pools."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import load_breast_cancer

from devloop.shifted_stream import MALIGNANT, Phase, ShiftedStream, StreamSpec

DATA = load_breast_cancer()
Rows = npt.NDArray[np.float64]


def take(stream: ShiftedStream, phase: Phase, n: int = 20) -> tuple[Rows, npt.NDArray[np.int64]]:
    """n batches' rows, with the shift taken back out of shifted phases, and their labels."""
    batches = list(itertools.islice(stream.batches(phase), n))
    rows = np.array([row for batch in batches for row in batch.rows])
    if phase is not Phase.NORMAL:
        rows[:, stream.column] -= stream.shift
    return rows, np.array([label for batch in batches for label in batch.labels])


def source(rows: Rows) -> npt.NDArray[np.intp]:
    """The dataset row each row was drawn from (the jitter is 1 %; the dataset's rows are far apart)."""
    relative = np.abs(rows[:, None, :] - DATA.data[None, :, :]) / np.maximum(np.abs(DATA.data), 1e-9)
    return np.asarray(np.argmin(relative.mean(axis=2), axis=1), dtype=np.intp)


def test_the_same_seed_gives_the_same_batches_and_another_seed_others() -> None:
    first, again = ShiftedStream(), ShiftedStream()
    for phase in Phase:
        assert list(itertools.islice(first.batches(phase), 5)) == list(
            itertools.islice(again.batches(phase), 5)
        )
    other = ShiftedStream(StreamSpec(seed=16))
    assert next(other.batches(Phase.SHIFTED)) != next(first.batches(Phase.SHIFTED))


def test_only_the_chosen_feature_moves_and_by_several_standard_deviations() -> None:
    stream = ShiftedStream()
    assert stream.shift == pytest.approx(8.0 * DATA.data[:, stream.column].std())
    batch = next(stream.batches(Phase.SHIFTED))
    shifted = np.array(batch.rows)
    unshifted = shifted.copy()
    unshifted[:, stream.column] -= stream.shift
    # With the shift taken out, every value is its source row's within the jitter; with it, one column is not.
    np.testing.assert_allclose(unshifted, DATA.data[source(unshifted)], rtol=0.06)
    moved = np.abs(shifted - DATA.data[source(unshifted)]) > 0.06 * np.abs(DATA.data[source(unshifted)])
    assert moved[:, stream.column].all() and not np.delete(moved, stream.column, axis=1).any()


def test_shifted_labels_follow_the_changed_rule_and_normal_ones_the_dataset() -> None:
    stream = ShiftedStream()
    rows, labels = take(stream, Phase.NORMAL)
    assert (labels == DATA.target[source(rows)]).all()

    rows, labels = take(stream, Phase.SHIFTED, 50)
    old = DATA.target[source(rows)]
    high = rows[:, stream.column] > stream.threshold
    assert high.any() and (~high).any()
    assert (labels[high] == MALIGNANT).all() and (labels[~high] == old[~high]).all()
    # The rule changed real labels: some tumours that were benign are malignant now.
    assert (old[high] != MALIGNANT).any()


def test_rows_after_the_reload_come_from_tumours_the_traffic_before_it_never_used() -> None:
    stream = ShiftedStream()
    before = set(source(take(stream, Phase.NORMAL, 60)[0])) | set(source(take(stream, Phase.SHIFTED, 60)[0]))
    after = set(source(take(stream, Phase.SHIFTED_UNSEEN, 30)[0]))
    assert before and after and not before & after


def test_an_unknown_feature_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'tumour colour'"):
        ShiftedStream(StreamSpec(feature="tumour colour"))
