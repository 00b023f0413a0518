"""DATA "-" reads standard input and `predict --out -` writes standard output: the real CLI in
a child process, fed through a pipe as cron or psql would, gives what the same file gives."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast.cli import cli

# Trains a network of its own: left out of `make test-fast`.
pytestmark = pytest.mark.slow

TINY = ("--hidden", "4", "--lookback", "24", "--horizon", "6", "--epochs", "1", "-q")


def tsforecast(*args: object, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tsforecast", *map(str, args)],
        input=stdin,
        capture_output=True,
        check=False,
    )


@pytest.fixture(scope="module")
def piped(tmp_path_factory, make_series):
    root = tmp_path_factory.mktemp("pipes")
    data = root / "data.csv"
    make_series(200).to_csv(data, index=False)
    model = root / "model"
    trained = tsforecast("train", "-", *TINY, "--out", model, stdin=data.read_bytes())
    assert trained.returncode == 0, trained.stderr.decode()
    return data, model


@pytest.fixture(scope="module")
def from_file(piped) -> bytes:
    """What `predict DATA --model MODEL` prints, the file named: what every pipe must give."""
    data, model = piped
    predicted = tsforecast("predict", data, "--model", model)
    assert predicted.returncode == 0, predicted.stderr.decode()
    return predicted.stdout


def test_a_model_trained_through_a_pipe_forecasts_as_from_the_file(piped, from_file):
    data, model = piped
    for text in (data.read_bytes(), gzip.compress(data.read_bytes())):
        piped_in = tsforecast("predict", "-", "--model", model, "--out", "-", stdin=text)
        assert piped_in.returncode == 0, piped_in.stderr.decode()
        assert piped_in.stdout == from_file
    assert len(pd.read_csv(io.BytesIO(from_file))) == 6
    assert not Path("-").exists()  # --out - is stdout, not a file named -


def test_parquet_through_a_pipe_reads_as_csv_does(piped, from_file, tmp_path):
    data, model = piped
    parquet = tmp_path / "data.parquet"
    pd.read_csv(data, parse_dates=["ds"]).to_parquet(parquet)
    from_parquet = tsforecast("predict", "-", "--model", model, stdin=parquet.read_bytes())
    assert from_parquet.returncode == 0, from_parquet.stderr.decode()
    assert from_parquet.stdout == from_file


def test_a_pipe_is_gone_after_training_and_an_empty_one_is_bad_input(piped):
    _, model = piped
    gone = tsforecast("predict", "--model", model)
    assert gone.returncode == 2
    assert gone.stderr.decode().strip() == (
        "tsforecast: error: the model was trained on standard input, which is gone: give the "
        "data to forecast from (DATA, a file or - to pipe it in; data= in Python)"
    )
    empty = tsforecast("predict", "-", "--model", model)
    assert empty.returncode == 2
    assert empty.stderr.decode().strip() == (
        "tsforecast: error: standard input is empty: pipe a CSV or Parquet table into DATA -"
    )


def test_standard_input_is_read_once_per_command(piped, monkeypatch):
    """As tests/test_reads.py for files: one parse of the table per command. predict with
    --registry and --level parses DATA twice (the recalibration, then the forecast): both from
    the one read of the pipe, which a second read would find empty."""
    data, _ = piped
    registry = data.parent / "registry"
    table = data.read_bytes()
    parsed: list[io.BytesIO] = []
    original = pd.read_csv

    def counting(source, *args, **kwargs):
        # Not the buffers artifacts.load reads a model directory's files through.
        if isinstance(source, io.BytesIO) and source.getvalue() == table:
            parsed.append(source)
        return original(source, *args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", counting)

    def parses(*args: str) -> int:
        parsed.clear()
        result = CliRunner().invoke(cli, list(args), input=table)
        assert result.exit_code == 0, result.output
        return len(parsed)

    assert parses("train", "-", *TINY, "--registry", str(registry)) == 1
    assert parses("predict", "-", "--registry", str(registry)) == 1
    assert parses("predict", "-", "--registry", str(registry), "--level", "90") == 2


def test_evaluate_reads_its_actuals_through_a_pipe(piped, make_series, tmp_path):
    data, model = piped
    forecast = tmp_path / "forecast.csv"
    assert tsforecast("predict", data, "--model", model, "--out", forecast).returncode == 0
    actuals = tmp_path / "actuals.csv"
    make_series(206).to_csv(actuals, index=False)  # the same series, 6 rows longer
    from_file = tsforecast("evaluate", forecast, actuals)
    from_pipe = tsforecast("evaluate", forecast, "-", stdin=actuals.read_bytes())
    assert from_file.returncode == 0, from_file.stderr.decode()
    assert from_pipe.returncode == 0, from_pipe.stderr.decode()
    assert from_pipe.stdout == from_file.stdout and b"MASE" in from_file.stdout


def test_predict_out_follows_the_extension(piped, tmp_path):
    data, model = piped
    outs = {ext: tmp_path / f"forecast.{ext}" for ext in ("csv", "parquet", "json")}
    for out in outs.values():
        result = tsforecast("predict", data, "--model", model, "--level", "80", "--out", out)
        assert result.returncode == 0, result.stderr.decode()
    csv = pd.read_csv(outs["csv"], parse_dates=["ds"])
    parquet = pd.read_parquet(outs["parquet"])
    json = pd.read_json(outs["json"], orient="records", convert_dates=["ds"])
    assert outs["parquet"].read_bytes()[:4] == b"PAR1"
    assert list(parquet.columns) == list(csv.columns) == list(json.columns)
    assert pd.api.types.is_datetime64_any_dtype(parquet["ds"])
    assert (parquet["ds"] == csv["ds"]).all() and (json["ds"] == csv["ds"]).all()
    for frame in (parquet, json):
        for column in ("y_hat", "y_hat-lo-80", "y_hat-hi-80"):
            # CSV keeps 7 significant digits; Parquet and JSON every one.
            assert (frame[column] - csv[column]).abs().max() <= 1e-6 * csv[column].abs().max()
            assert (frame[column] != csv[column]).any()
        assert (frame["method"] == csv["method"]).all()
