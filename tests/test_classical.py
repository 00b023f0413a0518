"""tsforecast.classical: which fit each window's MSTL forecast reads, worked out by hand; the
seasonal periods MSTL is given; MSTL's window forecasts against statsforecast's MSTL called
directly on the history each fit must read; the models behind `--baselines`; and the message
when statsforecast is missing. No training."""

from __future__ import annotations

import importlib.util
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tsforecast import classical
from tsforecast.data import Panel
from tsforecast.errors import ConfigError

needs_statsforecast = pytest.mark.skipif(
    importlib.util.find_spec("statsforecast") is None, reason="needs tsforecast[baselines]"
)


def mstl_direct(history: np.ndarray, h: int, seasons: list[int]) -> np.ndarray:
    from statsforecast.models import MSTL

    return MSTL(season_length=seasons).forecast(y=history, h=h)["mean"]


def panel_of(*series: np.ndarray) -> Panel:
    lengths = [len(s) for s in series]
    return Panel(
        tuple(f"s{k}" for k in range(len(series))),
        np.concatenate(series).astype(np.float32),
        np.concatenate([[0], np.cumsum(lengths)]),
        tuple(pd.Timestamp(0) for _ in series),
        "h",
    )


def cycles(n: int, seed: int, level: float = 10.0) -> np.ndarray:
    """A cycle of 4 and one of 8 on a wandering level."""
    t = np.arange(n)
    walk = np.cumsum(np.random.default_rng(seed).normal(0, 0.1, n))
    return level + np.sin(2 * np.pi * t / 4) + 0.5 * np.cos(2 * np.pi * t / 8) + walk


def test_each_window_reads_the_fit_at_the_earliest_origin_less_than_a_horizon_before_it():
    origins = np.array([305, 300, 306, 302, 320, 311])
    np.testing.assert_array_equal(classical.fit_origins(origins, 6), [300, 300, 306, 300, 320, 306])
    # Series 0: origins 12, 13, 18 (fits at 12 and 18); series 1: 2 and 5 (one fit at 2).
    fresh = classical.fitted_at_origin(
        SimpleNamespace(lengths=np.array([40, 40])),
        np.array([0, 0, 0, 1, 1]),
        np.array([10, 11, 16, 0, 3]),
        2,
        6,
        (4,),
    )
    np.testing.assert_array_equal(fresh, [True, False, True, True, False])


def test_fit_origins_of_consecutive_windows_start_a_fit_every_horizon():
    # Origins 0..9 with horizon 4: fits at 0, 4 and 8, each covering the next three.
    np.testing.assert_array_equal(
        classical.fit_origins(np.arange(10), 4), [0, 0, 0, 0, 4, 4, 4, 4, 8, 8]
    )
    # Horizon 1: every window has a fit of its own; repeated origins share one.
    np.testing.assert_array_equal(classical.fit_origins(np.array([7, 3, 3, 5]), 1), [7, 3, 3, 5])
    assert classical.fit_origins(np.array([], dtype=int), 4).shape == (0,)


def test_a_series_with_more_fits_than_its_share_keeps_them_spread_evenly():
    # Horizon 4 over origins 0..99 wants 25 fits (0, 4, ..., 96); 3 are kept: the 1st, 13th and
    # 25th (0, 48, 96), and each origin reads the latest kept fit at or before it.
    fits = classical.fit_origins(np.arange(100), 4, most=3)
    assert fits[0] == 0 and fits[47] == 0 and fits[48] == 48 and fits[95] == 48
    assert fits[96] == 96 and fits[99] == 96
    np.testing.assert_array_equal(
        classical.fit_origins(np.arange(10), 4, most=3), [0] * 4 + [4] * 4 + [8] * 2
    )


@pytest.mark.parametrize(
    "lengths, seasons, fits",
    [
        # 16 weeks of history (2,688 hours) x (24 + 168) per fit: 516,096 value-periods, 193
        # fits in 100,000,000.
        ([26_000], (24, 168), 193),
        ([26_000, 5000], (24, 168), 96),  # two series share it
        # 10 five-minute series of 16,128 values: the weekly 2,016 is not decomposed, 288 is.
        ([16_128] * 10, (288, 2016), 2),
        ([16_128] * 40, (288, 2016), 2),  # never under two
    ],
)
def test_fits_per_series_share_the_validation_work(lengths, seasons, fits):
    panel = SimpleNamespace(lengths=np.array(lengths))
    assert classical.fits_per_series(panel, np.arange(len(lengths)), seasons) == fits


@pytest.mark.parametrize(
    "seasons, shortest, periods",
    [
        ((24, 168), 336, [24, 168]),  # two weekly cycles: both
        ((24, 168), 335, [24]),  # one short of two weeks: the daily one only
        ((24, 168), 47, [24]),  # not even two days: the primary anyway
        ((7,), 5, [7]),
        ((12, 4), 20, [4]),  # the order given is kept, the primary dropped when too long
        ((288, 2016), 16_128, [288]),  # a week of five-minute data: a minute a fit
    ],
)
def test_mstl_periods_are_those_the_shortest_history_holds_twice(seasons, shortest, periods):
    assert classical.mstl_periods(seasons, shortest) == periods


