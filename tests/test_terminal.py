"""tsforecast.terminal on hand-made metrics, without training: the serving and interval lines,
the training summary, the metric, registry and monitor tables, the epoch lines and the events
a run emits, each compared with text written out by hand."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tsforecast import logs, terminal
from tsforecast.config import Config
from tsforecast.trainer import EpochRecord

INTERVALS = {
    "method": "conformal",
    "served": {
        "80": {"coverage": 0.8123, "msis": 12.345},
        "90": {"coverage": 0.85, "msis": 20.0},  # 5 points short: not flagged
        "95": {"coverage": 0.85, "msis": 20.0},  # 10 points short: flagged
        "99": None,
    },
    "seasonal_naive": {"80": {"coverage": 0.7, "msis": 15.0}, "90": None, "95": None},
}


def metrics(served_mase: float = 0.75, steps: list[str] | None = None) -> dict:
    return {
        "model": {"mae": 1.23456, "rmse": 2.0, "smape": 3.14159, "mase": 0.876543},
        "seasonal_naive": {"mae": 2.0, "rmse": 3.0, "smape": 4.0, "mase": 1.25},
        "seasonal_naive_168": {"mae": 1.5, "rmse": 2.5, "smape": 3.5, "mase": 0.95},
        "served": {"mae": 1.0, "rmse": 1.8, "smape": 2.9, "mase": served_mase},
        "serving": {"steps": steps or ["model"] * 12},
        "intervals": {
            "method": "conformal",
            "served": {"80": {"coverage": 0.8, "msis": 10.0}},
            "seasonal_naive": {"80": {"coverage": 0.7, "msis": 12.0}},
        },
        "validation_windows": 193,
    }


def outcome(metrics: dict, calibration: int | None = 49) -> SimpleNamespace:
    scores = None if calibration is None else np.zeros((calibration, 12))
    artifact = SimpleNamespace(metrics=metrics, conformal_scores=scores, config=Config())
    return SimpleNamespace(artifact=artifact, best_epoch=7)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


@pytest.fixture
def events(capsys):
    """The `tsforecast` logger set up as the CLI does (text), restored afterwards."""
    root = logging.getLogger("tsforecast")
    saved = (list(root.handlers), root.level, root.propagate, logs.events.level)

    def configure(log_format: str) -> None:
        logs.configure(log_format)
        terminal.settings["log_format"] = log_format

    before = terminal.settings["log_format"]
    configure("text")
    yield configure
    terminal.settings["log_format"] = before
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    root.propagate = saved[2]
    logs.events.setLevel(saved[3])


@pytest.mark.parametrize(
    "steps, line",
    [
        (["model"] * 4, "served: the network at all 4 steps"),
        (
            ["model"] * 3 + ["seasonal_naive_168"] * 2,
            "served (5 steps): the network at 3, seasonal_naive_168 at 2",
        ),
        # Most steps first; "model+mstl" is not the network alone and keeps its name.
        (["mstl", "model+mstl", "model+mstl"], "served (3 steps): model+mstl at 2, mstl at 1"),
    ],
)
def test_serving_line(steps, line):
    assert terminal.serving_line(steps) == line


def test_serving_lines_add_why_and_why_mstl_was_left_out_unless_asked():
    serving = {"steps": ["seasonal_naive"] * 2, "why": "2 series too short", "without_mstl": "x"}
    assert terminal.serving_lines(serving) == [
        "served (2 steps): seasonal_naive at 2 (2 series too short)",
        "mstl is not a candidate: x",
    ]
    asked = {"steps": ["model"], "without_mstl": "--no-fallback"}
    assert terminal.serving_lines(asked) == ["served: the network at all 1 steps"]


def test_interval_lines_score_flag_and_say_how_wide_predict_can_go():
    assert terminal.interval_lines(INTERVALS, (80.0, 90.0, 95.0, 99.0), 7) == [
        "80% intervals (conformal): coverage 81.2%, MSIS 12.3 (seasonal naive, conformal: "
        "70.0%, MSIS 15)",
        "90% intervals (conformal): coverage 85.0%, MSIS 20",
        "warning: 95% intervals (conformal): coverage 85.0%, MSIS 20: below its level, the "
        "intervals are too narrow for this data",
        "99% intervals: too few validation windows to score them",
        # 7 calibration windows: floor(1000 * 7 / 8) / 10 = 87.5.
        "predict can serve intervals up to 87.5% (7 calibration windows; a larger --val-size "
        "allows wider)",
    ]
    # 49 windows: 98%; a quantile model (no calibration) serves what it learned.
    assert terminal.interval_lines(INTERVALS, (80.0,), 49)[-1].startswith(
        "predict can serve intervals up to 98% (49 calibration windows"
    )
    assert terminal.interval_lines({"served": {}}, (80.0, 97.5), None) == [
        "predict can serve the 80%, 97.5% intervals this quantile model learned"
    ]


def test_scored_windows():
    assert terminal.scored_windows({"validation_windows": 193}) == "193 windows"
    assert terminal.scored_windows({"validation_windows": 193, "scored_windows": 193}) == (
        "193 windows"
    )
    assert terminal.scored_windows({"validation_windows": 193, "scored_windows": 9}) == (
        "9 of 193 windows, those MSTL was fitted at"
    )


def test_the_training_summary_of_a_model_that_beats_seasonal_naive(capsys):
    served_by_mstl = ["model"] * 10 + ["mstl"] * 2
    terminal.print_summary(outcome(metrics(steps=served_by_mstl)), Path("/models/m"))
    err = capsys.readouterr().err
    # Four significant digits; a "served" row because not every step is the network's.
    assert table_rows(err) == [
        ["model (network)", "1.235", "2", "3.142", "0.8765"],
        ["seasonal naive", "2", "3", "4", "1.25"],
        ["seasonal naive 168", "1.5", "2.5", "3.5", "0.95"],
        ["served", "1", "1.8", "2.9", "0.75"],
    ]
    assert re.search(r"validation \(193 windows, best\s+epoch 7\)", err), err
    # Compared with the better seasonal naive, the weekly one (0.95 < 1.25).
    assert err.splitlines()[-5:] == [
        "served (12 steps): the network at 10, mstl at 2",
        "the forecast beats seasonal naive 168, the best seasonal naive: MASE 0.750 vs 0.950",
        "80% intervals (conformal): coverage 80.0%, MSIS 10 (seasonal naive, conformal: 70.0%, "
        "MSIS 12)",
        "predict can serve intervals up to 98% (49 calibration windows; a larger --val-size "
        "allows wider)",
        "model written to /models/m",
    ]


def test_the_training_summary_of_a_model_that_does_not(capsys):
    terminal.print_summary(outcome(metrics(served_mase=0.95)), Path("/models/m"))
    err = capsys.readouterr().err
    assert [row[0] for row in table_rows(err)] == [
        "model (network)",
        "seasonal naive",
        "seasonal naive 168",
    ]
    assert "the forecast does NOT beat seasonal naive 168: MASE 0.950 vs 0.950" in err.splitlines()
    assert "served: the network at all 12 steps" in err.splitlines()


def test_print_metrics_shows_a_dash_where_a_metric_does_not_apply(capsys):
    summary = pd.DataFrame(
        {"MAE": [1.23456, 2.0], "MASE": [0.5, np.nan], "coverage_80": [0.81234, np.nan]},
        index=pd.Index(["model", "seasonal_naive"], name="method"),
    )
    terminal.print_metrics(summary, "backtest (3 windows)")
    out = capsys.readouterr().out
    assert out.splitlines()[0].strip() == "backtest (3 windows)"
    assert table_rows(out) == [
        ["model", "1.235", "0.5", "0.8123"],
        ["seasonal_naive", "2", "-", "-"],
    ]


def test_first_metric_and_recalibrated_widths():
    scores = {"model": {"mase": 0.9}, "served": {"mase": None}}
    assert np.isnan(terminal.first_metric(scores, ("served", "model"), "mase"))  # null: NaN
    assert terminal.first_metric(scores, ("nope", "model"), "mase") == 0.9
    assert np.isnan(terminal.first_metric(scores, ("nope",), "mase"))
    # Means over the steps: (1.0 + 1.2 + 1.2) / 3 = 1.133 and 1.02.
    widths = {"levels": {"90": {"multipliers": [1.0, 1.2, 1.2]}, "80": {"multipliers": [1.02]}}}
    assert terminal.recalibrated_widths(widths) == "90%: 1.13, 80%: 1.02"
    assert terminal.recalibrated_widths({}) == "-"


def test_print_registry_marks_the_current_version_and_explains_the_columns(capsys):
    def row(name, current, metrics, realised=None, recalibration=None):
        return SimpleNamespace(
            name=name,
            current=current,
            created_at="2024-01-0" + name[-1],
            data_hash="0123456789abcdef",
            last_timestamp="2024-01-01 23:00:00",
            metrics=metrics,
            realised=realised or {},
            recalibration=recalibration or {},
            compared={},
        )

    recalibration = {
        "computed_at": "T1",
        "data_until": "T0",
        "levels": {"80": {"multipliers": [1.5], "origins": 3, "targets": 72, "coverage": 0.8}},
    }
    rows = [
        # From before serving: the network's scores.
        row("v1", False, {"model": {"mase": 0.9, "smape": 5.0}, "seasonal_naive": {"mase": 1}}),
        row(
            "v2",
            True,
            {
                "model": {"mase": 0.9, "smape": 5.0},
                "served": {"mase": 0.8, "smape": 4.0},
                "seasonal_naive": {"mase": 1.1},
            },
            {"mase": 0.85, "seasonal_naive_mase": None, "issues": 4},
            recalibration,
        ),
    ]
    monitored = {"monitored_at": "T2", "data_until": "T3"}
    terminal.print_registry("/reg", rows, monitored)
    out = capsys.readouterr().out
    assert table_rows(out) == [
        ["", "v1", "2024-01-01", "0123456789ab", "2024-01-01 23:00:00", "0.9", "5", "1", "-"]
        + ["-", "-", "-"],
        ["*", "v2", "2024-01-02", "0123456789ab", "2024-01-01 23:00:00", "0.8", "4", "1.1"]
        + ["80%: 1.5", "0.85", "-", "4"],
    ]
    assert out.splitlines()[-3:] == [
        "* current",
        "realised: as `tsforecast monitor` scored the logged forecasts at T2 (data until T3); - "
        "where none of a version's forecasts was scored",
        "interval width x: the mean over the horizon steps of the multipliers the last "
        "`predict --registry` applied to the intervals, at T1 (data until T0), fitted on 80%: 3 "
        "origins, 72 targets, served coverage 80.0%",
    ]
    terminal.print_registry("/reg", rows[:1], {})
    assert capsys.readouterr().out.splitlines()[-1] == (
        "realised: no `tsforecast monitor --registry` run recorded yet"
    )


def test_monitor_table_shows_the_window_issues_and_coverage_in_percent(capsys):
    nan = float("nan")
    table = pd.DataFrame(
        [
            # An issue outside the window is left out.
            {"scope": "issue", "version": "v1", "issue": "f0", "origin": "2024-01-01", "mase": 9},
            {"scope": "issue", "version": "v1", "issue": "f1", "origin": "2024-01-02", "mase": 1},
            {"scope": "window", "version": "v1", "issue": nan, "origin": nan, "mase": 1.23456},
        ]
    ).assign(**{"coverage-80": [0.5, 0.8125, nan], "msis-80": [1.0, 2.0, nan]})
    terminal.print_monitor(table, SimpleNamespace(window_issues=("f1",)), "monitor")
    rows = table_rows(capsys.readouterr().out)
    # scope, version, origin, forecasts, MAE, sMAPE, MASE, 3 naive, valid. MASE, cover, MSIS.
    assert rows == [
        ["issue", "v1", "2024-01-02", "-", "-", "-", "1", "-", "-", "-", "-", "81.2%", "2"],
        ["window", "v1", "", "-", "-", "-", "1.235", "-", "-", "-", "-", "-", "-"],
    ]


def test_epoch_lines_as_text_and_as_json(events, capsys):
    record = EpochRecord(epoch=3, train_loss=0.123456, val_loss=0.234567, seconds=1.25, lr=0.0015)
    terminal.EpochProgress(10, enabled=False).update(record)
    assert capsys.readouterr().err == ""
    terminal.EpochProgress(10, enabled=True).update(record, prefix="cutoff 2: ")
    assert capsys.readouterr().err == (
        "cutoff 2: epoch 3: train 0.1235  val 0.2346  lr 0.0015  1.2s\n"
    )
    events("json")
    terminal.EpochProgress(10, enabled=True).update(record)
    (line,) = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert {k: entry[k] for k in ("event", "message", "epoch", "lr", "duration")} == {
        "event": "epoch",
        "message": "epoch 3: train 0.1235  val 0.2346  lr 0.0015  1.2s",
        "epoch": 3,
        "lr": 0.0015,
        "duration": 1.25,
    }
    assert (entry["train_loss"], entry["val_loss"]) == (0.123456, 0.234567)


def test_report_training_as_json_and_quiet_text(events, capsys):
    terminal.report_training(outcome(metrics()), Path("/m"), quiet=True, began=0.0)
    assert capsys.readouterr().err == ""  # --quiet: no summary
    events("json")
    terminal.report_training(outcome(metrics()), Path("/m"), quiet=True, began=0.0, version="v2")
    entry = json.loads(capsys.readouterr().err)
    assert entry["event"] == "trained"
    assert entry["message"] == "model written to /m: MASE 0.750, seasonal naive 1.250"
    assert (entry["version"], entry["path"], entry["best_epoch"]) == ("v2", "/m", 7)
    assert entry["metrics"]["served"]["mase"] == 0.75


def test_report_monitoring_lists_at_most_five_series(events, capsys):
    report = SimpleNamespace(
        pending=pd.DataFrame({"pending_targets": [24, 24, 3]}),
        disappeared=["a", "b", "c", "d", "e", "f"],
        history_changed=["x", "y"],
    )
    terminal.report_monitoring(report)
    assert capsys.readouterr().err.splitlines() == [
        "tsforecast: 51 targets of 3 forecast(s) not in DATA yet: those forecasts are not scored",
        "tsforecast: 6 series no longer in DATA, their forecasts not scored: 'a', 'b', 'c', 'd', "
        "'e' ...",
        "tsforecast: the history of 2 series in DATA starts elsewhere than when they were "
        "forecast (MASE is scaled by the history DATA holds now): 'x', 'y'",
    ]
    nothing = SimpleNamespace(pending=pd.DataFrame(), disappeared=[], history_changed=[])
    terminal.report_monitoring(nothing)
    assert capsys.readouterr().err == ""


def test_a_table_wider_than_the_terminal_is_split_not_cut():
    numbers = [f"{1000 + k}.{k:04d}" for k in range(12)]  # 9-character cells
    table = terminal.Table(title="wide")
    table.add_column("method")
    for k in range(12):
        table.add_column(f"metric {k}", justify="right")
    table.add_row("model", *numbers)
    table.add_row("seasonal naive", *numbers[::-1])
    parts = terminal.fitted(table, 80, keys=1)
    # 17 for the key column and the left border, 12 a column: 5 columns beside it in 80.
    assert [len(part.columns) for part in parts] == [6, 6, 3]
    out = io.StringIO()
    console = terminal.Console(file=out, width=80, highlight=False)
    for part in parts:
        console.print(part)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert all(text.count(number) == 2 for number in numbers)  # every cell, once per row
    assert text.count("seasonal naive") == 3  # the key column in every part
    assert len(terminal.fitted(table, 200, keys=1)) == 1


def test_evaluate_on_an_80_column_terminal_cuts_no_number(tmp_path):
    """The real CLI in a pseudo-terminal of 80 columns, as a user at a terminal sees it."""
    ds = pd.date_range("2024-01-01", periods=30, freq="h")
    actual = pd.DataFrame({"ds": ds, "y": np.arange(30.0) + 100})
    actual.to_csv(tmp_path / "actual.csv", index=False)
    forecast = pd.DataFrame({"ds": ds[-6:], "y_hat": np.arange(24.0, 30.0) + 100.37})
    forecast["y_hat-lo-90"] = forecast["y_hat"] - 3.123
    forecast["y_hat-hi-90"] = forecast["y_hat"] + 3.123
    forecast.to_csv(tmp_path / "forecast.csv", index=False)
    main, child = pty.openpty()
    run = subprocess.run(
        [sys.executable, "-m", "tsforecast", "evaluate", "forecast.csv", "actual.csv"],
        cwd=tmp_path,
        stdin=child,
        stdout=child,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "80", "LINES": "40"},
        check=False,
    )
    os.close(child)
    text = b""
    while select.select([main], [], [], 0.5)[0]:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        text += chunk
    os.close(main)
    lines = re.sub(r"\x1b\[[0-9;]*m", "", text.decode()).splitlines()
    assert run.returncode == 0, lines
    assert max(len(line) for line in lines) <= 80 and not any("…" in line for line in lines)
    assert any("MSIS" in line for line in lines)  # the interval columns are there, not cut
