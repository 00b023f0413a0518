"""`tsforecast backtest` end to end on a small two-series panel: cutoffs, leakage, baselines,
scores recomputed from its forecasts file, and agreement with `tsforecast evaluate`."""

import importlib.util
import json
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast import baselines
from tsforecast.backtesting import statsforecast_forecasts
from tsforecast.cli import cli
from tsforecast.panel import Panel

# Trains networks of its own (through the CLI): left out of `make test-fast`.
pytestmark = pytest.mark.slow

HORIZON, STEP, WINDOWS, SEASON = 12, 12, 2, 24
LENGTHS = {"a": 200, "b": 180}
MODEL = [
    "--lookback",
    "24",
    "--horizon",
    HORIZON,
    "--hidden",
    "8",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--windows",
    WINDOWS,
    "--step",
    STEP,
    "-q",
]


def panel_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frames = []
    for k, (sid, n) in enumerate(LENGTHS.items()):
        t = np.arange(n)
        y = 20 + 5 * k + 4 * np.sin(2 * np.pi * t / SEASON) + 0.02 * t + rng.normal(0, 0.5, n)
        # float32-exact values: the panel keeps float32, evaluate reads the file as float64.
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": sid,
                    "ds": pd.date_range("2024-03-01", periods=n, freq="h"),
                    "y": y.astype(np.float32).astype(np.float64),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def first_cutoff_position(sid: str) -> int:
    return LENGTHS[sid] - HORIZON - STEP * (WINDOWS - 1)


@pytest.fixture(scope="module")
def clean_and_poisoned(tmp_path_factory):
    """A backtest (--refit each) on the data, and one on the data with every value after each
    series' first cutoff replaced by garbage (--refit once: at the first cutoff both modes train
    the same model on the same data, and one training fewer keeps the test quick)."""
    root = tmp_path_factory.mktemp("backtest")
    frame = panel_frame()
    poisoned = frame.copy()
    for sid in LENGTHS:
        rows = poisoned.index[poisoned["unique_id"] == sid][first_cutoff_position(sid) :]
        poisoned.loc[rows, "y"] = 1000.0 + 50.0 * np.arange(len(rows))
    outputs = {}
    for name, data, options in (
        ("clean", frame, ["--refit", "each", "--level", 80]),
        ("poisoned", poisoned, ["--refit", "once"]),
    ):
        data.to_csv(root / f"{name}.csv", index=False)
        result = run("backtest", root / f"{name}.csv", *MODEL, *options, "--out", root / name)
        assert result.exit_code == 0, result.output
        outputs[name] = root / name
    return root, outputs


def test_cutoffs_and_columns(clean_and_poisoned):
    _, outputs = clean_and_poisoned
    forecasts = pd.read_csv(
        outputs["clean"] / "backtest_forecasts.csv", parse_dates=["cutoff", "ds"]
    )
    assert list(forecasts.columns) == [
        "unique_id",
        "cutoff",
        "ds",
        "y",
        "y_hat",
        "y_hat-lo-80",
        "y_hat-hi-80",
        "naive",
        "seasonal_naive",
        "naive2",
    ]
    assert (forecasts["y_hat-lo-80"] < forecasts["y_hat"]).all() and (
        forecasts["y_hat"] < forecasts["y_hat-hi-80"]
    ).all()
    stamps = pd.date_range("2024-03-01", periods=max(LENGTHS.values()), freq="h")
    for sid, n in LENGTHS.items():
        rows = forecasts[forecasts["unique_id"] == sid]
        # K cutoffs, S steps apart, the last one a horizon before the end of each series.
        expected = [stamps[n - HORIZON - STEP * k - 1] for k in range(WINDOWS - 1, -1, -1)]
        assert sorted(rows["cutoff"].unique()) == expected
        for cutoff, window in rows.groupby("cutoff"):
            assert list(window["ds"]) == list(
                pd.date_range(cutoff, periods=HORIZON + 1, freq="h")[1:]
            )


