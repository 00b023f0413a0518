"""The forecast log and `tsforecast monitor` through the real CLI: a registry model serves a
two-series panel day after simulated day (`predict --registry` at the end of the data, then
the day's actuals are appended to the file and `monitor` scores what has arrived).

One model is trained for the whole module; the ten stable days are simulated once
(`stable`) and the tests that add files work on copies of its registry.
"""

from __future__ import annotations

import io
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tsforecast.cli import cli
from tsforecast.forecast_log import METADATA_KEY
from tsforecast.monitor import Decision, Report, decide, summary

ROWS, HORIZON, DAYS, SHIFT_DAY, SEASON = 600, 24, 10, 6, 24
TOTAL = ROWS + HORIZON * (DAYS + 1)
# A week of validation windows per series, so that the validation MASE the monitor compares
# with is not one lucky stretch of noise.
TRAIN = (
    f"--hidden 16 --lookback 48 --horizon {HORIZON} --batch-size 32 --epochs 40 --lr 0.003 "
    "--seed 0 --ensemble 1 --val-size 168 -q"
).split()
LEVELS = ("--level", "80", "--level", "90")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def panel(shift: bool = False) -> pd.DataFrame:
    """Series a and b (`unique_id, ds, y`), TOTAL hours each: a daily cycle and iid noise (sd
    2), so that the best forecast's error is the noise alone. With `shift`, 40 higher (twenty
    times the noise) from the first target of simulated day SHIFT_DAY on."""
    t = np.arange(TOTAL)
    ds = pd.date_range("2024-01-01", periods=TOTAL, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    parts = []
    for series_id, seed, level in (("a", 0, 1000.0), ("b", 1, 500.0)):
        noise = np.random.default_rng(seed).normal(0.0, 2.0, TOTAL)
        y = level + 10 * np.sin(2 * np.pi * t / 24) + noise
        if shift:
            y[ROWS + HORIZON * (SHIFT_DAY - 1) :] += 40.0
        parts.append(pd.DataFrame({"unique_id": series_id, "ds": ds, "y": np.round(y, 4)}))
    return pd.concat(parts, ignore_index=True)


def write_rows(path: Path, rows: int, shift: bool = False) -> Path:
    """The first `rows` hours of each series of `panel` as DATA."""
    panel(shift).groupby("unique_id").head(rows).to_csv(path, index=False)
    return path


def day_data(path: Path, day: int, shift: bool = False, arrived: bool = False) -> Path:
    """DATA on simulated `day` (from 1): its end is the day's forecast origin; with `arrived`,
    the day's actuals are in it too."""
    return write_rows(path, ROWS + HORIZON * (day - (0 if arrived else 1)), shift)


def predict(data: Path, registry: Path):
    result = invoke("predict", data, "--registry", registry, *LEVELS)
    assert result.exit_code == 0, result.output
    return result


def copy_registry(source: Path, target: Path) -> Path:
    return Path(shutil.copytree(source, target, symlinks=True))


def log_files(registry: Path) -> list[Path]:
    return sorted((registry / "forecasts").glob("*.parquet"))


@pytest.fixture(scope="module")
def stable(tmp_path_factory):
    """The registry after ten stable days, with every day's monitor result, its copy after
    day 5, the served version and the last day's DATA and JSON report."""
    root = tmp_path_factory.mktemp("monitor")
    registry, data = root / "registry", root / "data.csv"
    result = invoke("train", day_data(data, 1), *TRAIN, "--registry", registry)
    assert result.exit_code == 0, result.output
    results = []
    for day in range(1, DAYS + 1):
        predict(day_data(data, day), registry)
        day_data(data, day, arrived=True)
        out = root / f"day{day}.json"
        results.append(invoke("monitor", data, "--registry", registry, "--out", out))
        if day == SHIFT_DAY - 1:
            copy_registry(registry, root / "before-shift")
    return {
        "root": root,
        "registry": registry,
        "before_shift": root / "before-shift",
        "results": results,
        "data": data,
        "report": json.loads((root / f"day{DAYS}.json").read_text()),
        "version": Path((registry / "current").readlink()).name,
    }


@pytest.mark.slow
def test_a_stable_series_stays_within_tolerance_for_ten_days(stable):
    version = stable["version"]
    for day, result in enumerate(stable["results"], start=1):
        assert result.exit_code == 0, (day, result.output)
        issues = min(day, 7)
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(
            f"tsforecast: version {version} is within tolerance over its last {issues} scored "
            f"issue{'s' if issues > 1 else ''}: MASE "
        ), result.stderr
    report = stable["report"]
    assert len(log_files(stable["registry"])) == DAYS
    assert [issue["forecasts"] for issue in report["issues"]] == [2] * DAYS
    assert report["window_scores"]["issues"] == 7 and report["window_scores"]["forecasts"] == 14
    assert report["pending"] == {"forecasts": 0, "targets": 0}
    assert report["decision"] == {
        "degraded": False,
        "conclusive": True,
        "reasons": [],
        "message": stable["results"][-1].stderr.removeprefix("tsforecast: ").strip(),
        "exit_code": 0,
    }
    # Two issues are too few to say even that it is fine.
    conclusive = [
        json.loads((stable["root"] / f"day{day}.json").read_text())["decision"]["conclusive"]
        for day in range(1, DAYS + 1)
    ]
    assert conclusive == [False, False] + [True] * (DAYS - 2)
    # The table on stdout: the window's seven issues, the version, the window.
    scopes = [line.split()[1] for line in stable["results"][-1].stdout.splitlines() if "│" in line]
    assert scopes == ["issue"] * 7 + ["version", "window"]


@pytest.mark.slow
def test_a_level_shift_on_day_6_is_degraded_by_day_8(stable, tmp_path):
    registry = copy_registry(stable["before_shift"], tmp_path / "registry")
    data = tmp_path / "data.csv"
    for day in range(SHIFT_DAY, 9):
        predict(day_data(data, day, shift=True), registry)
        day_data(data, day, shift=True, arrived=True)
        result = invoke("monitor", data, "--registry", registry)
        if result.exit_code != 0:
            break
    assert result.exit_code == 4, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"tsforecast: degraded: version {stable['version']} over its last {day} scored issues: "
        "realised MASE "
    ), line
    assert "is above validation MASE" in line
    # The same for log collectors: one object with the reasons and the exit code.
    result = invoke("--log-format", "json", "monitor", data, "--registry", registry)
    assert result.exit_code == 4
    (event,) = [json.loads(text) for text in result.stderr.splitlines()]
    assert event["event"] == "degraded" and event["exit_code"] == 4
    assert event["message"] == line.removeprefix("tsforecast: ")
    assert event["reasons"][0].startswith("realised MASE ")


