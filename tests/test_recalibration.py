"""Interval recalibration from the actuals (tsforecast.recalibration): the quantile tracker
against hand-computed multipliers, the matching of a made-up forecast log with DATA, and the
real CLI: `predict --registry` on growing data whose level shifts, `monitor`, `registry list`.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast.cli import cli
from tsforecast.forecast_log import ForecastLog, Header
from tsforecast.panel import Panel
from tsforecast.recalibration import (
    BOUNDS,
    ETA,
    fit,
    origin_spacing,
    outcomes,
    replay,
    rescale,
    step_etas,
)

# --- the tracker ---------------------------------------------------------------------------------


def test_replay_matches_hand_computed_multipliers():
    # Level 90: alpha 0.1; eta 0.1 moves the log multiplier +0.09 on a miss, -0.01 on a hit.
    missed = np.array([[1, 0], [1, np.nan], [0, 1], [1, 1]], dtype=float)
    state = replay(missed, 90.0, eta=0.1)
    # Step 1: 0.09, 0.18, 0.17, 0.26; step 2: -0.01, (no actual yet), 0.08, 0.17.
    assert state == pytest.approx([0.26, 0.17], abs=1e-12)


def test_replay_takes_shares_of_series_and_starts_from_1():
    # A quarter of the series missed at 80% (alpha 0.2), eta 0.2: 0.2 * (0.25 - 0.2) = 0.01.
    assert replay(np.array([[0.25]]), 80.0, eta=0.2) == pytest.approx([0.01], abs=1e-12)
    assert replay(np.zeros((0, 3)), 90.0).tolist() == [0.0, 0.0, 0.0]


def test_replay_is_stable_where_misses_come_at_rate_alpha():
    # One miss in ten at 90%: +0.9 eta, then nine times -0.1 eta, back to where it was.
    period = [1.0] + [0.0] * 9
    state = replay(np.array(period * 5)[:, None], 90.0, eta=0.3)
    assert state == pytest.approx([0.0], abs=1e-12)


def test_replay_stays_within_its_bounds():
    # eta 1 at 90%: +0.9, +0.9 (clipped at log 3), then a hit: log 3 - 0.1.
    up = replay(np.array([[1.0], [1.0], [0.0]]), 90.0, eta=1.0, bounds=(0.5, 3.0))
    assert up == pytest.approx([math.log(3.0) - 0.1], abs=1e-12)
    # 50%: alpha 0.5; two hits go -0.5, -1.0 (clipped at log 0.5), then a miss: +0.5.
    down = replay(np.array([[0.0], [0.0], [1.0]]), 50.0, eta=1.0, bounds=(0.5, 3.0))
    assert down == pytest.approx([math.log(0.5) + 0.5], abs=1e-12)


def test_replay_takes_a_rate_per_step():
    # One miss at 90%: each step moves by its own eta times 0.9.
    assert replay(np.ones((1, 2)), 90.0, eta=np.array([0.2, 0.1])) == pytest.approx([0.18, 0.09])


def test_a_step_that_arrives_after_later_origins_moves_slower():
    # Origins 3 steps apart: steps 1-3 arrive before the next origin, 4-6 one origin later, 7
    # two later.
    expected = [0.15, 0.15, 0.15, 0.075, 0.075, 0.075, 0.05]
    np.testing.assert_allclose(step_etas(0.15, 7, 3.0), expected)
    np.testing.assert_allclose(step_etas(0.15, 3, math.inf), [0.15] * 3)


def test_origin_spacing_is_the_median_number_of_steps_between_origins():
    hours = pd.Timestamp("2024-01-01") + pd.to_timedelta([0, 24, 72, 96], unit="h")
    assert origin_spacing(pd.DatetimeIndex(hours), "h") == 24.0  # gaps 24, 48, 24
    months = pd.DatetimeIndex(["2024-01-01", "2024-02-01", "2024-04-01"])
    assert origin_spacing(months, "MS") == 1.5
    assert origin_spacing(hours[:1], "h") == math.inf


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"level": 100.0}, "level must be in (0, 100) percent, got level = 100.0"),
        ({"eta": 0.0}, "eta must be positive, got eta = 0.0"),
        ({"bounds": (1.5, 3.0)}, "bounds must hold 1 and be positive, got bounds = (1.5, 3.0)"),
    ],
)
def test_replay_names_a_bad_argument(kwargs, message):
    arguments = {"level": 90.0, **kwargs}
    with pytest.raises(ValueError) as error:
        replay(np.zeros((1, 2)), **arguments)
    assert str(error.value) == message


def test_rescale_multiplies_each_side_s_distance_from_the_point():
    lo, hi = rescale(
        np.array([10.0, 10.0]), np.array([8.0, 9.0]), np.array([13.0, 10.5]), [1.5, 0.5]
    )
    assert lo.tolist() == [7.0, 9.5] and hi.tolist() == [14.5, 10.25]


# --- matching a log with DATA --------------------------------------------------------------------


def made_up_log() -> ForecastLog:
    """Version v forecasts 3 hours of series a (and a short series s, and a series gone from
    DATA) from 04:00 twice (the later issue counts) and from 07:00; version w once."""
    t = pd.Timestamp("2024-01-01")
    hour = pd.Timedelta(hours=1)
    frames, headers = [], {}
    issues = [
        # (file, version, origin, {series: (lo, hi) of its 3 steps})
        ("1.parquet", "v", 4, {"a": ([0, 0, 0], [9, 9, 9]), "s": ([0] * 3, [0] * 3)}),
        ("2.parquet", "v", 4, {"a": ([5, 7, 7], [5.5, 9, 9]), "gone": ([0] * 3, [0] * 3)}),
        ("3.parquet", "v", 7, {"a": ([0, 10, 0], [1, 10, 1])}),
        ("4.parquet", "w", 7, {"a": ([0, 0, 0], [1, 1, 1])}),
    ]
    for k, (name, version, origin, series) in enumerate(issues):
        headers[name] = Header(
            version, t + k * hour, "m", 3, "h", (24,), ("90",), {}, {"target": "y"}
        )
        for series_id, (lo, hi) in series.items():
            frames.append(
                pd.DataFrame(
                    {
                        "unique_id": series_id,
                        "ds": t + (origin + np.arange(1, 4)) * hour,
                        "step": [1, 2, 3],
                        "y_hat": np.mean([lo, hi], axis=0),
                        "y_hat-lo-90": np.asarray(lo, dtype=float),
                        "y_hat-hi-90": np.asarray(hi, dtype=float),
                        "method": "model",
                        "origin": t + origin * hour,
                        "history_start": t,
                        "issue": name,
                    }
                )
            )
    return ForecastLog(Path("log"), headers, pd.concat(frames, ignore_index=True), ())


def made_up_data() -> Panel:
    """Series a: 0, 1, ..., 9 hourly from midnight with 08:00 missing (NaN); s: 3 hours."""
    a = np.arange(10, dtype=np.float32)
    a[8] = np.nan
    values = np.concatenate([a, np.ones(3, np.float32)])
    t = pd.Timestamp("2024-01-01")
    return Panel(("a", "s"), values, np.array([0, 10, 13]), (t, t), "h")


def test_outcomes_count_each_arrived_target_of_the_last_issue_per_origin():
    log = made_up_log().of_version("v")
    (level, done), *others = outcomes(log, made_up_data(), lookback=5).items()
    assert level == "90" and not others
    assert list(done.origins) == [
        pd.Timestamp("2024-01-01 04:00"),
        pd.Timestamp("2024-01-01 07:00"),
    ]
    # From 04:00, issue 2's bounds (issue 1 is superseded; s is too short, `gone` gone):
    # 5 in [5, 5.5], 6 below 7, 7 in [7, 9]. From 07:00: 08:00 missing, 9 outside [10, 10],
    # 10:00 not arrived.
    assert done.targets.tolist() == [[1, 1, 1], [0, 1, 0]]
    np.testing.assert_array_equal(done.missed, [[0, 1, 0], [np.nan, 1, np.nan]])
    assert done.until == pd.Timestamp("2024-01-01 09:00")


def test_fit_divides_eta_by_how_late_a_step_arrives():
    # Hourly origins 04:00 and 05:00, 3 steps each, every interval [100, 100] missed: step 2
    # of 04:00 arrives after the 05:00 forecast, step 3 after two more origins.
    t = pd.Timestamp("2024-01-01")
    hour = pd.Timedelta(hours=1)
    header = Header("v", t, "m", 3, "h", (24,), ("90",), {}, {"target": "y"})
    rows = pd.concat(
        pd.DataFrame(
            {
                "unique_id": "a",
                "ds": t + (origin + np.arange(1, 4)) * hour,
                "step": [1, 2, 3],
                "y_hat": 100.0,
                "y_hat-lo-90": 100.0,
                "y_hat-hi-90": 100.0,
                "method": "model",
                "origin": t + origin * hour,
                "history_start": t,
                "issue": f"{origin}.parquet",
            }
        )
        for origin in (4, 5)
    )
    log = ForecastLog(Path("log"), {"4.parquet": header, "5.parquet": header}, rows, ())
    data = Panel(("a",), np.arange(12, dtype=np.float32), np.array([0, 12]), (t,), "h")
    multipliers = fit(log, data, "v", lookback=4).levels["90"].multipliers
    np.testing.assert_allclose(np.log(multipliers), [2 * ETA * 0.9 / k for k in (1, 2, 3)])


def test_fit_replays_the_served_version_only():
    state = fit(made_up_log(), made_up_data(), "v", lookback=5)
    alpha = 0.1
    step2 = ETA * (1 - alpha) * 2  # two misses
    expected = np.exp([-ETA * alpha, step2, -ETA * alpha])
    (name, level), *others = state.levels.items()
    assert name == "90" and not others
    np.testing.assert_allclose(level.multipliers, expected, rtol=1e-12)
    assert (level.origins, level.targets, level.coverage) == (2, 4, 0.5)
    assert state.multipliers([90.0, 80.0]).keys() == {90.0}
    # Version w's one forecast: 07:00's 9 is outside [0, 1], the 08:00 gap is not counted.
    w = fit(made_up_log(), made_up_data(), "w", lookback=5).levels["90"]
    assert (w.targets, w.coverage) == (1, 0.0)
    assert fit(made_up_log(), made_up_data(), "x", lookback=5).levels == {}
    assert fit(None, None, "v", lookback=5).describe() == (
        "version v: no actual of its logged intervals in DATA yet"
    )


# --- the CLI -------------------------------------------------------------------------------------

ROWS, HORIZON, ISSUES, SHIFT = 400, 12, 4, 1.3
TRAIN = (
    f"--hidden 8 --lookback 24 --horizon {HORIZON} --epochs 2 --val-size 60 --batch-size 32 "
    "--ensemble 1 --seed 0 -q"
).split()
LEVELS = ("--level", "80", "--level", "90")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_rows(path: Path, rows: int) -> Path:
    """The first `rows` hours of a daily cycle with noise whose level rises by 30% from row
    ROWS on: the first forecast made after training misses nearly everywhere."""
    n = ROWS + HORIZON * (ISSUES + 1)
    t = np.arange(n)
    y = 100 + 10 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 1, n)
    y[ROWS:] *= SHIFT
    ds = pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"ds": ds, "y": np.round(y, 4)}).iloc[:rows].to_csv(path, index=False)
    return path


def logged(folder: Path) -> list[pd.DataFrame]:
    return [pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))]


def tracked(issues: list[pd.DataFrame], actuals: pd.Series, level: str) -> np.ndarray:
    """The multipliers per step after these issues, computed here: each step's log multiplier
    moves by ETA (miss - alpha), within BOUNDS, issue after issue."""
    alpha = 1 - float(level) / 100
    state = np.zeros(HORIZON)
    for issue in issues:
        y = actuals.loc[issue["ds"]].to_numpy()
        miss = (y < issue[f"y_hat-lo-{level}"].to_numpy()) | (y > issue[f"y_hat-hi-{level}"])
        for h in range(HORIZON):
            state[h] = min(
                max(state[h] + ETA * (miss[h] - alpha), math.log(BOUNDS[0])), math.log(BOUNDS[1])
            )
    return np.exp(state)


@pytest.mark.slow
def test_predict_recalibrates_from_the_logged_misses(tmp_path):
    registry, data, base = tmp_path / "registry", tmp_path / "data.csv", tmp_path / "base"
    result = invoke("train", write_rows(data, ROWS), *TRAIN, "--registry", registry)
    assert result.exit_code == 0, result.output
    version = Path((registry / "current").readlink()).name
    for k in range(ISSUES):
        write_rows(data, ROWS + k * HORIZON)
        result = invoke("predict", data, "--registry", registry, *LEVELS)
        assert result.exit_code == 0, result.output
        # What predict serves without recalibration: the same model, its log elsewhere.
        result = invoke("predict", data, "--model", registry / "current", *LEVELS, "--log-to", base)
        assert result.exit_code == 0, result.output
    served, calibrated = logged(registry / "forecasts"), logged(base)
    actuals = pd.read_csv(write_rows(data, ROWS + ISSUES * HORIZON), parse_dates=["ds"])
    actuals = actuals.set_index("ds")["y"]
    bounds = [f"y_hat-{side}-{level}" for level in ("80", "90") for side in ("lo", "hi")]

    # No log yet: the first forecast's bounds are today's, to the last bit.
    pd.testing.assert_frame_equal(served[0][["y_hat", *bounds]], calibrated[0][["y_hat", *bounds]])
    # The last one: each step's distance from the point, in log units (the model's: the
    # data is positive), is the calibrated one times the multiplier of the three issues before.
    last, plain = served[-1], calibrated[-1]
    np.testing.assert_array_equal(last["y_hat"], plain["y_hat"])
    for level in ("80", "90"):
        multipliers = tracked(served[:-1], actuals, level)
        assert (multipliers > 1).all()  # the shift made the first issue miss everywhere
        for side in ("lo", "hi"):
            column = f"y_hat-{side}-{level}"
            expected = np.log(plain["y_hat"]) + multipliers * np.log(plain[column] / plain["y_hat"])
            np.testing.assert_allclose(np.log(last[column]), expected, rtol=1e-9, atol=1e-12)
        recorded = json.loads((registry / "recalibration.json").read_text())
        assert recorded["version"] == version
        assert (
            recorded["forecast_log"] == sorted((registry / "forecasts").glob("*.parquet"))[-1].name
        )
        np.testing.assert_allclose(recorded["levels"][level]["multipliers"], multipliers, atol=1e-6)
        assert recorded["levels"][level]["origins"] == ISSUES - 1

    # monitor: what the next predict applies, now that the last issue's actuals are in DATA.
    out = tmp_path / "report.json"
    result = invoke("monitor", data, "--registry", registry, "--out", out)
    assert result.exit_code == 4, result.output  # the shift: degraded
    report = json.loads(out.read_text())["recalibration"]
    next_90 = tracked(served, actuals, "90")
    np.testing.assert_allclose(report["levels"]["90"]["multipliers"], next_90, atol=1e-6)
    assert report["levels"]["90"]["origins"] == ISSUES
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("interval recalibration")]
    assert (
        line.startswith(f"interval recalibration for the next predict: version {version}: 80% x")
        and f"; 90% x{next_90.mean():.3g} (steps {next_90.min():.3g}-{next_90.max():.3g}; " in line
    )

    # A plain model's log (`--log-to`) is monitored without recalibration: predict never
    # recalibrates outside a registry.
    result = invoke("monitor", data, "--log", base, "--out", out)
    assert json.loads(out.read_text())["recalibration"] is None
    assert "interval recalibration" not in result.stdout

    # registry list: what the last predict applied, on its version's row.
    listing = invoke("registry", "list", registry)
    assert listing.exit_code == 0, listing.output
    (row,) = [x for x in listing.stdout.splitlines() if version in x and "│" in x]
    applied = {level: tracked(served[:-1], actuals, level).mean() for level in ("80", "90")}
    assert f"80%: {applied['80']:.3g}, 90%: {applied['90']:.3g}" in row
    assert (
        "interval width x: the mean over the horizon steps of the multipliers the last "
        f"`predict --registry` applied to the intervals, at {recorded['computed_at']} (data until "
        f"{recorded['data_until']}), fitted on 80%: 3 origins, 36 targets, served coverage "
    ) in listing.stdout

    # A newly promoted version starts from its own calibration (a copy of the model, named to
    # sort first so that the registry does not take it for a killed run's).
    shutil.copytree(registry / "versions" / version, registry / "versions" / f"0-{version}")
    assert invoke("registry", "promote", registry, f"0-{version}").exit_code == 0
    result = invoke("predict", data, "--registry", registry, *LEVELS)
    assert result.exit_code == 0, result.output
    fresh = invoke("predict", data, "--model", registry / "current", *LEVELS)
    assert result.stdout == fresh.stdout
    assert json.loads((registry / "recalibration.json").read_text())["levels"] == {}


def test_no_recalibrate_outside_a_registry_is_refused(tmp_path, expect_bad_input):
    expect_bad_input(
        invoke("predict", "--model", tmp_path, "--no-recalibrate"),
        "tsforecast: error: --recalibrate and --no-recalibrate need --registry: the "
        "recalibration is replayed from the registry's forecast log",
    )
