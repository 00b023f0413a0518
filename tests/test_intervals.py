"""Prediction intervals end to end: calibrated coverage on fresh data, non-crossing quantile
heads, pooled conformal scores rescaled by each window's recent spread, level errors, old model
directories.

Two models are trained once per session through the CLI on two hourly series with known
Gaussian noise; coverage, and width against the interval of that noise, are then measured on a
later stretch of the same processes, forecast from many origins at once. The interval scores in
metrics.json are recomputed from the models' own forecasts of the validation windows.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from statistics import NormalDist

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from tsforecast import artifacts
from tsforecast.cli import cli
from tsforecast.data import Panel
from tsforecast.forecast import Forecaster, forecast
from tsforecast.intervals import (
    conformal_quantile,
    interval_columns,
    min_calibration_windows,
    pinball_loss,
    quantile_levels,
    recent_spread,
)
from tsforecast.models import QuantileForecaster

TRAIN_ROWS = 2000
FRESH_ROWS = 1200
LOOKBACK = 24
HORIZON = 6
VAL_SIZE = 800
SIGMA = 2.0
SEASON = 24
# Each series' level and the factor its daily sine and noise are multiplied by.
SERIES = {"small": (100.0, 1.0), "large": (5000.0, 50.0)}
# The targets of the last VAL_SIZE windows of the training rows validate; they start at these
# positions, and the values before the first are the training part (scaling, MASE scale).
VAL_ORIGINS = range(TRAIN_ROWS - HORIZON - VAL_SIZE + 1, TRAIN_ROWS - HORIZON + 1)
ARGS = (
    "--hidden",
    "8",
    "--lookback",
    str(LOOKBACK),
    "--horizon",
    str(HORIZON),
    "--val-size",
    str(VAL_SIZE),
    "--epochs",
    "15",
    "--batch-size",
    "32",
    "--lr",
    "0.01",
    "--seed",
    "0",
    "-q",
    # Additive intervals, so the checks below can rescale them by each window's spread by hand
    # (log intervals are multiplicative: tests/test_transforms.py).
    "--transform",
    "none",
)


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def two_series(n: int) -> pd.DataFrame:
    """Long `unique_id, ds, y`: a daily sine plus N(0, SIGMA²) noise around 100, and an
    independent one 50 times larger around 5000, so the pooled scores must be rescaled per
    series."""
    rng = np.random.default_rng(7)
    t = np.arange(n)
    ds = pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    frames = []
    for sid, (level, factor) in SERIES.items():
        y = level + factor * (10.0 * np.sin(2 * np.pi * t / SEASON) + rng.normal(0.0, SIGMA, n))
        frames.append(pd.DataFrame({"unique_id": sid, "ds": ds, "y": np.round(y, 4)}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("intervals")
    frame = two_series(TRAIN_ROWS + FRESH_ROWS)
    train = frame.groupby("unique_id", sort=False).head(TRAIN_ROWS)
    path = root / "train.csv"
    train.to_csv(path, index=False)
    return path, frame


def train(data: tuple[Path, pd.DataFrame], name: str, *extra: str) -> Path:
    path, _ = data
    out = path.parent / name
    result = invoke("train", path, *ARGS, *extra, "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def conformal_model(data) -> Path:
    return train(data, "conformal")


@pytest.fixture(scope="session")
def quantile_model(data) -> Path:
    return train(
        data,
        "quantile",
        "--interval-method",
        "quantile",
        "--level",
        "50",
        "--level",
        "80",
        "--level",
        "95",
    )


def fresh_forecasts(
    model_dir: Path, frame: pd.DataFrame, levels: tuple[float, ...]
) -> pd.DataFrame:
    """Forecasts from every HORIZON-th origin of the fresh stretch (see `forecasts_from`)."""
    return forecasts_from(
        model_dir, frame, range(TRAIN_ROWS, TRAIN_ROWS + FRESH_ROWS, HORIZON), levels
    )


def forecasts_from(
    model_dir: Path, frame: pd.DataFrame, origins: range, levels: tuple[float, ...]
) -> pd.DataFrame:
    """Forecasts of the HORIZON values from each of `origins` (positions in every series), each
    from the LOOKBACK values before it, in one call, joined with the actuals: the origins are a
    panel of short series that reuse the trained ids (each id resolves to its own scaling
    statistics). Rows by series (in `frame`'s order), then origin, then step."""
    artifact = artifacts.load(model_dir)
    ids, parts, starts, actual = [], [], [], []
    for sid, series in frame.groupby("unique_id", sort=False):
        y = series["y"].to_numpy(np.float32)
        ds = pd.DatetimeIndex(series["ds"])
        for origin in origins:
            ids.append(sid)
            parts.append(y[origin - LOOKBACK : origin])
            starts.append(ds[origin - LOOKBACK])
            actual.append(y[origin : origin + HORIZON])
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])])
    panel = Panel(tuple(ids), np.concatenate(parts), offsets, tuple(starts), "h")
    out = forecast(Forecaster.of(artifact), panel, levels)
    out["y"] = np.concatenate(actual)
    return out