def numpy_scores(registry: Path, data: Path) -> pd.DataFrame:
    """Every logged forecast scored from the log files and DATA with numpy alone."""
    actuals = pd.read_csv(data, parse_dates=["ds"])
    rows = []
    for path in log_files(registry):
        logged = pd.read_parquet(path)
        for series_id, forecast in logged.groupby("unique_id"):
            series = actuals[actuals["unique_id"] == series_id].set_index("ds")["y"]
            origin = forecast["ds"].iloc[0] - pd.Timedelta(hours=1)
            history = series[series.index <= origin].to_numpy()
            y = series.loc[forecast["ds"]].to_numpy()
            f = forecast["y_hat"].to_numpy()
            lo, hi = forecast["y_hat-lo-90"].to_numpy(), forecast["y_hat-hi-90"].to_numpy()
            scale = np.mean(np.abs(history[SEASON:] - history[:-SEASON]))
            naive = history[-SEASON:]  # the horizon is one season
            alpha = 0.1
            rows.append(
                {
                    "issue": path.name,
                    "mae": np.mean(np.abs(y - f)),
                    "smape": np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f))),
                    "mase": np.mean(np.abs(y - f)) / scale,
                    "seasonal_naive_mase": np.mean(np.abs(y - naive)) / scale,
                    "coverage-90": np.mean((lo <= y) & (y <= hi)),
                    "msis-90": np.mean(
                        (hi - lo)
                        + 2 / alpha * (lo - y) * (y < lo)
                        + 2 / alpha * (y - hi) * (y > hi)
                    )
                    / scale,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_scores_match_numpy_and_registry_list_shows_them(stable):
    expected = numpy_scores(stable["registry"], stable["data"])
    report = stable["report"]
    by_issue = expected.groupby("issue", sort=False).mean()
    columns = list(by_issue.columns)
    # float32 panel values against the CSV's float64: agreement to about 1e-7 relative.
    for issue in report["issues"]:
        for column in columns:
            assert issue[column] == pytest.approx(by_issue.loc[issue["issue"], column], rel=1e-5)
    window = by_issue.tail(7).mean()
    for column in columns:
        assert report["window_scores"][column] == pytest.approx(window[column], rel=1e-5)
    served = json.loads((stable["registry"] / "current" / "metrics.json").read_text())["served"]
    assert report["validation"][stable["version"]]["mase"] == served["mase"]

    listing = invoke("registry", "list", stable["registry"])
    assert listing.exit_code == 0, listing.output
    (row,) = [line for line in listing.stdout.splitlines() if stable["version"] in line]
    cells = row.replace("│", " ").split()
    realised = expected.drop(columns="issue").mean()
    assert cells[-3:] == [
        f"{realised['mase']:.4g}",
        f"{realised['seasonal_naive_mase']:.4g}",
        str(DAYS),
    ]
    assert "realised: as `tsforecast monitor` scored the logged forecasts at" in listing.stdout