@needs_statsforecast
def test_mstl_windows_refit_a_horizon_apart_and_read_the_last_fit_between():
    rng = np.random.default_rng(3)
    n = 400
    t = np.arange(n)
    values = 10 + np.sin(2 * np.pi * t / 24) + np.cumsum(rng.normal(0, 0.1, n))
    panel = Panel(("a",), values.astype(np.float32), np.array([0, n]), (pd.Timestamp(0),), "h")
    y = values.astype(np.float32).astype(np.float64)
    lookback, horizon = 48, 6
    # Origins 300, 302, 305 share the fit at 300; 306 is a horizon later and refits.
    starts = np.array([305, 300, 306, 302]) - lookback
    got = classical.mstl_windows(panel, np.zeros(4, int), starts, lookback, horizon, (24,))
    at_300 = mstl_direct(y[:300], horizon + 5, [24])
    np.testing.assert_allclose(got[1], at_300[:6], rtol=1e-9)
    np.testing.assert_allclose(got[3], at_300[2:8], rtol=1e-9)
    np.testing.assert_allclose(got[0], at_300[5:11], rtol=1e-9)
    np.testing.assert_allclose(got[2], mstl_direct(y[:306], horizon, [24]), rtol=1e-9)


@needs_statsforecast
def test_mstl_windows_read_at_most_16_longest_seasons_and_the_periods_their_history_holds():
    assert classical.HISTORY_SEASONS == 16  # 16 x 8 = 128 values below
    first, second = cycles(300, seed=1), cycles(60, seed=2, level=50.0)
    y = [s.astype(np.float32).astype(np.float64) for s in (first, second)]
    panel = panel_of(first, second)
    lookback, horizon, seasons = 6, 3, (4, 8)
    # Series 0 at origin 250 (reads 122..249), series 1 at origins 20 (reads 0..19: both
    # periods) and 12 (reads 0..11: 16 > 12, the cycle of 4 only).
    series = np.array([0, 1, 1])
    origins = np.array([250, 20, 12])
    got = classical.mstl_windows(panel, series, origins - lookback, lookback, horizon, seasons)
    assert got.shape == (3, horizon) and got.dtype == np.float64
    np.testing.assert_allclose(got[0], mstl_direct(y[0][122:250], horizon, [4, 8]), rtol=1e-9)
    np.testing.assert_allclose(got[1], mstl_direct(y[1][:20], horizon, [4, 8]), rtol=1e-9)
    np.testing.assert_allclose(got[2], mstl_direct(y[1][:12], horizon, [4]), rtol=1e-9)
    # The whole history would forecast otherwise: the cap is what makes the first row.
    assert not np.allclose(got[0], mstl_direct(y[0][:250], horizon, [4, 8]), rtol=1e-6)


@needs_statsforecast
def test_a_fit_that_fails_leaves_only_its_windows_nan(monkeypatch):
    import statsforecast.models

    forecast = statsforecast.models.MSTL.forecast

    def fails_on_40_values(self, y, h, **kwargs):
        if len(y) == 40:
            raise np.linalg.LinAlgError("singular matrix")
        return forecast(self, y=y, h=h, **kwargs)

    monkeypatch.setattr(statsforecast.models.MSTL, "forecast", fails_on_40_values)
    values = cycles(80, seed=4)
    y = values.astype(np.float32).astype(np.float64)
    # Origins 40 and 41 share the fit at 40 (fails); 44 is a horizon later.
    origins = np.array([40, 41, 44])
    got = classical.mstl_windows(panel_of(values), np.zeros(3, int), origins - 8, 8, 4, (4,))
    assert np.isnan(got[:2]).all()
    np.testing.assert_allclose(got[2], mstl_direct(y[:44], 4, [4]), rtol=1e-9)


@needs_statsforecast
def test_the_baseline_models_behind_baselines():
    from statsforecast.models import MSTL, AutoETS, AutoTheta

    mstl = classical.statsforecast_model("mstl", (24, 168), 200)
    assert isinstance(mstl, MSTL) and mstl.alias == "mstl"
    assert mstl.season_length == [24]  # 200 values hold two days, not two weeks
    for name, kind in (("ets", AutoETS), ("theta", AutoTheta)):
        model = classical.statsforecast_model(name, (24, 168), 400)
        assert isinstance(model, kind) and model.alias == name
        assert model.season_length == 24  # the primary
    assert classical.available()


def test_without_statsforecast_the_message_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes the import fail, as where the package is missing.
    monkeypatch.setitem(sys.modules, "statsforecast", None)
    assert classical.available() is False
    with pytest.raises(ConfigError) as raised:
        classical.statsforecast_model("ets", (24,), 100)
    assert str(raised.value) == (
        "--baselines ets: needs statsforecast: pip install 'tsforecast[baselines]'"
    )
    assert raised.value.exit_code == 2