def coverage(frame: pd.DataFrame, level: float) -> float:
    lo, hi = interval_columns(level)
    return float(((frame["y"] >= frame[lo]) & (frame["y"] <= frame[hi])).mean())


def interval_score(y, lo, hi, level: float) -> float:
    """Mean interval score (MSIS before scaling): width plus 2/alpha times each miss."""
    y, lo, hi = (np.asarray(a, np.float64) for a in (y, lo, hi))
    alpha = 1 - level / 100
    return float(np.mean(hi - lo + 2 / alpha * ((lo - y) * (y < lo) + (y - hi) * (y > hi))))


def width_of_the_noise(sid: str, level: float) -> float:
    """The width of the central `level` interval of series `sid`'s true noise."""
    _, factor = SERIES[sid]
    return 2 * factor * SIGMA * NormalDist().inv_cdf(0.5 + level / 200)


def oracle_interval(sid: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The best interval there is for the fresh stretch of series `sid`: the true sine plus and
    minus half the width of the true noise's."""
    base, factor = SERIES[sid]
    t = np.arange(TRAIN_ROWS, TRAIN_ROWS + FRESH_ROWS)
    centre = base + factor * 10.0 * np.sin(2 * np.pi * t / SEASON)
    radius = width_of_the_noise(sid, level) / 2
    return centre - radius, centre + radius


def assert_close_to_the_oracle(fresh: pd.DataFrame, level: float) -> None:
    """Coverage near `level` is easy with an interval far too wide; the width and the interval
    score bound it from above: both within a modest factor of the oracle's."""
    lo, hi = interval_columns(level)
    for sid, rows in fresh.groupby("unique_id"):
        best_lo, best_hi = oracle_interval(sid, level)
        width = (rows[hi] - rows[lo]).mean() / (best_hi - best_lo).mean()
        assert 0.95 < width < 1.25, (sid, level, width)
        score = interval_score(rows["y"], rows[lo], rows[hi], level) / interval_score(
            rows["y"], best_lo, best_hi, level
        )
        assert score < 1.2, (sid, level, score)


@pytest.mark.slow
def test_conformal_intervals_cover_their_level_on_fresh_data(conformal_model, data):
    fresh = fresh_forecasts(conformal_model, data[1], (80.0, 95.0))
    assert len(fresh) == 2 * FRESH_ROWS
    for level in (80.0, 95.0):
        for sid, rows in fresh.groupby("unique_id"):
            assert abs(100 * coverage(rows, level) - level) <= 5, (
                sid,
                level,
                coverage(rows, level),
            )
        assert_close_to_the_oracle(fresh, level)
    (lo80, hi80), (lo95, hi95) = interval_columns(80.0), interval_columns(95.0)
    assert ((fresh[lo95] < fresh[lo80]) & (fresh[hi80] < fresh[hi95])).all()
    for _, rows in fresh.groupby("unique_id"):
        assert coverage(rows, 80.0) < coverage(rows, 95.0)


def recent_spread_by_hand(inputs: np.ndarray, std: float) -> float:
    """A window's recent spread: its LOOKBACK inputs hold fewer than two seasons, so the mean
    absolute change from one step to the next, and at least a tenth of the series' std."""
    return max(float(np.mean(np.abs(np.diff(inputs.astype(np.float64))))), 0.1 * std)


@pytest.mark.slow
def test_pooled_scores_are_rescaled_by_each_windows_recent_spread(conformal_model, data):
    fresh = fresh_forecasts(conformal_model, data[1], (95.0,))
    lo, hi = interval_columns(95.0)
    width = (fresh[hi] - fresh[lo]).to_numpy().reshape(2, -1, HORIZON)
    scaler = pd.read_csv(conformal_model / "scaler.csv").set_index("unique_id")["std"]
    origins = range(TRAIN_ROWS, TRAIN_ROWS + FRESH_ROWS, HORIZON)
    spread = np.array(
        [
            [
                recent_spread_by_hand(group["y"].to_numpy(np.float32)[o - LOOKBACK : o], std)
                for o in origins
            ]
            for (_, group), std in zip(
                data[1].groupby("unique_id", sort=False), scaler[list(SERIES)], strict=True
            )
        ]
    )
    # One radius per step in units of the spread, shared by every window of both series.
    per_spread = width / spread[..., None]
    np.testing.assert_allclose(per_spread, np.broadcast_to(per_spread[0, :1], width.shape), 1e-5)
    # Gaussian noise of std SIGMA: a 95% interval is at least 2 * 1.96 * SIGMA wide, and a model
    # that learnt the sine keeps it within a modest factor of that.
    assert 2 * 1.96 * SIGMA * 0.9 < width[0].mean() < 2 * 1.96 * SIGMA * 1.6


@pytest.mark.slow
def test_series_spread_gives_each_series_one_width_per_step(data):
    model_dir = train(data, "series-spread", "--interval-spread", "series", "--epochs", "1")
    config = json.loads((model_dir / "config.json").read_text())["config"]
    assert config["intervals"]["spread"] == "series"
    fresh = fresh_forecasts(model_dir, data[1], (95.0,))
    lo, hi = interval_columns(95.0)
    width = (fresh[hi] - fresh[lo]).to_numpy().reshape(2, -1, HORIZON)
    scaler = pd.read_csv(model_dir / "scaler.csv").set_index("unique_id")["std"]
    np.testing.assert_allclose(width, np.broadcast_to(width[:, :1], width.shape), rtol=1e-6)
    np.testing.assert_allclose(width[1] / width[0], scaler["large"] / scaler["small"], rtol=1e-6)


@pytest.mark.slow
def test_quantile_heads_never_cross_and_cover(quantile_model, data):
    fresh = fresh_forecasts(quantile_model, data[1], (50.0, 80.0, 95.0))
    order = [
        "y_hat-lo-95",
        "y_hat-lo-80",
        "y_hat-lo-50",
        "y_hat",
        "y_hat-hi-50",
        "y_hat-hi-80",
        "y_hat-hi-95",
    ]
    assert (np.diff(fresh[order].to_numpy(), axis=1) >= 0).all()
    for level in (80.0, 95.0):
        assert abs(100 * coverage(fresh, level) - level) <= 5, (level, coverage(fresh, level))
    for level in (50.0, 80.0, 95.0):
        assert_close_to_the_oracle(fresh, level)


class DenseForecaster(nn.Module):
    """The simplest base network: lookback values -> `outputs` numbers."""

    outputs: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.Dense(self.outputs)(x.reshape(x.shape[0], -1))


def test_quantile_head_is_monotone_for_any_weights():
    quantiles = quantile_levels((50.0, 80.0, 95.0))
    assert quantiles == pytest.approx((0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975))
    # The head wraps any base network; a dense layer with large random weights on large inputs
    # gives wild raw outputs, and the quantiles must still come out sorted.
    head = QuantileForecaster(
        DenseForecaster(3 * len(quantiles)), horizon=3, n_quantiles=len(quantiles)
    )
    rng = np.random.default_rng(2)
    x = jnp.asarray(5 * rng.normal(size=(256, 8, 1)), jnp.float32)
    # Only the shapes of an initialisation; the weights are drawn by numpy (each jax.random call
    # outside jit compiles a program of its own).
    shapes = jax.eval_shape(lambda: head.init(jax.random.PRNGKey(0), x)["params"])
    params = jax.tree_util.tree_map(
        lambda p: jnp.asarray(20 * rng.normal(size=p.shape), jnp.float32), shapes
    )
    out = np.asarray(jax.jit(head.apply)({"params": params}, x))
    assert out.shape == (256, 3, len(quantiles))
    assert (np.diff(out, axis=-1) >= 0).all()
    assert np.ptp(out[..., 3]) > 100  # the median really is unconstrained


def test_pinball_loss_matches_hand_computed_values():
    loss = pinball_loss((0.1, 0.5, 0.9))
    pred = np.array([[[0.0, 1.0, 2.0]]], np.float32)  # <[1, 1, 3]>
    target = np.array([[1.5]], np.float32)
    # errors 1.5, 0.5, -0.5 -> 0.1*1.5, 0.5*0.5, 0.1*0.5, averaged
    assert float(loss(pred, target)[0, 0]) == pytest.approx((0.15 + 0.25 + 0.05) / 3)


def test_conformal_quantile_is_the_finite_sample_corrected_order_statistic():
    scores = np.arange(1, 20, dtype=np.float64)[:, None]  # 19 scores: 1..19
    assert conformal_quantile(scores, 95.0)[0] == 19  # ceil(20 * 0.95) = 19th smallest
    assert conformal_quantile(scores, 80.0)[0] == 16  # ceil(20 * 0.8) = 16th
    assert min_calibration_windows(95.0) == 19 and min_calibration_windows(80.0) == 4


def test_recent_spread_is_the_mean_seasonal_change_of_each_windows_inputs():
    rng = np.random.default_rng(3)
    history = np.concatenate([rng.normal(0, 1, 40), np.zeros(30), rng.normal(5, 3, 50)])
    std = np.array([1.0, 2.0, 3.0, 4.0])
    starts, lookback = np.array([0, 30, 40, 75]), 8
    by_hand = []
    for start, floor in zip(starts, 0.1 * std, strict=True):
        window = history[start : start + lookback]
        # A lookback of two seasons of 4: the change over one season, 4 of them.
        by_hand.append(max(np.mean(np.abs(window[4:] - window[:4])), floor))
    np.testing.assert_allclose(recent_spread(history, starts, lookback, 4, std), by_hand)
    assert recent_spread(history, starts, lookback, 4, std)[2] == pytest.approx(0.3)  # flat
    # Five steps of a season of 5 do not hold two seasons: one-step changes.
    one_step = [max(np.mean(np.abs(np.diff(history[s : s + 5]))), 0.1) for s in (0, 50)]
    np.testing.assert_allclose(
        recent_spread(history, np.array([0, 50]), 5, 5, np.ones(2)), one_step
    )


@pytest.mark.slow
def test_predict_writes_interval_columns_in_original_units(conformal_model, data):
    result = invoke("predict", "--model", conformal_model, "--level", "95", "--level", "80")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == [
        "unique_id",
        "ds",
        "y_hat",
        "y_hat-lo-80",
        "y_hat-hi-80",
        "y_hat-lo-95",
        "y_hat-hi-95",
        "method",
    ]
    assert len(frame) == 2 * HORIZON
    assert (frame["y_hat-lo-95"] < frame["y_hat-lo-80"]).all() and (
        frame["y_hat-lo-80"] < frame["y_hat"]
    ).all()
    assert (frame["y_hat"] < frame["y_hat-hi-80"]).all() and (
        frame["y_hat-hi-80"] < frame["y_hat-hi-95"]
    ).all()
    large = frame[frame["unique_id"] == "large"]
    assert large["y_hat"].between(4000, 6000).all()


@pytest.mark.slow
def test_metrics_json_scores_intervals_out_of_sample(conformal_model, quantile_model):
    for model_dir, method in ((conformal_model, "conformal"), (quantile_model, "quantile")):
        intervals = json.loads((model_dir / "metrics.json").read_text())["intervals"]
        assert intervals["method"] == method
        assert (
            intervals["scored_on"]
            == f"the later {VAL_SIZE // 2} of {VAL_SIZE} validation windows per series"
        )
        for level in ("80", "95"):
            for who in ("served", "seasonal_naive"):
                scores = intervals[who][level]
                assert abs(100 * scores["coverage"] - float(level)) <= 10, (
                    method,
                    who,
                    level,
                    scores,
                )
                # Bounded by the width of the true noise's interval, which seasonal naive's
                # errors (the difference of two noise values) spread sqrt(2) times wider.
                spread = 1.0 if who == "served" else math.sqrt(2)
                best = np.mean([width_of_the_noise(sid, float(level)) for sid in SERIES])
                assert 0.95 < scores["width"] / (spread * best) < 1.3, (method, who, level)
                assert scores["msis"] > 0


def scored_by_hand(y, lo, hi, scale, level: float) -> dict[str, float]:
    """Coverage, width and MSIS of intervals <float>[S, V, H] per series, averaged over series."""
    per_series = [
        (
            np.mean((lo[i] <= y[i]) & (y[i] <= hi[i])),
            np.mean(hi[i] - lo[i]),
            interval_score(y[i], lo[i], hi[i], level) / scale[i],
        )
        for i in range(len(y))
    ]
    return dict(zip(("coverage", "width", "msis"), np.mean(per_series, axis=0), strict=True))


def split_conformal_by_hand(y, point, spread, scale, level: float, calibrate: slice) -> dict:
    """Intervals around `point` <float>[S, V, H] scored on the later half of the V windows, with
    radii per step from the `calibrate` windows of every series: the ceil((n + 1) * level)-th
    smallest of their n absolute errors in units of each window's `spread` <float>[S, V]."""
    errors = (np.abs(y - point)[:, calibrate] / spread[:, calibrate, None]).reshape(-1, HORIZON)
    ranked = np.sort(errors, axis=0)
    later = slice(VAL_SIZE // 2, None)
    radius = ranked[math.ceil((len(ranked) + 1) * level / 100) - 1] * spread[:, later, None]
    at = point[:, later]
    return scored_by_hand(y[:, later], at - radius, at + radius, scale, level)


def assert_scores(reported: dict, expected: dict, rel: float) -> None:
    # Coverage to within a few of a series' 2400 scored values: the forecasts here are computed
    # apart from training's, which may round the last float32 digit differently.
    assert reported["coverage"] == pytest.approx(expected["coverage"], abs=1e-3)
    assert reported["width"] == pytest.approx(expected["width"], rel=rel)
    assert reported["msis"] == pytest.approx(expected["msis"], rel=rel)


def validation_windows(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """The validation windows of the training rows, <float>[S, VAL_SIZE, HORIZON] each: the
    actuals and seasonal naive; each window's recent spread <float>[S, VAL_SIZE] (which scales
    the conformal scores); and per series <float>[S] the MASE scale of the training part.
    Values as float32, as training keeps them."""
    values = np.stack(
        [group["y"].to_numpy(np.float32) for _, group in frame.groupby("unique_id", sort=False)]
    ).astype(np.float64)
    first = VAL_ORIGINS[0]
    std = values[:, :first].std(axis=1)
    scale = np.mean(np.abs(values[:, SEASON:first] - values[:, : first - SEASON]), axis=1)
    y = np.stack([values[:, o : o + HORIZON] for o in VAL_ORIGINS], axis=1)
    naive = np.stack([values[:, o - SEASON : o - SEASON + HORIZON] for o in VAL_ORIGINS], axis=1)
    spread = np.array(
        [
            [recent_spread_by_hand(values[i, o - LOOKBACK : o], std[i]) for o in VAL_ORIGINS]
            for i in range(len(values))
        ]
    )
    return y, naive, spread, scale


def own_validation_forecasts(model_dir: Path, frame: pd.DataFrame, levels) -> pd.DataFrame:
    metrics = json.loads((model_dir / "metrics.json").read_text())
    # Forecasts from LOOKBACK values alone are training's only where the network serves.
    assert set(metrics["serving"]["steps"]) == {"model"}
    return forecasts_from(model_dir, frame, VAL_ORIGINS, levels)


EARLIER, LATER = slice(None, VAL_SIZE // 2), slice(VAL_SIZE // 2, None)


@pytest.mark.slow
def test_metrics_json_conformal_scores_are_calibrated_on_earlier_windows_scored_on_later(
    conformal_model, quantile_model, data
):
    """metrics.json's conformal interval scores recomputed from the validation windows, for the
    conformal model's own forecasts and for seasonal naive: radii from the earlier half of each
    series' windows, scores from the later half."""
    y, naive, spread, scale = validation_windows(data[1])
    point = own_validation_forecasts(conformal_model, data[1], ())["y_hat"].to_numpy()
    point = point.reshape(y.shape)
    intervals = json.loads((conformal_model / "metrics.json").read_text())["intervals"]
    for level in (80.0, 95.0):
        reported = intervals["served"][f"{level:g}"]
        assert_scores(
            reported, split_conformal_by_hand(y, point, spread, scale, level, EARLIER), 1e-4
        )
        # Radii from the scored windows themselves (in sample) would give other scores.
        in_sample = split_conformal_by_hand(y, point, spread, scale, level, LATER)
        assert reported["msis"] != pytest.approx(in_sample["msis"], rel=1e-3), in_sample
    for model_dir, levels in (
        (conformal_model, (80.0, 95.0)),
        (quantile_model, (50.0, 80.0, 95.0)),
    ):
        intervals = json.loads((model_dir / "metrics.json").read_text())["intervals"]
        for level in levels:
            # No model in it: exact up to the float32 the data is kept in.
            assert_scores(
                intervals["seasonal_naive"][f"{level:g}"],
                split_conformal_by_hand(y, naive, spread, scale, level, EARLIER),
                rel=1e-6,
            )


@pytest.mark.slow
def test_metrics_json_scores_a_quantile_model_by_its_own_bounds_on_later_windows(
    quantile_model, data
):
    """metrics.json's interval scores of a quantile model recomputed from its own bounds on the
    later half of the validation windows."""
    y, _, _, scale = validation_windows(data[1])
    levels = (50.0, 80.0, 95.0)
    own = own_validation_forecasts(quantile_model, data[1], levels)
    intervals = json.loads((quantile_model / "metrics.json").read_text())["intervals"]
    for level in levels:
        lo, hi = (own[c].to_numpy().reshape(y.shape) for c in interval_columns(level))
        reported = intervals["served"][f"{level:g}"]
        assert_scores(
            reported, scored_by_hand(y[:, LATER], lo[:, LATER], hi[:, LATER], scale, level), 1e-4
        )
        # The earlier half would give other scores.
        earlier = scored_by_hand(y[:, EARLIER], lo[:, EARLIER], hi[:, EARLIER], scale, level)
        assert reported["msis"] != pytest.approx(earlier["msis"], rel=1e-3), earlier


@pytest.mark.slow
def test_plot_shades_intervals(conformal_model, tmp_path):
    plain, shaded = tmp_path / "plain.png", tmp_path / "shaded.png"
    assert (
        invoke("predict", "--model", conformal_model, "--plot", plain, "--plot-max", "1").exit_code
        == 0
    )
    result = invoke(
        "predict", "--model", conformal_model, "--level", "80", "--plot", shaded, "--plot-max", "1"
    )
    assert result.exit_code == 0, result.output
    assert shaded.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shaded.read_bytes() != plain.read_bytes()


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("level", ["0", "100", "-5", "150"])
def test_level_outside_0_100_exits_2(conformal_model, level):
    assert one_error_line(invoke("predict", "--model", conformal_model, "--level", level)) == (
        f"tsforecast: error: --level must be in (0, 100), got {float(level):g}; "
        "available: any level in (0, 100), e.g. 80 or 95"
    )


@pytest.mark.slow
def test_level_a_quantile_model_was_not_trained_for_exits_2(quantile_model):
    assert one_error_line(invoke("predict", "--model", quantile_model, "--level", "90")) == (
        "tsforecast: error: --level 90 is not one this quantile model was trained for; "
        "available: 50, 80, 95 (this quantile model's levels; retrain with --level to change them)"
    )


@pytest.mark.slow
def test_level_beyond_the_calibration_windows_exits_2(conformal_model):
    # 2 series x 800 windows = 1600 scores per step: 99.9% needs 999, 99.99% needs 9999.
    assert invoke("predict", "--model", conformal_model, "--level", "99.9").exit_code == 0
    line = one_error_line(invoke("predict", "--model", conformal_model, "--level", "99.99"))
    assert line == (
        "tsforecast: error: --level 99.99 needs 9999 calibration windows and the model has 1600; "
        "available: levels up to 99.9 (or retrain with a larger --val-size)"
    )


def test_train_refuses_a_bad_level_and_writes_nothing(data, tmp_path):
    result = invoke("train", data[0], *ARGS, "--level", "100", "--out", tmp_path / "model")
    assert one_error_line(result).startswith(
        "tsforecast: error: --level must be in (0, 100), got 100"
    )
    assert not (tmp_path / "model").exists()


def test_model_directory_from_before_intervals_predicts_but_refuses_levels():
    fixtures = Path(__file__).parent / "fixtures"  # written by tsforecast 0.1.0, before intervals
    data, old = fixtures / "tiny_hourly.csv", fixtures / "model_v1"
    result = invoke("predict", data, "--model", old)
    assert result.exit_code == 0, result.output
    # What that version printed, and the method column that every forecast now has.
    lines = (fixtures / "model_v1_forecast.csv").read_text().splitlines()
    expected = [lines[0] + ",method"] + [line + ",model" for line in lines[1:]]
    assert result.stdout.splitlines() == expected
    assert one_error_line(invoke("predict", data, "--model", old, "--level", "80")) == (
        "tsforecast: error: this model directory has no conformal calibration scores "
        "(it predates prediction intervals); retrain it to predict with --level"
    )