@pytest.mark.slow
def test_the_log_holds_what_predict_printed_and_log_to_records_a_plain_model(stable, tmp_path):
    version = stable["version"]
    model = stable["registry"] / "versions" / version
    data = day_data(tmp_path / "data.csv", DAYS)
    log = tmp_path / "log"
    log.mkdir()
    # A file issued long ago: --keep-forecasts removes it when the next forecast is recorded.
    old = log / "20200101T000000000000Z-1.parquet"
    shutil.copy(log_files(stable["registry"])[0], old)
    result = invoke("predict", data, "--model", model, *LEVELS, "--log-to", log)
    assert result.exit_code == 0, result.output
    assert not old.exists()
    (recorded,) = log.glob("*.parquet")
    logged = pd.read_parquet(recorded)
    printed = pd.read_csv(io.StringIO(result.stdout), parse_dates=["ds"])
    pd.testing.assert_frame_equal(
        logged[list(printed.columns)], printed, check_exact=False, rtol=1e-6
    )
    assert list(logged["step"]) == list(range(1, HORIZON + 1)) * 2
    first = logged.groupby("unique_id")["ds"].transform("min")
    assert (logged["origin"] == first - pd.Timedelta(hours=1)).all()
    header = json.loads(pq.read_schema(recorded).metadata[METADATA_KEY])
    created = json.loads((model / "config.json").read_text())["created_at"]
    stamp = datetime.fromisoformat(created).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    assert header["version"] == f"{version}@{stamp}"
    assert (header["horizon"], header["freq"], header["levels"]) == (HORIZON, "h", ["80", "90"])

    day_data(data, DAYS, arrived=True)
    result = invoke("monitor", data, "--log", log, "--out", tmp_path / "report.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["served_version"] == header["version"]
    expected = stable["report"]["issues"][-1]
    assert report["issues"][0]["mase"] == pytest.approx(expected["mase"], rel=1e-6)


@pytest.mark.slow
def test_pending_targets_are_counted_not_scored(stable, tmp_path):
    registry = copy_registry(stable["registry"], tmp_path / "registry")
    data = day_data(tmp_path / "data.csv", DAYS, arrived=True)
    predict(data, registry)
    out = tmp_path / "report.json"
    result = invoke("monitor", data, "--registry", registry, "--out", out)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "tsforecast: 48 targets of 2 forecast(s) not in DATA yet: those forecasts are not scored"
    )
    report = json.loads(out.read_text())
    assert report["pending"] == {"forecasts": 2, "targets": 48}
    assert len(report["issues"]) == DAYS
    # Five of the day's 24 hours arrive: still pending, still not scored.
    write_rows(data, ROWS + HORIZON * DAYS + 5)
    result = invoke("monitor", data, "--registry", registry, "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["pending"] == {"forecasts": 2, "targets": 38}
    assert len(json.loads(out.read_text())["issues"]) == DAYS


@pytest.mark.slow
def test_a_removed_series_and_a_changed_history_are_reported_not_fatal(stable, tmp_path):
    full = pd.read_csv(stable["data"])
    only_a = full[full["unique_id"] == "a"].iloc[SEASON:]  # b gone, a's first day cut
    data = tmp_path / "data.csv"
    only_a.to_csv(data, index=False)
    out = tmp_path / "report.json"
    result = invoke("monitor", data, "--registry", stable["registry"], "--out", out)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        "tsforecast: 1 series no longer in DATA, their forecasts not scored: 'b'",
        "tsforecast: the history of 1 series in DATA starts elsewhere than when it was "
        "forecast (MASE is scaled by the history DATA holds now): 'a'",
    ]
    report = json.loads(out.read_text())
    assert report["disappeared_series"] == ["b"] and report["history_changed_series"] == ["a"]
    assert [issue["forecasts"] for issue in report["issues"]] == [1] * DAYS


