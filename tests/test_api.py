"""The Python API against the CLI: `tsforecast.train(df, ...).predict()` gives what `tsforecast
train` + `predict` give on the same data and options, a saved model is a model directory the
CLI reads, and bad keywords are the CLI's messages as typed errors."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from click.testing import CliRunner

import tsforecast
from tsforecast.cli import cli
from tsforecast.errors import ConfigError, DataError

# Trains networks of its own: left out of `make test-fast`.
pytestmark = pytest.mark.slow

OPTIONS = {"hidden": 4, "lookback": 24, "horizon": 6, "epochs": 2, "ensemble": 1}
FLAGS = [f"--{name}={value}" for name, value in OPTIONS.items()]


@pytest.fixture(scope="module")
def both(tmp_path_factory, make_series):
    """The same panel trained by the CLI from a CSV and by the API from the frame."""
    root = tmp_path_factory.mktemp("api")
    frame = pd.concat(
        [make_series(240, seed=k).assign(unique_id=f"s{k}") for k in range(2)], ignore_index=True
    )[["unique_id", "ds", "y"]]
    data = root / "data.csv"
    frame.to_csv(data, index=False)
    result = CliRunner().invoke(cli, ["train", str(data), *FLAGS, "-q", "--out", str(root / "m")])
    assert result.exit_code == 0, result.output
    return frame, data, root / "m", tsforecast.train(frame, **OPTIONS)


def cli_forecast(*args: str) -> str:
    result = CliRunner().invoke(cli, ["predict", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_api_forecasts_what_the_cli_does(both):
    frame, data, model_dir, model = both
    text = cli_forecast(str(data), "--model", str(model_dir), "--level", "80")
    forecast = model.predict(level=[80])
    assert list(forecast.columns) == [
        "unique_id", "ds", "y_hat", "y_hat-lo-80", "y_hat-hi-80", "method"
    ]  # fmt: skip
    assert len(forecast) == 12
    assert forecast.to_csv(index=False, float_format="%.7g") == text
    # To the last digit of the floats: the CLI's model directory, loaded, forecasts the frame
    # exactly as the model trained in memory does.
    loaded = tsforecast.load(model_dir).predict(frame, level=[80])
    pd.testing.assert_frame_equal(loaded, forecast, check_exact=True)
    assert model.metrics["model"]["mase"] == tsforecast.load(model_dir).metrics["model"]["mase"]


def test_a_saved_model_is_a_model_directory_the_cli_reads(both, tmp_path):
    frame, data, _, model = both
    model.save(tmp_path / "saved")
    text = cli_forecast(str(data), "--model", str(tmp_path / "saved"), "--id", "s1")
    expected = model.predict(ids=["s1"])
    assert pd.read_csv(io.StringIO(text))["unique_id"].unique().tolist() == ["s1"]
    assert expected.to_csv(index=False, float_format="%.7g") == text
    # Without DATA the CLI has no file to read: a model trained on a frame says so.
    result = CliRunner().invoke(cli, ["predict", "--model", str(tmp_path / "saved")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "tsforecast: error: the model was trained on a data frame in Python: give the data to "
        "forecast from (DATA, a file or - to pipe it in; data= in Python)"
    )
    # The same error in Python; the model in memory forecasts from its training frame.
    with pytest.raises(DataError, match="trained on a data frame in Python: give the data to"):
        tsforecast.load(tmp_path / "saved").predict()


def test_keywords_are_the_cli_options_checked_as_the_cli_checks_them(both):
    frame = both[0]
    with pytest.raises(ConfigError) as unknown:
        tsforecast.train(frame, hiden=8)
    assert str(unknown.value) == (
        "unknown option(s) hiden; the options are those of `tsforecast train --help`, with _ "
        "for -, e.g. season_length"
    )
    with pytest.raises(ConfigError) as bad:
        tsforecast.train(frame, model="transformer")
    assert str(bad.value) == (
        "model='transformer': 'transformer' is not one of 'lstm', 'gru', 'bilstm', 'conv-lstm'."
    )
    with pytest.raises(DataError, match="--target column 'price' not found; the columns are: "):
        tsforecast.train(frame, target="price")


def test_backtest_and_evaluate_give_what_the_cli_writes(both, tmp_path):
    frame, data, _, _ = both
    out = tmp_path / "bt"
    result = CliRunner().invoke(
        cli, ["backtest", str(data), *FLAGS, "--windows", "2", "-q", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out / "backtest_forecasts.csv", parse_dates=["cutoff", "ds"])
    backtest = tsforecast.backtest(frame, windows=2, **OPTIONS)
    assert backtest.cutoffs == 2
    # backtest_forecasts.csv holds every float to the last digit.
    pd.testing.assert_frame_equal(backtest.forecasts, written, check_dtype=False)
    cli_scores = pd.read_json(out / "backtest_metrics.json", orient="index")
    pd.testing.assert_frame_equal(
        backtest.evaluation.summary, cli_scores, check_dtype=False, check_names=False
    )

    # `evaluate` of the backtest's forecasts against the data: the CLI on the two files, the
    # API on the two frames.
    scored = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(out / "backtest_forecasts.csv"),
            str(data),
            "--out",
            str(tmp_path / "e.json"),
        ],
    )
    assert scored.exit_code == 0, scored.output
    cli_table = pd.read_json(tmp_path / "e.json", orient="index", precise_float=True)
    table = tsforecast.evaluate(written, frame).summary
    pd.testing.assert_frame_equal(table, cli_table, check_dtype=False, check_names=False)
    assert table.loc["model", "MASE"] > 0
    # The files themselves, as the CLI was given them: its very numbers.
    from_files = tsforecast.evaluate(out / "backtest_forecasts.csv", data)
    pd.testing.assert_frame_equal(
        from_files.summary, cli_table, check_exact=True, check_dtype=False, check_names=False
    )


def test_a_file_path_trains_the_model_the_cli_trains(both):
    """DATA as the CLI takes it: the same model to the last digit, and the model re-reads its
    file when predict is given no data, as `tsforecast predict --model` does."""
    _, data, model_dir, _ = both
    model = tsforecast.train(data, **OPTIONS)
    assert model.artifact.config.data.path == str(data)
    from_cli = tsforecast.load(model_dir)
    pd.testing.assert_frame_equal(
        from_cli.predict(level=[80]), model.predict(level=[80]), check_exact=True
    )
    with pytest.raises(ConfigError, match="the data is a list: give a pandas DataFrame or the "):
        tsforecast.train([1.0, 2.0], **OPTIONS)