def test_forecasts_never_see_values_after_their_cutoff(clean_and_poisoned):
    _, outputs = clean_and_poisoned
    clean = pd.read_csv(outputs["clean"] / "backtest_forecasts.csv")
    poisoned = pd.read_csv(outputs["poisoned"] / "backtest_forecasts.csv")
    first = clean.groupby("unique_id")["cutoff"].transform("min") == clean["cutoff"]
    methods = ["y_hat", "naive", "seasonal_naive", "naive2"]
    # Training at the first cutoff and the forecasts from it only had the clean past ...
    pd.testing.assert_frame_equal(clean.loc[first, methods], poisoned.loc[first, methods])
    # ... while the poison is really there: in the actuals, and in what later cutoffs see.
    assert (poisoned.loc[first, "y"] >= 1000).all()
    assert not np.allclose(clean.loc[~first, "y_hat"], poisoned.loc[~first, "y_hat"])


def test_baseline_columns_are_the_baselines_of_the_history(clean_and_poisoned):
    root, outputs = clean_and_poisoned
    data = pd.read_csv(root / "clean.csv")
    forecasts = pd.read_csv(outputs["clean"] / "backtest_forecasts.csv")
    for sid in LENGTHS:
        history = data.loc[data["unique_id"] == sid, "y"].to_numpy()
        rows = forecasts[(forecasts["unique_id"] == sid)]
        window = rows[rows["cutoff"] == rows["cutoff"].min()]
        past = history[: first_cutoff_position(sid)]
        np.testing.assert_allclose(
            window["naive2"], baselines.naive2(past, HORIZON, SEASON), rtol=1e-12
        )
        np.testing.assert_allclose(window["seasonal_naive"], past[-SEASON:][:HORIZON], rtol=1e-12)
        np.testing.assert_allclose(window["naive"], past[-1], rtol=1e-12)
        np.testing.assert_allclose(
            window["y"], history[len(past) : len(past) + HORIZON], rtol=1e-12
        )


def test_evaluate_reproduces_the_backtest_metrics(clean_and_poisoned):
    root, outputs = clean_and_poisoned
    result = run(
        "evaluate",
        outputs["clean"] / "backtest_forecasts.csv",
        root / "clean.csv",
        "--out",
        root / "ev.json",
    )
    assert result.exit_code == 0, result.output
    evaluated = json.loads((root / "ev.json").read_text())
    backtested = json.loads((outputs["clean"] / "backtest_metrics.json").read_text())
    assert list(backtested) == ["model", "naive", "seasonal_naive", "naive2"]
    assert set(backtested["model"]) == {
        "MAE",
        "RMSE",
        "sMAPE",
        "MASE",
        "OWA",
        "coverage-80",
        "width-80",
        "MSIS-80",
    }
    for method, row in backtested.items():
        for metric, value in row.items():
            if value is None:  # the baselines have no intervals
                assert evaluated[method][metric] is None
            else:
                assert evaluated[method][metric] == pytest.approx(value, rel=1e-12), (
                    method,
                    metric,
                )


def recomputed_metrics(forecasts: pd.DataFrame, data: pd.DataFrame) -> dict[str, dict]:
    """Every method's scores, computed here from the forecasts and the data file alone: each
    window (series x cutoff) scored on its own, its MASE scaled by the in-sample seasonal-naive
    error of the series up to that cutoff, the windows' scores averaged, and OWA from the
    averages."""
    level, alpha = 80, 0.2
    columns = {"model": "y_hat", **{name: name for name in ("naive", "seasonal_naive", "naive2")}}
    per_window = {method: [] for method in columns}
    for (sid, cutoff), window in forecasts.groupby(["unique_id", "cutoff"]):
        series = data[data["unique_id"] == sid]
        past = series.loc[series["ds"] <= cutoff, "y"].to_numpy()
        y = series["y"].to_numpy()[len(past) : len(past) + HORIZON]
        assert list(window["ds"]) == list(series["ds"].iloc[len(past) : len(past) + HORIZON])
        scale = np.mean(np.abs(past[SEASON:] - past[:-SEASON]))
        for method, column in columns.items():
            f = window[column].to_numpy()
            error = np.abs(y - f)
            row = {
                "MAE": error.mean(),
                "RMSE": np.sqrt(np.mean(error**2)),
                "sMAPE": np.mean(200 * error / (np.abs(y) + np.abs(f))),
                "MASE": error.mean() / scale,
            }
            if method == "model":
                lo = window[f"y_hat-lo-{level}"].to_numpy()
                hi = window[f"y_hat-hi-{level}"].to_numpy()
                penalty = 2 / alpha * ((lo - y) * (y < lo) + (y - hi) * (y > hi))
                row[f"coverage-{level}"] = np.mean((lo <= y) & (y <= hi))
                row[f"width-{level}"] = np.mean(hi - lo)
                row[f"MSIS-{level}"] = np.mean(hi - lo + penalty) / scale
            per_window[method].append(row)
    means = {
        method: {key: np.mean([row[key] for row in rows]) for key in rows[0]}
        for method, rows in per_window.items()
    }
    reference = means["naive2"]
    for row in means.values():
        row["OWA"] = 0.5 * (row["sMAPE"] / reference["sMAPE"] + row["MASE"] / reference["MASE"])
    return means