@pytest.mark.slow
def test_a_corrupted_log_file_is_skipped_and_a_half_written_one_never_read(stable, tmp_path):
    registry = copy_registry(stable["registry"], tmp_path / "registry")
    whole = log_files(registry)[0].read_bytes()
    torn = registry / "forecasts" / "20991231T000000000000Z-1.parquet"
    torn.write_bytes(whole[: len(whole) // 2])
    # What a predict still writing leaves: a hidden temporary file, never read.
    hidden = registry / "forecasts" / f".{torn.name}.tmp-abc123"
    hidden.write_bytes(whole[: len(whole) // 3])
    out = tmp_path / "report.json"
    result = invoke("monitor", stable["data"], "--registry", registry, "--out", out)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(
        f"tsforecast: skipped forecast log file {torn}: cannot be read ("
    ), lines
    report = json.loads(out.read_text())
    assert [entry["file"] for entry in report["skipped_files"]] == [torn.name]
    assert report["issues"] == stable["report"]["issues"]


@pytest.mark.slow
def test_a_log_of_another_horizon_is_refused(stable, tmp_path):
    registry = copy_registry(stable["registry"], tmp_path / "registry")
    # What a version trained with --horizon 12 would have logged: its file, 12 steps long.
    path = log_files(registry)[0]
    table = pq.read_table(path)
    header = json.loads(table.schema.metadata[METADATA_KEY])
    header["horizon"] = 12
    short = table.filter(pc.less_equal(table["step"], 12))
    metadata = {**table.schema.metadata, METADATA_KEY: json.dumps(header).encode()}
    pq.write_table(short.replace_schema_metadata(metadata), path)
    result = invoke("monitor", stable["data"], "--registry", registry)
    version = stable["version"]
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"tsforecast: error: forecast log file {path} was written by version {version} "
        f"(horizon 12, frequency h); the registry's current version {version} has horizon "
        f"{HORIZON}, frequency h: move the older files out of {path.parent} to monitor it\n"
    )


@pytest.mark.slow
def test_bad_monitor_and_log_options_are_one_line(stable, tmp_path, expect_bad_input):
    data, registry = stable["data"], stable["registry"]
    expect_bad_input(invoke("monitor", data), "tsforecast: error: give one of --registry or --log")
    expect_bad_input(
        invoke("monitor", data, "--log", tmp_path / "nowhere"),
        f"tsforecast: error: no forecast log at {tmp_path / 'nowhere'}; `tsforecast predict "
        "--registry REGISTRY` records one in REGISTRY/forecasts, `predict --log-to DIR` in DIR",
    )
    expect_bad_input(
        invoke("predict", data, "--registry", registry, "--log-to", tmp_path / "log"),
        "tsforecast: error: --log-to and --registry are mutually exclusive: --registry records "
        "the forecast in REGISTRY/forecasts",
    )
    expect_bad_input(
        invoke("predict", data, "--model", registry / "current", "--keep-forecasts", "3"),
        "tsforecast: error: --keep-forecasts needs --registry or --log-to",
    )


@pytest.mark.slow
def test_csv_report_and_plot(stable, tmp_path):
    out, plot = tmp_path / "report.csv", tmp_path / "plots" / "monitor.png"
    result = invoke(
        "monitor", stable["data"], "--registry", stable["registry"], "--out", out, "--plot", plot
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table["scope"]) == ["issue"] * DAYS + ["version", "window"]
    issues = table[table["scope"] == "issue"]
    assert issues["mase"].to_numpy() == pytest.approx(
        [issue["mase"] for issue in stable["report"]["issues"]]
    )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def synthetic(issues, window=7, validation=0.8):
    """A Report of version v whose scored issues are `(MASE, seasonal naive MASE, 90%
    coverage)`, one forecast of 48 targets each, the window its last `window` of them."""
    frame = pd.DataFrame(
        [
            {
                "issue": f"{day}.parquet",
                "version": "v",
                "forecasts": 1,
                "targets": 48,
                "mase": mase,
                "seasonal_naive_mase": naive,
                "coverage-90": covered,
            }
            for day, (mase, naive, covered) in enumerate(issues, start=1)
        ]
    )
    mine = frame.tail(window)
    scores = mine[["mase", "seasonal_naive_mase", "coverage-90"]].mean()
    forecasts = pd.DataFrame(
        {"status": "scored", "unique_id": "a", "pending_targets": 0, "history_changed": False},
        index=range(len(frame)),
    )
    return Report(
        served="v",
        window_size=window,
        forecasts=forecasts,
        issues=frame,
        versions=frame.head(0),
        window={"issues": len(mine), "forecasts": len(mine), **scores.to_dict()},
        window_issues=tuple(mine["issue"]),
        validation={"v": {"mase": validation}},
        skipped=(),
    )


GOOD = (0.8, 1.0, 0.9)  # validation MASE 0.8, so the limit at tolerance 0.25 is 1.0


def test_one_issue_slightly_below_the_coverage_floor_is_not_yet_conclusive():
    decision = decide(synthetic([(0.7, 0.9, 0.792)]), 0.25)
    assert decision == Decision(
        degraded=False,
        conclusive=False,
        reasons=("90% interval coverage 79.2% is below 80%",),
        message="not yet conclusive: version v over its last 1 scored issue: 90% interval "
        "coverage 79.2% is below 80%; a verdict needs 3 scored issues (or each one off by a "
        "factor 2)",
    )
    assert summary(synthetic([(0.7, 0.9, 0.792)]), decision, 0)["decision"] == {
        "degraded": False,
        "conclusive": False,
        "reasons": ["90% interval coverage 79.2% is below 80%"],
        "message": decision.message,
        "exit_code": 0,
    }


def test_the_third_issue_below_the_floor_decides():
    low = [(0.7, 0.9, 0.792), (0.7, 0.9, 0.79)]
    assert not decide(synthetic(low), 0.25).conclusive
    # (0.792 + 0.79 + 0.78) / 3 = 0.78733
    decision = decide(synthetic([*low, (0.7, 0.9, 0.78)]), 0.25)
    assert (decision.degraded, decision.conclusive) == (True, True)
    assert decision.message == (
        "degraded: version v over its last 3 scored issues: 90% interval coverage 78.7% is "
        "below 80%"
    )


def test_a_within_tolerance_verdict_is_conclusive_from_the_third_issue():
    for days, conclusive in ((1, False), (2, False), (3, True)):
        decision = decide(synthetic([GOOD] * days), 0.25)
        assert (decision.degraded, decision.conclusive) == (False, conclusive), days
        assert decision.message.startswith(f"version v is within tolerance over its last {days}")


def test_a_40_percent_shift_after_seven_good_issues_is_degraded_at_once():
    # The shift moves the seasonal naive forecast as much as the model's.
    decision = decide(synthetic([GOOD] * 7 + [(4.0, 4.2, 0.0)]), 0.25)
    # Window of 7: MASE (6 x 0.8 + 4.0) / 7 = 1.2571, coverage 6 x 0.9 / 7 = 77.14%.
    assert decision == Decision(
        degraded=True,
        conclusive=True,
        reasons=(
            "realised MASE 1.257 is above validation MASE 0.8 x 1.25 = 1",
            "90% interval coverage 77.1% is below 80%",
        ),
        message="degraded: version v over its last 7 scored issues: realised MASE 1.257 is "
        "above validation MASE 0.8 x 1.25 = 1; 90% interval coverage 77.1% is below 80%",
    )


def test_a_milder_shift_is_degraded_on_its_second_issue():
    good, shifted = (0.8, 1.0, 0.95), (2.0, 2.2, 0.3)
    # (6 x 0.8 + 2.0) / 7 = 0.971 <= 1.0 and (6 x 0.95 + 0.3) / 7 = 85.7% >= 80%.
    first = decide(synthetic([good] * 7 + [shifted]), 0.25)
    assert (first.degraded, first.conclusive) == (False, True)
    # (5 x 0.8 + 2 x 2.0) / 7 = 1.143 and (5 x 0.95 + 2 x 0.3) / 7 = 76.4%.
    second = decide(synthetic([good] * 7 + [shifted] * 2), 0.25)
    assert second.degraded and second.reasons == (
        "realised MASE 1.143 is above validation MASE 0.8 x 1.25 = 1",
        "90% interval coverage 76.4% is below 80%",
    )


def test_a_gross_failure_on_the_first_issue_is_degraded():
    decision = decide(synthetic([(4.0, 1.0, 0.0)]), 0.25)
    assert (decision.degraded, decision.conclusive) == (True, True)
    assert decision.message == (
        "degraded: version v over its last 1 scored issue (fewer than 3, but each off by a "
        "factor 2): realised MASE 4 is above validation MASE 0.8 x 1.25 = 1; it loses to "
        "seasonal naive (MASE 4 vs 1); 90% interval coverage 0.0% is below 80%"
    )


@pytest.mark.parametrize(
    "issues",
    [
        [(1.9, 2.0, 0.5)],  # MASE under 2 x 1.0, coverage over 80% / 2
        [(0.5, 0.2, 0.9)],  # loses to seasonal naive by 2.5 x: never gross alone
        [(4.0, 1.0, 0.0), GOOD],  # one gross issue of two
    ],
)
def test_fewer_than_three_issues_not_off_by_a_factor_2_each_are_not_conclusive(issues):
    decision = decide(synthetic(issues), 0.25)
    assert decision.reasons and (decision.degraded, decision.conclusive) == (False, False)
    assert decision.message.startswith("not yet conclusive: version v over its last ")


def test_a_window_under_three_issues_lowers_what_a_verdict_needs_to_the_window():
    decision = decide(synthetic([(0.7, 0.9, 0.792)], window=1), 0.25)
    assert (decision.degraded, decision.conclusive) == (True, True)
    assert decision.message == (
        "degraded: version v over its last 1 scored issue: 90% interval coverage 79.2% is below 80%"
    )
    two = [GOOD, (0.7, 0.9, 0.6)]  # window coverage 75.0%
    assert not decide(synthetic(two[1:], window=2), 0.25).conclusive
    assert decide(synthetic(two, window=2), 0.25).degraded


@pytest.mark.slow
def test_the_cli_exits_0_on_one_issue_below_the_floor_and_4_on_one_gross_issue(stable, tmp_path):
    """The stable run's first issue alone, its 90% bounds rewritten around the actuals: 6 of
    each series' 24 targets outside (75.0%), then every forecast 40 too high and outside."""
    registry = copy_registry(stable["registry"], tmp_path / "registry")
    first, *rest = log_files(registry)
    for path in rest:
        path.unlink()
    table = pq.read_table(first)
    logged = table.to_pandas()
    actuals = pd.read_csv(stable["data"], parse_dates=["ds"]).set_index(["unique_id", "ds"])
    y = actuals.loc[pd.MultiIndex.from_frame(logged[["unique_id", "ds"]]), "y"].to_numpy()

    def rewrite(columns):
        changed = table
        for name, values in columns.items():
            column = pa.array(values, type=table.schema.field(name).type)
            changed = changed.set_column(table.schema.get_field_index(name), name, column)
        pq.write_table(changed, first)

    outside = logged["step"].to_numpy() <= 6
    rewrite({"y_hat-lo-90": np.where(outside, y + 1, y - 1), "y_hat-hi-90": y + 2})
    out = tmp_path / "report.json"
    result = invoke("monitor", stable["data"], "--registry", registry, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"tsforecast: not yet conclusive: version {stable['version']} over its last 1 scored "
        "issue: 90% interval coverage 75.0% is below 80%; a verdict needs 3 scored issues (or "
        "each one off by a factor 2)\n"
    )
    assert json.loads(out.read_text())["decision"]["conclusive"] is False

    rewrite({"y_hat": y + 40, "y_hat-lo-90": y + 39, "y_hat-hi-90": y + 41})
    result = invoke("monitor", stable["data"], "--registry", registry, "--out", out)
    assert result.exit_code == 4, result.output
    assert result.stderr.startswith(
        f"tsforecast: degraded: version {stable['version']} over its last 1 scored issue "
        "(fewer than 3, but each off by a factor 2): realised MASE "
    ), result.stderr
    decision = json.loads(out.read_text())["decision"]
    assert (decision["degraded"], decision["conclusive"], decision["exit_code"]) == (True, True, 4)
