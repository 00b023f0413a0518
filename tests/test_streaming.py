"""`predict --chunk-rows`: a long-layout file read a chunk of whole series at a time gives the
same bytes as the whole read, errors in a later chunk leave no --out, and the chunk planner
never splits a series."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tsforecast.chunks import plan, split
from tsforecast.config import DataConfig

LOOKBACK, HORIZON = 24, 6
# Series lengths: one shorter than the lookback (seasonal naive), the rest of varied lengths.
LENGTHS = [60 + 7 * k if k != 4 else 10 for k in range(20)]


def panel_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frames = []
    for k, n in enumerate(LENGTHS):
        t = np.arange(n)
        y = 50 + k + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, n)
        ds = pd.date_range("2024-03-01", periods=n, freq="h")
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": f"{k * 3:03d}",  # 000, 003, ... look numeric: they stay text
                    "ds": ds.strftime("%Y-%m-%d %H:%M:%S"),
                    "y": np.round(y, 4),
                }
            )
        )
    # Series in file order not sorted (the panel's order is): 057 first.
    return pd.concat(frames[::-1], ignore_index=True)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory, run_cli):
    root = tmp_path_factory.mktemp("streamed")
    frame = panel_frame()
    csv = root / "panel.csv"
    frame.to_csv(csv, index=False)
    parquet = root / "panel.parquet"
    frame.to_parquet(parquet, index=False)
    result = run_cli(
        "train", csv, "--hidden", 8, "--lookback", LOOKBACK, "--horizon", HORIZON,
        "--epochs", 1, "--epoch-windows", 128, "--ensemble", 1, "--out", root / "model",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return root, frame


def predict(run_cli, data: Path, out: Path, *args):
    result = run_cli("predict", data, "--model", data.parent / "model", "--out", out, *args)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("source", ["panel.csv", "panel.parquet"])
@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_chunked_output_equals_the_whole_read(streamed, run_cli, tmp_path, source, suffix):
    root, frame = streamed
    data = root / source
    # 250 rows a chunk: about 7 chunks of the 1,7xx rows.
    whole = predict(run_cli, data, tmp_path / f"whole{suffix}", "--chunk-rows", 0, "--level", 80)
    chunked = predict(
        run_cli, data, tmp_path / f"chunked{suffix}", "--chunk-rows", 250, "--level", 80
    )
    if suffix == ".parquet":
        assert pq.ParquetFile(chunked).num_row_groups >= 3  # it was written chunk by chunk
        a, b = pq.read_table(whole), pq.read_table(chunked)
        assert a.equals(b)
        assert a.schema.metadata == b.schema.metadata
        table = a.to_pandas()
    else:
        assert whole.read_bytes() == chunked.read_bytes()
        table = (
            pd.read_json(whole, dtype={"unique_id": str})
            if suffix == ".json"
            else pd.read_csv(whole, dtype={"unique_id": str})
        )
    ids = sorted(frame["unique_id"].unique())
    assert list(dict.fromkeys(table["unique_id"])) == ids  # every series, sorted, as text
    assert len(table) == len(ids) * HORIZON
    short = table[table["unique_id"] == "012"]["method"]
    assert set(short) == {"seasonal_naive"}


def test_stdout_and_id_selection_with_chunks(streamed, run_cli):
    root, _ = streamed
    picks = ("054", "003", "030", "003")
    args = [arg for i in picks for arg in ("--id", i)]
    model = root / "model"
    whole = run_cli("predict", root / "panel.csv", "--model", model, "--chunk-rows", 0, *args)
    chunked = run_cli("predict", root / "panel.csv", "--model", model, "--chunk-rows", 100, *args)
    assert whole.exit_code == chunked.exit_code == 0, chunked.output
    assert chunked.stdout == whole.stdout
    order = pd.read_csv(io.StringIO(chunked.stdout), dtype={"unique_id": str})
    assert list(dict.fromkeys(order["unique_id"])) == ["054", "003", "030"]
    unknown = run_cli(
        "predict", root / "panel.csv", "--model", model, "--chunk-rows", 100, "--id", "999"
    )
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().endswith("unknown series id(s): 999")


def test_a_gap_in_the_last_chunk_leaves_no_output(streamed, run_cli, tmp_path):
    root, frame = streamed
    last = frame["unique_id"].max()
    rows = frame.index[frame["unique_id"] == last]
    broken = tmp_path / "gap.csv"
    frame.drop(index=rows[20]).to_csv(broken, index=False)
    out = tmp_path / "out" / "forecast.csv"
    args = ("predict", broken, "--model", root / "model", "--out", out)
    result = run_cli(*args, "--chunk-rows", 250)
    assert result.exit_code == 2, result.output
    assert f"first at 2024-03-01 20:00:00 (series '{last}')" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not out.parent.exists() or not list(out.parent.iterdir())  # no temporary file left
    whole = run_cli(*args, "--chunk-rows", 0)
    assert whole.exit_code == 2
    assert whole.stderr == result.stderr


def test_the_plan_keeps_series_whole():
    sizes = [("a", 3), ("b", 4), ("c", 10), ("d", 2), ("e", 2), ("f", 5)]
    assert split(sizes, 7) == [("a", "b"), ("c",), ("d", "e"), ("f",)]
    assert split(sizes, 100) == [("a", "b", "c", "d", "e", "f")]
    assert split(sizes, 1) == [("a",), ("b",), ("c",), ("d",), ("e",), ("f",)]


def test_the_plan_of_a_file_counts_every_series(streamed):
    root, frame = streamed
    cfg = DataConfig(path=str(root / "panel.csv"), id_col="unique_id", time_col="ds", target="y")
    chunks = plan(cfg, 250)
    counts = frame["unique_id"].value_counts()
    assert [name for group in chunks.groups for name in group] == sorted(counts.index)
    for group in chunks.groups:
        assert sum(counts[name] for name in group) <= 250 or len(group) == 1
    assert len(chunks.groups) >= 3
    assert plan(cfg, len(frame)) is None  # fits in one chunk: read whole
    assert plan(cfg, 0) is None


def test_the_forecast_log_and_plot_of_chunks_equal_the_whole_reads(streamed, run_cli, tmp_path):
    root, _ = streamed
    logs = {}
    for chunk_rows in (0, 250):
        folder = tmp_path / f"log-{chunk_rows}"
        predict(
            run_cli, root / "panel.csv", tmp_path / f"f{chunk_rows}.csv",
            "--chunk-rows", chunk_rows, "--log-to", folder, "--level", 80,
            "--plot", tmp_path / f"plot-{chunk_rows}.png", "--plot-max", 3,
        )  # fmt: skip
        (written,) = folder.glob("*.parquet")
        logs[chunk_rows] = pd.read_parquet(written)
        assert (tmp_path / f"plot-{chunk_rows}.png").stat().st_size > 10_000
    whole, chunked = logs[0], logs[250]
    # Every series' horizon, with its step, origin and history start, as the whole read logs it.
    assert len(whole) == len(LENGTHS) * HORIZON
    pd.testing.assert_frame_equal(chunked, whole)
    first = whole[whole["unique_id"] == "000"]
    assert first["step"].tolist() == list(range(1, HORIZON + 1))
    assert first["history_start"].iloc[0] == pd.Timestamp("2024-03-01")
    assert first["origin"].iloc[0] == pd.Timestamp("2024-03-01") + pd.Timedelta(
        hours=LENGTHS[0] - 1
    )
    # Drawn from the same three series, the same picture.
    assert (tmp_path / "plot-0.png").read_bytes() == (tmp_path / "plot-250.png").read_bytes()


def test_dates_without_a_time_are_written_alike_from_chunks(run_cli, tmp_path):
    # Daily data: pandas writes `2024-03-01` when every forecast timestamp of the file is a
    # midnight, so each chunk must be written as the whole forecast would be.
    rng = np.random.default_rng(5)
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"s{k}",
                    "ds": pd.date_range("2024-01-01", periods=80 + 5 * k, freq="D"),
                    "y": np.round(20 + k + rng.normal(0, 1, 80 + 5 * k), 3),
                }
            )
            for k in range(6)
        ]
    )
    data = tmp_path / "daily.csv"
    frame.to_csv(data, index=False)
    result = run_cli(
        "train", data, "--hidden", 4, "--lookback", 14, "--horizon", 3, "--epochs", 1,
        "--ensemble", 1, "--out", tmp_path / "model",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    whole = predict(run_cli, data, tmp_path / "whole.csv", "--chunk-rows", 0)
    chunked = predict(run_cli, data, tmp_path / "chunked.csv", "--chunk-rows", 100)
    text = whole.read_text()
    assert text.splitlines()[1].split(",")[1] == "2024-03-21"  # s0's first forecast day
    assert chunked.read_text() == text


def test_a_chunk_gets_the_bits_of_the_whole_panel(run_cli, tmp_path):
    # 300 series: read whole, their windows run in batches of 300, in chunks of about 40; a
    # matrix product's sums run in an order that depends on the batch, so unless every chunk
    # is padded to the whole panel's batch, the 7th digit of some forecasts differs.
    rng = np.random.default_rng(9)
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"s{k:03d}",
                    "ds": pd.date_range("2024-01-01", periods=(n := int(rng.integers(60, 100)))),
                    "y": np.round(40 + 5 * np.sin(np.arange(n) / 3) + rng.normal(0, 1, n), 3),
                }
            )
            for k in range(300)
        ]
    )
    data = tmp_path / "many.csv"
    frame.to_csv(data, index=False)
    result = run_cli(
        "train", data, "--hidden", 8, "--lookback", 21, "--horizon", 7, "--epochs", 1,
        "--epoch-windows", 256, "--ensemble", 1, "--out", tmp_path / "model",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    whole = predict(run_cli, data, tmp_path / "whole.csv", "--chunk-rows", 0)
    chunked = predict(run_cli, data, tmp_path / "chunked.csv", "--chunk-rows", 3000)
    assert len(whole.read_text().splitlines()) == 1 + 300 * 7
    assert chunked.read_text() == whole.read_text()
