"""Hand-computed checks of tsforecast.metrics on tiny arrays."""

import math

import numpy as np
import pytest

from tsforecast import metrics


def test_mae_and_rmse_hand_values():
    y = [1.0, 2.0, 3.0]
    y_hat = [2.0, 2.0, 5.0]
    # errors 1, 0, 2
    assert metrics.mae(y, y_hat) == pytest.approx(1.0)
    assert metrics.rmse(y, y_hat) == pytest.approx(math.sqrt(5.0 / 3.0))


def test_smape_hand_value():
    # 200*1/3 for the first pair, 0 for the second
    assert metrics.smape([1.0, 2.0], [2.0, 2.0]) == pytest.approx(100.0 / 3.0)


def test_smape_zero_over_zero_counts_as_zero():
    # (0, 0) is a perfect forecast; (1, 3) gives 200*2/4 = 100
    assert metrics.smape([0.0, 1.0], [0.0, 3.0]) == pytest.approx(50.0)


def test_smape_is_symmetric_in_percent_and_bounded_by_200():
    assert metrics.smape([1.0], [-1.0]) == pytest.approx(200.0)
    assert metrics.smape([4.0], [1.0]) == pytest.approx(metrics.smape([1.0], [4.0]))


def test_metrics_average_over_all_elements_of_2d_input():
    y = np.array([[1.0, 1.0], [1.0, 1.0]])
    y_hat = np.array([[1.0, 1.0], [1.0, 5.0]])
    assert metrics.mae(y, y_hat) == pytest.approx(1.0)


def test_mase_scale_uses_seasonal_lag():
    # lag-2 differences: |2-1| = 1, |6-3| = 3 -> 2 (lag 1 would give 7/3)
    assert metrics.mase_scale([1.0, 3.0, 2.0, 6.0], 2) == pytest.approx(2.0)


def test_mase_scale_falls_back_to_lag_one_when_too_short():
    # n = 3 <= m = 4: lag-1 differences 2, 1 -> 1.5
    assert metrics.mase_scale([1.0, 3.0, 2.0], 4) == pytest.approx(1.5)
    assert metrics.mase_scale([1.0, 3.0, 2.0], 3) == pytest.approx(1.5)


def test_mase_with_known_scale():
    assert metrics.mase([1.0, 2.0, 3.0], [2.0, 2.0, 5.0], scale=2.0) == pytest.approx(0.5)


def test_mase_is_nan_for_zero_scale():
    scale = metrics.mase_scale([5.0, 5.0, 5.0, 5.0], 1)
    assert scale == 0.0
    assert math.isnan(metrics.mase([1.0], [2.0], scale))


def test_owa_hand_value():
    # 0.5 * (10/20 + 2/1)
    assert metrics.owa(10.0, 2.0, 20.0, 1.0) == pytest.approx(1.25)
    # Worse than Naive2 on sMAPE, better on MASE: 0.5 * (30/20 + 1/4). Swapping the model's and
    # Naive2's roles, or sMAPE's and MASE's, gives another value.
    assert metrics.owa(30.0, 1.0, 20.0, 4.0) == pytest.approx(0.875)


def test_coverage_counts_bounds_as_inside():
    y = [1.0, 2.0, 3.0, 4.0]
    lo = [0.0, 2.0, 3.5, 0.0]
    hi = [2.0, 3.0, 4.0, 3.9]
    # inside, on the lower bound, below, above
    assert metrics.coverage(y, lo, hi) == pytest.approx(0.5)


def test_interval_width():
    assert metrics.interval_width([0.0, 1.0], [2.0, 4.0]) == pytest.approx(2.5)


def test_msis_hand_example():
    # level 80 -> alpha 0.2 -> penalty factor 2/alpha = 10; width 8 everywhere;
    # y=0 is 2 below lo (+20), y=12 is 2 above hi (+20): mean (8 + 28 + 28) / 3 = 64/3
    y = [5.0, 0.0, 12.0]
    lo = [2.0, 2.0, 2.0]
    hi = [10.0, 10.0, 10.0]
    assert metrics.msis(y, lo, hi, scale=2.0, level=80) == pytest.approx(32.0 / 3.0)


def test_msis_at_95_percent():
    # alpha 0.05 -> factor 40: width 1 + 40 * 1 below
    assert metrics.msis([0.0], [1.0], [2.0], scale=1.0, level=95) == pytest.approx(41.0)


def test_forecast_scores_keys_and_values():
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    y_hat = np.array([[1.0, 2.0], [3.0, 6.0]])
    out = metrics.forecast_scores(y, y_hat, scale=0.25)
    assert set(out) == {"mae", "rmse", "smape", "mase"}
    assert out["mae"] == pytest.approx(0.5)
    assert out["rmse"] == pytest.approx(1.0)
    assert out["smape"] == pytest.approx(200.0 * 2.0 / 10.0 / 4.0)
    assert out["mase"] == pytest.approx(2.0)


def test_forecast_scores_of_intervals_leave_out_steps_without_bounds():
    y = np.array([1.0, 5.0, 3.0, 9.0])
    lo = np.array([0.0, 2.0, np.nan, 2.0])
    hi = np.array([2.0, 4.0, np.nan, 4.0])
    out = metrics.forecast_scores(y, y, scale=2.0, bounds={"80": (lo, hi)})
    # Steps 1, 2 and 4 have bounds: 1 inside; 5 and 9 above by 1 and 5.
    assert out["coverage-80"] == pytest.approx(1 / 3)
    assert out["width-80"] == pytest.approx(2.0)
    # MSIS: (width + 2 / alpha * excess) / scale per step, alpha 0.2: (2 + 0) (2 + 10) (2 + 50)
    assert out["msis-80"] == pytest.approx((2 + 12 + 52) / 3 / 2.0)
    # Without a scale MASE and MSIS are undefined; a level without bounds is left out.
    none = metrics.forecast_scores(y, y, None, {"80": (lo, hi), "95": (lo * np.nan, hi)})
    assert np.isnan(none["mase"]) and np.isnan(none["msis-80"]) and "coverage-95" not in none


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(3,\)"):
        metrics.mae([1.0, 2.0], [1.0, 2.0, 3.0])


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="season_length must be >= 1, got 0"):
        metrics.mase_scale([1.0, 2.0, 3.0], 0)
    with pytest.raises(ValueError, match="at least 2 points, got 1"):
        metrics.mase_scale([1.0], 1)
    with pytest.raises(ValueError, match=r"level is in percent .* got 0.95"):
        metrics.msis([1.0], [0.0], [2.0], scale=1.0, level=0.95)
    with pytest.raises(ValueError, match="scale must be >= 0"):
        metrics.mase([1.0], [1.0], scale=-1.0)
