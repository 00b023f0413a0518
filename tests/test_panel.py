"""Many series in one global model: layouts, mixed lengths, new ids, covariates, devices.

Every training here uses the same tiny shapes (hidden 8, lookback 24, horizon 6, batch 32) so
the compiled programs are shared through the compilation cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast import artifacts
from tsforecast.cli import cli
from tsforecast.config import Config, DataConfig
from tsforecast.data import load_panel
from tsforecast.features import calendar_features
from tsforecast.forecast import Forecaster
from tsforecast.windows import Framing, split_windows

TINY = [
    "--hidden",
    "8",
    "--lookback",
    "24",
    "--horizon",
    "6",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    # Two epochs of a tiny network lose steps to seasonal naive; these tests are about the
    # network's own forecasts of a panel.
    "--no-fallback",
    "-q",
]
# s2 is too short to train on (lookback 24 + 2 x 6 + validation) but long enough to forecast;
# s3 is shorter than the lookback: seasonal naive.
LENGTHS = {"s0": 160, "s1": 130, "s2": 30, "s3": 12}


def make_long(with_covariates: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frames = []
    for k, (series_id, n) in enumerate(LENGTHS.items()):
        t = np.arange(n)
        ds = pd.date_range("2024-01-01", periods=n, freq="h") + pd.Timedelta(hours=3 * k)
        price = rng.normal(size=n)
        y = 20 + 5 * k + 3 * np.sin(2 * np.pi * (t + 3 * k) / 24) + rng.normal(scale=0.3, size=n)
        frame = pd.DataFrame({"unique_id": series_id, "ds": ds, "y": y.round(4)})
        if with_covariates:
            frame["y"] = (frame["y"] + 2 * price).round(4)
            frame["price"] = price.round(4)
            frame["temp"] = rng.normal(size=n).round(4)
            frame["region"] = "north" if k % 2 else "south"
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("panel")
    long = make_long()
    paths = {"long": root / "long.csv", "parquet": root / "long.parquet", "wide": root / "wide.csv"}
    # Shuffled rows: the reader sorts by id and time.
    long.sample(frac=1.0, random_state=1).to_csv(paths["long"], index=False)
    long.to_parquet(paths["parquet"], index=False)
    long.pivot(index="ds", columns="unique_id", values="y").reset_index().to_csv(
        paths["wide"], index=False
    )
    return paths


@pytest.fixture(scope="session")
def long_model(files, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("models") / "long"
    result = run("train", str(files["long"]), *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    return out, result.stderr


@pytest.mark.slow
def test_long_wide_and_parquet_give_the_same_model(files, long_model, tmp_path):
    long_dir, _ = long_model
    for layout in ("wide", "parquet"):
        out = tmp_path / layout
        result = run("train", str(files[layout]), *TINY, "--out", str(out))
        assert result.exit_code == 0, result.output
        assert json.loads((out / "metrics.json").read_text()) == json.loads(
            (long_dir / "metrics.json").read_text()
        )
        assert (out / "scaler.csv").read_text() == (long_dir / "scaler.csv").read_text()
        assert (out / "params.msgpack").read_bytes() == (long_dir / "params.msgpack").read_bytes()
    assert (
        json.loads((tmp_path / "wide" / "config.json").read_text())["config"]["data"]["wide"]
        is True
    )


@pytest.mark.slow
def test_mixed_lengths_skip_short_series_with_one_warning(long_model):
    out, stderr = long_model
    warnings = [line for line in stderr.splitlines() if "left out of training" in line]
    assert warnings == [
        "tsforecast: 2 of 4 series have fewer than the 38 rows training needs "
        "(lookback + 2 x horizon + validation - 1) and are left out of training (--strict refuses "
        "them)"
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["series"], metrics["skipped_series"]) == (2, 2)
    by_series = pd.read_csv(out / "metrics_by_series.csv")
    assert sorted(set(by_series["unique_id"])) == ["s0", "s1"]
    # Both tables recomputed with numpy: per series, the MAE over its validation windows over
    # its training part's mean absolute change from a day (24 hours) earlier; metrics.json holds
    # the mean over the series (M4's). Seasonal naive forecasts each target with the value a day
    # before it (horizon 6 < 24); the network (served alone: --no-fallback) with its forecasts of
    # the same windows.
    artifact = artifacts.load(out)
    lookback, horizon = artifact.config.window.lookback, artifact.config.window.horizon
    assert artifact.config.data.season == 24
    panel, _ = load_panel(artifact.config.data)
    split = split_windows(
        panel.offsets, lookback, horizon, artifact.config.window.val_size, panel.ids
    )
    series = split.val_series
    starts = split.val_starts - panel.offsets[series]
    network = Forecaster.of(artifact).forecast(panel, series, starts).original()
    expected = {"model": {}, "seasonal_naive": {}}
    for i in np.unique(series):
        y = panel.series(i).astype(np.float64)
        train = y[: split.train_part[i]]
        scale = np.mean(np.abs(train[24:] - train[:-24]))
        mine = np.flatnonzero(series == i)
        rows = starts[mine, None] + lookback + np.arange(horizon)
        expected["model"][panel.ids[i]] = np.mean(np.abs(y[rows] - network[mine])) / scale
        expected["seasonal_naive"][panel.ids[i]] = np.mean(np.abs(y[rows] - y[rows - 24])) / scale
    assert sorted(expected["model"]) == ["s0", "s1"]
    for method, by_hand in expected.items():
        table = by_series[by_series["method"] == method].set_index("unique_id")["mase"]
        assert table.to_dict() == pytest.approx(by_hand, rel=1e-4), method
        assert metrics[method]["mase"] == pytest.approx(np.mean(list(by_hand.values())), rel=1e-4)


@pytest.mark.slow
def test_predict_flags_series_shorter_than_the_lookback(files, long_model, tmp_path):
    out, _ = long_model
    result = run("predict", str(files["long"]), "--model", str(out))
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(pd.io.common.StringIO(result.stdout), parse_dates=["ds"])
    assert list(forecast.columns) == ["unique_id", "ds", "y_hat", "method"]
    methods = forecast.groupby("unique_id")["method"].first().to_dict()
    assert methods == {"s0": "model", "s1": "model", "s2": "model", "s3": "seasonal_naive"}
    assert forecast.groupby("unique_id").size().tolist() == [6, 6, 6, 6]
    long = make_long()
    s3 = long[long["unique_id"] == "s3"]
    assert forecast.loc[forecast["unique_id"] == "s3", "ds"].iloc[0] == s3["ds"].iloc[
        -1
    ] + pd.Timedelta(hours=1)
    # s3 has 12 values, less than a season of 24: seasonal naive repeats the last value.
    assert np.allclose(
        forecast.loc[forecast["unique_id"] == "s3", "y_hat"], s3["y"].iloc[-1], rtol=1e-6
    )

    subset = run("predict", str(files["long"]), "--model", str(out), "--id", "s1", "--id", "s3")
    assert subset.exit_code == 0, subset.output
    assert pd.read_csv(pd.io.common.StringIO(subset.stdout))["unique_id"].unique().tolist() == [
        "s1",
        "s3",
    ]

    unknown = run("predict", str(files["long"]), "--model", str(out), "--id", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr == "tsforecast: error: unknown series id(s): nope\n"


def test_strict_refuses_short_series(files, tmp_path):
    result = run("train", str(files["long"]), *TINY, "--strict", "--out", str(tmp_path / "m"))
    assert result.exit_code == 2
    assert result.stderr.startswith("tsforecast: error: series 's2' is too short: lookback 24")
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_unseen_id_is_forecast_with_its_own_statistics(long_model, tmp_path):
    out, _ = long_model
    long = make_long()
    new = long[long["unique_id"] == "s0"].assign(unique_id="new", y=lambda f: f["y"] * 10 + 1000)
    path = tmp_path / "with_new.csv"
    pd.concat([long, new]).to_csv(path, index=False)
    result = run("predict", str(path), "--model", str(out), "--id", "new", "--id", "s0")
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(pd.io.common.StringIO(result.stdout))
    ahead = forecast[forecast["unique_id"] == "new"]
    assert len(ahead) == 6 and (ahead["method"] == "model").all()
    # Standardised with its own history, the new series is forecast at its own level, in its units.
    assert new["y"].min() < ahead["y_hat"].min() and ahead["y_hat"].max() < new["y"].max()
    s0 = forecast[forecast["unique_id"] == "s0"]["y_hat"].to_numpy()
    assert np.corrcoef(s0, ahead["y_hat"])[0, 1] > 0.9


@pytest.mark.slow
def test_a_format_1_model_directory_forecasts_as_before(files, tmp_path):
    import shutil

    # Format 1 knew no framing options: its models saw per-series z-scores only.
    out = tmp_path / "new"
    trained = run(
        "train",
        str(files["long"]),
        *TINY,
        "--normalize",
        "series",
        "--residual",
        "none",
        "--out",
        str(out),
    )
    assert trained.exit_code == 0, trained.output
    old = tmp_path / "old"
    shutil.copytree(out, old)
    raw = json.loads((old / "config.json").read_text())
    assert raw["format_version"] == 2
    raw["format_version"] = 1
    for key in ("features", "future_features", "static_levels"):
        del raw[key]
    for section, keys in {
        "data": ("wide", "covariates", "future_covariates", "static", "calendar", "strict"),
        "model": ("normalize", "residual"),
        "train": ("epoch_windows",),
    }.items():
        for key in keys:
            del raw["config"][section][key]
    (old / "config.json").write_text(json.dumps(raw))
    (old / "metrics_by_series.csv").unlink()
    new = run("predict", str(files["long"]), "--model", str(out))
    again = run("predict", str(files["long"]), "--model", str(old))
    assert again.exit_code == 0, again.output
    assert again.stdout == new.stdout


def test_calendar_features_across_month_ends_in_utc():
    stamps = pd.DatetimeIndex(
        [
            "2024-01-31 23:00",
            "2024-02-01 00:00",
            "2024-02-29 12:00",
            "2024-03-01 00:00",
            "2023-12-31 18:00",
        ],
        tz="UTC",
    )
    got = calendar_features(stamps, "h")
    day = lambda phase: [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]  # noqa: E731
    expected = np.asarray(
        [
            day(23 / 24)
            + day(2 / 7)
            + day(30 / 31)
            + day(0 / 12),  # a Wednesday, the last day of January
            day(0)
            + day(3 / 7)
            + day(0)
            + day(1 / 12),  # the first of the month starts the cycle again
            day(12 / 24) + day(3 / 7) + day(28 / 29) + day(1 / 12),  # leap day
            day(0) + day(4 / 7) + day(0) + day(2 / 12),
            day(18 / 24) + day(6 / 7) + day(30 / 31) + day(11 / 12),
        ]
    )
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # A UTC offset is read as UTC: 23:30 at -01:00 on 31 March is 00:30 on 1 April.
    frame = pd.DataFrame(
        {
            "ds": [
                "2024-03-31T22:30:00-01:00",
                "2024-03-31T23:30:00-01:00",
                "2024-04-01T00:30:00-01:00",
            ],
            "y": [1.0, 2.0, 3.0],
        }
    )
    from tsforecast.data import parse_time

    utc = parse_time(frame, "ds")
    assert str(utc[1]) == "2024-04-01 00:30:00+00:00"
    assert calendar_features(utc, "h")[1, 4:6] == pytest.approx(day(0), abs=1e-6)


@pytest.fixture(scope="session")
def covariate_model(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("covariates")
    data = root / "data.csv"
    make_long(with_covariates=True).to_csv(data, index=False)
    out = root / "model"
    result = run(
        "train",
        str(data),
        *TINY,
        "--covariates",
        "temp",
        "--future-covariates",
        "price",
        "--static",
        "region",
        "--calendar",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    return data, out


def future_file(path: Path, drop: tuple[str, int] | None = None) -> Path:
    rows = []
    for k, (series_id, n) in enumerate(LENGTHS.items()):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=3 * k + n)
        for step in range(6):
            if drop != (series_id, step):
                rows.append(
                    {"unique_id": series_id, "ds": start + pd.Timedelta(hours=step), "price": 0.5}
                )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_covariate_model_layout(covariate_model):
    _, out = covariate_model
    saved = json.loads((out / "config.json").read_text())
    names = saved["features"]
    assert names[:3] == ["y", "temp", "price"]
    assert names[-2:] == ["region=north", "region=south"]
    assert [names[i] for i in saved["future_features"]] == ["price"] + [
        n for n in names if n.startswith(("hour", "day", "month"))
    ]
    assert list(pd.read_csv(out / "scaler.csv").columns) == [
        "unique_id",
        "mean",
        "std",
        "mean:temp",
        "std:temp",
        "mean:price",
        "std:price",
    ]


@pytest.mark.slow
def test_future_covariates_are_required_and_checked(covariate_model, tmp_path):
    data, out = covariate_model
    result = run("predict", str(data), "--model", str(out))
    assert result.exit_code == 2
    assert result.stderr == (
        "tsforecast: error: the model uses future covariates (price); give their values for the 6 "
        "steps after "
        "each series with --future FILE\n"
    )
    gap = run(
        "predict",
        str(data),
        "--model",
        str(out),
        "--future",
        str(future_file(tmp_path / "gap.csv", ("s1", 2))),
    )
    assert gap.exit_code == 2
    assert gap.stderr == (
        f"tsforecast: error: --future file {tmp_path / 'gap.csv'} lacks the future covariates of 1 "
        "of the 18 forecast "
        "steps: series 's1', first at 2024-01-06 15:00:00 (6 steps after each series' last "
        "timestamp needed)\n"
    )
    ok = run(
        "predict",
        str(data),
        "--model",
        str(out),
        "--future",
        str(future_file(tmp_path / "future.csv")),
    )
    assert ok.exit_code == 0, ok.output
    forecast = pd.read_csv(pd.io.common.StringIO(ok.stdout), parse_dates=["ds"])
    assert len(forecast) == 24 and np.isfinite(forecast["y_hat"]).all()
    s0 = forecast[forecast["unique_id"] == "s0"]["ds"]
    assert s0.iloc[0] == pd.Timestamp("2024-01-01") + pd.Timedelta(hours=LENGTHS["s0"])


def test_every_data_problem_names_the_series(tmp_path):
    long = make_long()
    cases = {
        "duplicate": (
            pd.concat([long, long[long["unique_id"] == "s1"].iloc[[5]]]),
            "1 duplicated timestamps, first at 2024-01-01 08:00:00 (series 's1')",
        ),
        "gap": (
            long.drop(index=long.index[(long["unique_id"] == "s2")][4]),
            "1 missing timestamps in the h grid, first at 2024-01-01 10:00:00 (series 's2')",
        ),
        "nan": (
            long.assign(
                y=np.where((long["unique_id"] == "s1") & (long.index == 170), np.nan, long["y"])
            ),
            "1 missing target values, first at 2024-01-01 13:00:00 (series 's1')",
        ),
        "text": (
            long.assign(y=long["y"].astype(str).where(long.index != 170, "abc")),
            "target column 'y' has 1 non-numeric values, first 'abc' at 2024-01-01 13:00:00 "
            "(series 's1')",
        ),
    }
    daily = pd.DataFrame(
        {"unique_id": "daily", "ds": pd.date_range("2024-01-01", periods=10, freq="D"), "y": 1.0}
    )
    cases["freq"] = (pd.concat([long, daily]), "series 'daily' is at frequency")
    for name, (frame, message) in cases.items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        result = run("train", str(path), *TINY, "--out", str(tmp_path / "m"))
        assert result.exit_code == 2, name
        assert result.stderr.startswith(f"tsforecast: error: {message}"), (name, result.stderr)
        assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_fill_works_within_each_series(tmp_path):
    long = make_long()
    # The first value of s1 and the last of s0 are missing: each is filled from its own series,
    # never from the neighbour's values.
    s1_first = long.index[long["unique_id"] == "s1"][0]
    s0_last = long.index[long["unique_id"] == "s0"][-1]
    long.loc[[s1_first, s0_last], "y"] = np.nan
    path = tmp_path / "holes.csv"
    long.to_csv(path, index=False)
    for fill in ("interpolate", "ffill"):
        panel, _ = load_panel(DataConfig(path=str(path), fill=fill))
        assert panel.series(1)[0] == pytest.approx(long.loc[s1_first + 1, "y"])
        assert panel.series(0)[-1] == pytest.approx(long.loc[s0_last - 1, "y"])


def test_split_windows_skips_short_series_and_keeps_offsets():
    offsets = np.array([0, 100, 110, 190])
    split = split_windows(offsets, lookback=10, horizon=5, val_size=3, ids=("a", "b", "c"))
    assert split.usable.tolist() == [True, False, True]
    assert set(split.train_series.tolist()) == {0, 2}
    assert split.val_starts.tolist() == [83, 84, 85, 173, 174, 175]
    # Series c's training windows end before its first validation target (173 + 10).
    assert (split.train_starts[split.train_series == 2] + 15).max() <= 173 + 10


def test_seasonal_residual_frame_starts_from_seasonal_naive():
    import jax.numpy as jnp

    history = jnp.arange(2 * 48, dtype=jnp.float32).reshape(2, 48)
    loc, base, scale = Framing("window", "seasonal", (24, 12)).frame(history, 30)
    # The primary period (24) alone is subtracted, whatever else the blend would read.
    expected = np.asarray(history)[:, 24:48][:, np.arange(30) % 24]
    np.testing.assert_allclose(np.asarray(base), expected)
    np.testing.assert_allclose(np.asarray(loc)[:, 0], np.asarray(history).mean(axis=1))
    assert np.all(np.asarray(scale) > 0)


def test_old_config_without_panel_fields_loads_with_old_behaviour():
    old = {
        "data": {"path": "x.csv", "target": "y"},
        "window": {"horizon": 6},
        "model": {"name": "lstm"},
        "train": {},
    }
    config = Config.from_dict(old)
    assert (config.model.normalize, config.model.residual) == ("series", "none")
    assert (config.data.covariates, config.data.calendar, config.data.strict) == ((), False, False)
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.slow
def test_one_and_two_host_devices_give_the_same_loss_curve(files, long_model, tmp_path):
    # The device count is fixed when jax is imported. `long_model` is the same training in this
    # process, on one host device per core (tsforecast/__init__.py: two on a 2-core machine);
    # the other count gets a process of its own.
    here, _ = long_model
    devices = len(json.loads((here / "config.json").read_text())["devices"])
    other = 1 if devices > 1 else 2
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={other}"}
    out = tmp_path / f"d{other}"
    completed = subprocess.run(
        [sys.executable, "-m", "tsforecast", "train", str(files["long"]), *TINY, "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(json.loads((out / "config.json").read_text())["devices"]) == other
    curves = [
        pd.read_csv(d / "history.csv")[["train_loss", "val_loss"]].to_numpy() for d in (here, out)
    ]
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-4)


@pytest.mark.slow
def test_epoch_windows_draws_that_many_windows_per_epoch():
    import flax.linen as nn
    import jax
    import optax

    from tsforecast.config import TrainConfig
    from tsforecast.network import Network
    from tsforecast.placement import make_mesh
    from tsforecast.trainer import (
        make_epoch,
        make_grad_fn,
        make_loss,
        make_optimizer,
    )

    class Flat(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            return nn.Dense(3)(x.reshape(x.shape[0], -1))

    model, tx = Flat(), make_optimizer(TrainConfig(batch_size=8))
    values = jax.numpy.asarray(np.random.default_rng(0).normal(size=(200, 1)), jax.numpy.float32)
    starts = jax.numpy.arange(150, dtype=jax.numpy.int32)
    params = model.init(jax.random.PRNGKey(0), values[None, :5])["params"]
    for epoch_windows, steps in ((None, 19), (20, 3)):
        grad_fn = make_grad_fn(Network(model, 5, 3), make_loss("mse"), make_mesh(8))
        train_epoch = jax.jit(make_epoch(grad_fn, tx, 8, epoch_windows))
        _, opt_state, _, _ = train_epoch(
            jax.tree_util.tree_map(jax.numpy.copy, params),
            tx.init(params),
            jax.random.PRNGKey(1),
            values,
            starts,
        )
        counts = [
            s.count
            for s in jax.tree_util.tree_leaves(
                opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState)
            )
            if isinstance(s, optax.ScaleByAdamState)
        ]
        assert [int(c) for c in counts] == [steps]


@pytest.mark.parametrize("rows", [1, 2, 3, 100])
def test_neighbours_are_checked_across_the_slices_too(rows):
    from tsforecast.panel import _every_neighbour

    codes = np.asarray([0, 0, 0, 1, 1, 1], np.int32)
    ns = np.asarray([0, 10, 20, 0, 10, 20])

    def steps_by_ten(code, time, next_code, next_time):
        return np.all((next_time - time == 10) | (next_code != code))

    assert _every_neighbour(steps_by_ten, codes, ns, rows=rows)
    for broken in range(1, 6):  # one step too long, wherever the slices are cut
        late = ns.copy()
        late[broken:] += 1
        expected = broken == 3  # the second series may start anywhere
        assert _every_neighbour(steps_by_ten, codes, late, rows=rows) == expected
