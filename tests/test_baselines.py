"""Hand-computed checks of tsforecast.baselines on toy series."""

import numpy as np
import pytest

from tsforecast import baselines
from tsforecast.baselines import _acf


def _sine(n: int, m: int) -> np.ndarray:
    return 100.0 + 10.0 * np.sin(2.0 * np.pi * np.arange(n) / m)


def test_naive_repeats_last_value():
    np.testing.assert_array_equal(baselines.naive([3.0, 1.0, 4.0], 3), [4.0, 4.0, 4.0])


def test_seasonal_naive_phase_on_two_seasons():
    history = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0]
    np.testing.assert_array_equal(
        baselines.seasonal_naive(history, 5, 3), [10.0, 20.0, 30.0, 10.0, 20.0]
    )


def test_seasonal_naive_falls_back_to_naive_when_shorter_than_a_season():
    np.testing.assert_array_equal(baselines.seasonal_naive([1.0, 2.0], 3, 3), [2.0, 2.0, 2.0])


def test_drift_extends_first_to_last_line():
    np.testing.assert_allclose(baselines.drift([1.0, 0.0, 5.0], 2), [7.0, 9.0])
    np.testing.assert_array_equal(baselines.drift([4.0], 2), [4.0, 4.0])


def test_acf_hand_values():
    # d = [-1.5, -0.5, 0.5, 1.5], c0 = 5; lag 1: 1.25 / 5, lag 2: -1.5 / 5
    np.testing.assert_allclose(_acf(np.array([1.0, 2.0, 3.0, 4.0]), 2), [1.0, 0.25, -0.3])


def test_seasonality_test_false_on_white_noise():
    noise = 100.0 + np.random.default_rng(0).standard_normal(240)
    assert baselines.seasonality_test(noise, 12) is False


def test_seasonality_test_true_on_strong_sine():
    assert baselines.seasonality_test(_sine(240, 12), 12) is True


def test_seasonality_test_needs_three_seasons_and_m_above_one():
    # one spike per season: seasonal with 3 full seasons, rejected one point short of that
    spikes = np.tile(np.r_[11.0, np.ones(11)], 3)
    assert baselines.seasonality_test(spikes, 12) is True
    assert baselines.seasonality_test(spikes[:-1], 12) is False
    assert baselines.seasonality_test(_sine(100, 2), 1) is False


def test_seasonality_test_follows_r_default_acf_lag_max():
    # R's acf stops at lag floor(10 * log10(n)): 23 for n = 251, 24 for n = 252
    assert baselines.seasonality_test(_sine(251, 24), 24) is False
    assert baselines.seasonality_test(_sine(252, 24), 24) is True


def test_seasonality_test_false_on_constant_series():
    assert baselines.seasonality_test(np.full(48, 3.0), 4) is False


def test_seasonal_indices_recover_normalised_pattern_odd_m():
    # pattern mean is 2, so indices are pattern / 2
    history = np.tile([10.0, 20.0, 30.0], 4)
    np.testing.assert_allclose(baselines.seasonal_indices(history, 3), [0.5, 1.0, 1.5])


def test_seasonal_indices_even_m_phase_starts_at_first_observation():
    pattern = np.array([0.6, 1.2, 1.4, 0.8])
    # drop the first point: position 0 of the history is pattern[1]
    history = 50.0 * np.tile(pattern, 5)[1:]
    np.testing.assert_allclose(baselines.seasonal_indices(history, 4), np.roll(pattern, -1))


def test_naive2_reproduces_next_season_of_multiplicative_series():
    m = 12
    pattern = 1.0 + 0.5 * np.sin(2.0 * np.pi * np.arange(m) / m)
    full = 200.0 * np.tile(pattern, 13)
    # 125 points is not a whole number of seasons, so the phase must continue correctly
    history, future = full[:125], full[125:155]
    np.testing.assert_allclose(baselines.naive2(history, 30, m), future, rtol=1e-12)


def test_naive2_is_naive_without_seasonality():
    noise = 100.0 + np.random.default_rng(0).standard_normal(240)
    np.testing.assert_array_equal(baselines.naive2(noise, 5, 12), baselines.naive(noise, 5))
    np.testing.assert_array_equal(baselines.naive2(noise, 5, 1), baselines.naive(noise, 5))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="h must be >= 1, got 0"):
        baselines.naive([1.0], 0)
    with pytest.raises(ValueError, match="season_length must be >= 1, got 0"):
        baselines.seasonal_naive([1.0, 2.0], 2, 0)
    with pytest.raises(ValueError, match="must be 1-D"):
        baselines.naive(np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match="at least 2 seasons"):
        baselines.seasonal_indices(np.ones(7), 4)


def test_seasonal_indices_hand_example_with_trend():
    # m = 2: trend is the 2x2 MA (weights 1/4, 1/2, 1/4) at t = 1..4 -> 3.5, 5, 6.5, 8;
    # ratios 4/3.5, 4/5, 8/6.5, 6/8; position 0 averages t = 2, 4 and position 1 t = 1, 3
    history = [2.0, 4.0, 4.0, 8.0, 6.0, 12.0]
    figure = np.array([(0.8 + 0.75) / 2, (8 / 7 + 16 / 13) / 2])
    np.testing.assert_allclose(baselines.seasonal_indices(history, 2), figure / figure.mean())