def test_backtest_metrics_are_those_recomputed_from_the_forecasts(clean_and_poisoned):
    root, outputs = clean_and_poisoned
    data = pd.read_csv(root / "clean.csv", parse_dates=["ds"])
    forecasts = pd.read_csv(
        outputs["clean"] / "backtest_forecasts.csv", parse_dates=["cutoff", "ds"]
    )
    expected = recomputed_metrics(forecasts, data)
    backtested = json.loads((outputs["clean"] / "backtest_metrics.json").read_text())
    for method, row in expected.items():
        scored = {key: value for key, value in backtested[method].items() if value is not None}
        assert set(scored) == set(row), method
        for metric, value in row.items():
            assert scored[metric] == pytest.approx(value, rel=1e-9), (method, metric)
    # OWA is only a check where it is not 1 by construction: Naive2 is 1 by definition, and
    # naive is Naive2 here (histories under 252 points fail M4's seasonality test at m = 24).
    assert expected["model"]["OWA"] < 0.5 and expected["seasonal_naive"]["OWA"] < 0.5


def test_too_many_windows_is_refused_and_writes_nothing(tmp_path):
    panel_frame().to_csv(tmp_path / "data.csv", index=False)
    result = CliRunner().invoke(
        cli,
        [
            "backtest",
            str(tmp_path / "data.csv"),
            "--horizon",
            "12",
            "--windows",
            "20",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 2
    assert result.output == (
        "tsforecast: error: "
        "20 windows 12 steps apart with horizon 12 need more than 241 rows per series, "
        "the shortest has 180\n"
    )
    assert not (tmp_path / "out").exists()


def test_statsforecast_baselines_without_the_extra_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast", None)  # import statsforecast now fails
    panel_frame().to_csv(tmp_path / "data.csv", index=False)
    result = CliRunner().invoke(cli, ["backtest", str(tmp_path / "data.csv"), "--baselines", "ets"])
    assert result.exit_code == 2
    assert "pip install 'tsforecast[baselines]'" in result.output


@pytest.mark.skipif(
    importlib.util.find_spec("statsforecast") is None, reason="needs tsforecast[baselines]"
)
def test_statsforecast_baselines(tmp_path):
    panel_frame().to_csv(tmp_path / "data.csv", index=False)
    result = run(
        "backtest",
        tmp_path / "data.csv",
        *MODEL,
        "--baselines",
        "mstl,ets,theta",
        "--out",
        tmp_path / "out",
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "backtest_metrics.json").read_text())
    assert {"mstl", "ets", "theta"} <= set(metrics)
    # On clean seasonal data, MSTL and ETS should beat plain naive.
    assert metrics["ets"]["MASE"] < metrics["naive"]["MASE"]
    assert metrics["mstl"]["MASE"] < metrics["naive"]["MASE"]


@pytest.mark.skipif(
    importlib.util.find_spec("statsforecast") is None, reason="needs tsforecast[baselines]"
)
def test_ets_on_a_history_as_long_as_its_parameters_warns_nothing():
    # statsforecast's ETS divides by its residual degrees of freedom, 0 on 28 hourly values at
    # season 24: numpy's "divide by zero" warning reached stderr (found by fuzzing backtest).
    # After test_statsforecast_baselines, whose process has ETS compiled.
    values = 100 + 5 * np.sin(np.arange(28) * 2 * np.pi / 24) + np.arange(28) * 0.1
    panel = Panel(
        ("a",), values.astype(np.float32), np.array([0, 28]), (pd.Timestamp("2024-01-01"),), "h"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        frame = statsforecast_forecasts(("ets",), [panel], 2, (24,))
    assert len(frame) == 2 and np.isfinite(frame["ets"]).all()


def test_out_over_a_folder_of_other_files_is_refused(tmp_path):
    panel_frame().to_csv(tmp_path / "data.csv", index=False)
    result = CliRunner().invoke(
        cli, ["backtest", str(tmp_path / "data.csv"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "is a directory with other files in it, not a backtest" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_future_covariates_come_from_the_data_after_each_cutoff(tmp_path):
    # backtest forecasts from a cutoff with the covariates the file records after it: the same
    # forecast as train on the data up to the cutoff, then predict with those rows as --future.
    frame = panel_frame()
    promo = np.random.default_rng(5).integers(0, 2, len(frame)).astype(np.float64)
    frame = frame.assign(y=frame["y"] + 6.0 * promo, promo=promo)
    frame.to_csv(tmp_path / "data.csv", index=False)
    options = [*MODEL[: MODEL.index("--windows")], "--future-covariates", "promo"]
    result = run(
        "backtest", tmp_path / "data.csv", *options, "--windows", 1, "--out", tmp_path / "bt"
    )
    assert result.exit_code == 0, result.output
    backtest = pd.read_csv(tmp_path / "bt" / "backtest_forecasts.csv")

    ends = frame.groupby("unique_id")["ds"].transform("size") - HORIZON
    position = frame.groupby("unique_id").cumcount()
    frame[position < ends].to_csv(tmp_path / "history.csv", index=False)
    after = frame[position >= ends][["unique_id", "ds", "promo"]]
    after.to_csv(tmp_path / "future.csv", index=False)
    after.assign(promo=1.0 - after["promo"]).to_csv(tmp_path / "flipped.csv", index=False)
    trained = run("train", tmp_path / "history.csv", *options, "--out", tmp_path / "model")
    assert trained.exit_code == 0, trained.output
    forecasts = {}
    for name in ("future", "flipped"):
        predicted = run(
            "predict", "--model", tmp_path / "model", "--future", tmp_path / f"{name}.csv"
        )
        assert predicted.exit_code == 0, predicted.output
        forecasts[name] = pd.read_csv(pd.io.common.StringIO(predicted.stdout))
    np.testing.assert_allclose(backtest["y_hat"], forecasts["future"]["y_hat"], rtol=1e-5)
    # The covariate matters to this model, so the agreement above says which values it read.
    assert not np.allclose(backtest["y_hat"], forecasts["flipped"]["y_hat"], rtol=1e-3)


def test_evaluate_with_the_backtests_fill_scores_a_gapped_series_as_the_backtest(tmp_path):
    frame = panel_frame()
    gaps = frame.index[frame["unique_id"] == "a"][[30, 31, 32, 90, 140]]
    frame.loc[gaps, "y"] = np.nan  # empty cells, before the first cutoff
    frame.to_csv(tmp_path / "gapped.csv", index=False)
    out = tmp_path / "bt"
    options = [*MODEL, "--refit", "once", "--level", 80, "--fill", "interpolate"]
    result = run("backtest", tmp_path / "gapped.csv", *options, "--out", out)
    assert result.exit_code == 0, result.output
    backtested = json.loads((out / "backtest_metrics.json").read_text())

    def evaluated(*fill):
        result = run(
            "evaluate", out / "backtest_forecasts.csv", tmp_path / "gapped.csv", *fill,
            "--out", tmp_path / "ev.json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / "ev.json").read_text()), result.stderr

    same, _ = evaluated("--fill", "interpolate")
    for method in ("model", "seasonal_naive", "naive2"):
        for metric in ("MASE", "sMAPE", "OWA"):
            assert same[method][metric] == pytest.approx(backtested[method][metric], rel=1e-9)
    assert same["model"]["MSIS-80"] == pytest.approx(backtested["model"]["MSIS-80"], rel=1e-9)
    # Without --fill the history's gaps are left out of the scale (series a's), and it says so.
    apart, stderr = evaluated()
    assert apart["model"]["MASE"] != pytest.approx(backtested["model"]["MASE"], rel=1e-6)
    assert "5 values of" in stderr and "give --fill" in stderr
