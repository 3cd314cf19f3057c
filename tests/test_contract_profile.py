"""The reference-profile contract shared by training (builds it) and serving (compares against it)."""

import numpy as np
import pytest

from mlops_contract.profile import ReferenceProfile, bin_frequencies, build_profile, psi


def test_profile_round_trips_through_json() -> None:
    data = np.random.default_rng(0).normal(size=(400, 3))
    profile = build_profile(data, ["a", "b", "c"])
    assert ReferenceProfile.from_json(profile.to_json()) == profile
    assert profile.feature_names == ["a", "b", "c"]


def test_training_frequencies_sum_to_one_with_one_more_bin_than_edges() -> None:
    data = np.random.default_rng(1).exponential(size=(1000, 2))
    for feature in build_profile(data, ["x", "y"], bins=10).features:
        assert len(feature.frequencies) == len(feature.edges) + 1
        assert sum(feature.frequencies) == pytest.approx(1.0)


def test_discrete_feature_collapses_duplicate_edges() -> None:
    data = np.array([[0.0], [1.0]] * 50)
    (feature,) = build_profile(data, ["flag"]).features
    assert len(set(feature.edges)) == len(feature.edges)
    assert psi(feature.frequencies, bin_frequencies(data[:, 0], feature.edges)) == pytest.approx(0.0)


def test_psi_is_small_in_distribution_and_large_when_shifted() -> None:
    rng = np.random.default_rng(2)
    (feature,) = build_profile(rng.normal(size=(5000, 1)), ["f"]).features
    same = psi(feature.frequencies, bin_frequencies(rng.normal(size=500), feature.edges))
    shifted = psi(feature.frequencies, bin_frequencies(rng.normal(loc=1.5, size=500), feature.edges))
    assert same < 0.1 < 0.25 < shifted


def test_malformed_profile_is_a_value_error_naming_the_problem() -> None:
    with pytest.raises(ValueError, match="malformed reference profile"):
        ReferenceProfile.from_json('{"version": 1, "features": []}')
    bad_bins = (
        '{"version": 1, "n_samples": 3, "features": [{"name": "f", "edges": [1.0], "frequencies": [1.0]}]}'
    )
    with pytest.raises(ValueError, match="'f'"):
        ReferenceProfile.from_json(bad_bins)


def test_vectorised_binning_matches_per_feature_binning() -> None:
    from mlops_contract.profile import bin_indices, bin_indices_matrix, padded_edges

    rng = np.random.default_rng(3)
    train = np.column_stack([rng.normal(size=300), rng.integers(0, 3, size=300), rng.exponential(size=300)])
    profile = build_profile(train, ["n", "d", "e"])
    batch = np.vstack([rng.normal(scale=3, size=(50, 3)), train[:20]])
    vectorised = bin_indices_matrix(batch, padded_edges(profile))
    for j, feature in enumerate(profile.features):
        assert (vectorised[:, j] == bin_indices(batch[:, j], feature.edges)).all()
