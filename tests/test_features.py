"""The device matrix's columns against hand-computed values: calendar phases for chosen timestamps
(a leap day, the last day of a month, a zoned timestamp that changes day and month in UTC),
holiday flags and distances around known public holidays, row timestamps against pandas' own
grid per series, the one-hot static columns, and the layout."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tsforecast.config import DataConfig
from tsforecast.errors import ConfigError, DataError
from tsforecast.features import (
    HOLIDAY_NAMES,
    FeatureLayout,
    calendar_features,
    calendar_names,
    device_matrix,
    holiday_features,
    known_columns,
    layout,
    row_timestamps,
    static_levels,
)
from tsforecast.panel import Panel

ALL_CYCLES = ("hour_of_day", "day_of_week", "day_of_month", "month_of_year")


def _names(*cycles: str) -> tuple[str, ...]:
    return tuple(f"{cycle}_{part}" for cycle in cycles for part in ("sin", "cos"))


def _sincos(*phases: float) -> list[float]:
    """(sin 2πφ, cos 2πφ) for each phase, flattened: one expected row."""
    row = []
    for phase in phases:
        row += [math.sin(2 * math.pi * phase), math.cos(2 * math.pi * phase)]
    return row


def _panel(
    lengths: list[int],
    starts: list[pd.Timestamp],
    freq: str,
    static: tuple[tuple[str, ...], ...] = (),
    static_names: tuple[str, ...] = (),
) -> Panel:
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Panel(
        ids=tuple(f"s{i}" for i in range(len(lengths))),
        values=np.arange(offsets[-1], dtype=np.float32),
        offsets=offsets,
        starts=tuple(starts),
        freq=freq,
        static=static,
        static_names=static_names,
    )


@pytest.mark.parametrize(
    "freq, cycles",
    [
        ("h", ALL_CYCLES),
        ("15min", ALL_CYCLES),
        ("D", ALL_CYCLES[1:]),
        ("B", ALL_CYCLES[1:]),  # business days: still one day per step
        ("W-SUN", ("month_of_year",)),
        ("MS", ("month_of_year",)),
        ("ME", ("month_of_year",)),
        ("QS", ("month_of_year",)),
    ],
)
def test_calendar_names_per_frequency(freq, cycles):
    assert calendar_names(freq) == _names(*cycles)


@pytest.mark.parametrize("freq", ["YS", "YE"])
def test_calendar_names_refuse_a_yearly_frequency(freq):
    with pytest.raises(DataError) as raised:
        calendar_names(freq)
    assert str(raised.value) == f"--calendar has no cycle to describe at frequency {freq}; drop it"


def test_calendar_features_hand_values_hourly():
    timestamps = pd.DatetimeIndex(
        [
            "2024-02-29 13:30:36",  # leap day, a Thursday (weekday 3); seconds count in the hour
            "2023-01-31 00:00:00",  # last day of January, a Tuesday (weekday 1)
            "2023-02-28 06:00:00",  # last day of a non-leap February, a Tuesday
            "2024-01-01 00:00:00",  # a Monday: every phase is 0
        ]
    )
    expected = np.array(
        [
            _sincos((13 + 30 / 60 + 36 / 3600) / 24, 3 / 7, 28 / 29, 1 / 12),
            _sincos(0.0, 1 / 7, 30 / 31, 0.0),
            _sincos(6 / 24, 1 / 7, 27 / 28, 1 / 12),
            _sincos(0.0, 0.0, 0.0, 0.0),
        ]
    )
    got = calendar_features(timestamps, "h")
    assert got.dtype == np.float32
    assert got.shape == (4, 8)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # Phase 0 is (sin, cos) = (0, 1) for every cycle.
    np.testing.assert_array_equal(got[3], np.tile([0.0, 1.0], 4).astype(np.float32))


def test_calendar_features_convert_a_zoned_index_to_utc():
    """02:15 on Monday 1 July at UTC+05:00 is 21:15 on Sunday 30 June in UTC: the hour, weekday,
    day of month and month all come from the UTC reading."""
    zoned = pd.DatetimeIndex(["2024-07-01 02:15:00+05:00"])
    expected = np.array([_sincos(21.25 / 24, 6 / 7, 29 / 30, 5 / 12)])
    np.testing.assert_allclose(calendar_features(zoned, "h"), expected, atol=1e-6)

    # A named zone with daylight saving: 01:00 in New York on 10 March 2024 (EST, UTC-5) is
    # 06:00 UTC, the same day.
    new_york = pd.DatetimeIndex([pd.Timestamp("2024-03-10 01:00", tz="America/New_York")])
    expected = np.array([_sincos(6 / 24, 6 / 7, 9 / 31, 2 / 12)])
    np.testing.assert_allclose(calendar_features(new_york, "h"), expected, atol=1e-6)


def test_calendar_features_daily_and_monthly_drop_the_cycles_they_cannot_see():
    days = pd.DatetimeIndex(["2024-02-29", "2024-12-31"])  # Thursday; Tuesday
    expected = np.array(
        [
            _sincos(3 / 7, 28 / 29, 1 / 12),
            _sincos(1 / 7, 30 / 31, 11 / 12),
        ]
    )
    np.testing.assert_allclose(calendar_features(days, "D"), expected, atol=1e-6)

    months = pd.DatetimeIndex(["2024-01-01", "2024-04-01", "2024-12-01"])
    expected = np.array([_sincos(0.0), _sincos(3 / 12), _sincos(11 / 12)])
    got = calendar_features(months, "MS")
    assert got.shape == (3, 2)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_holiday_features_hand_values_around_christmas_and_new_year():
    # US federal holidays: Christmas (Monday 25 December 2023) and New Year's Day (1 January
    # 2024). The 28th is 3 days after Christmas and 4 before New Year: nearer Christmas.
    days = pd.date_range("2023-12-20", "2024-01-03", freq="D")
    nearest = [-5, -4, -3, -2, -1, 0, 1, 2, 3, -3, -2, -1, 0, 1, 2]
    expected = np.column_stack([np.equal(nearest, 0), np.asarray(nearest) / 7])
    np.testing.assert_allclose(holiday_features(days, "US"), expected, atol=1e-6)
    # More than a week from any holiday reads 1 after the nearest, -1 before it: 24 January
    # 2024 is 9 days after Martin Luther King Jr. Day (15 January).
    np.testing.assert_allclose(holiday_features(pd.DatetimeIndex(["2024-01-24"]), "US"), [[0, 1]])
    # A subdivision's own holidays: Cesar Chavez Day (31 March 2023, a Friday) in California only.
    chavez = pd.DatetimeIndex(["2023-03-31"])
    assert holiday_features(chavez, "US-CA")[0, 0] == 1.0
    assert holiday_features(chavez, "US")[0, 0] == 0.0


def test_holiday_features_read_a_zoned_index_in_its_own_zone():
    # 23:00 in New York on 24 December is 04:00 UTC on Christmas Day: not yet the holiday.
    eve = pd.DatetimeIndex([pd.Timestamp("2023-12-24 23:00", tz="America/New_York")])
    np.testing.assert_allclose(holiday_features(eve, "US"), [[0, -1 / 7]], atol=1e-6)


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            "XX",
            "--holidays 'XX': no such country in the holidays package; give an ISO 3166 code "
            "such as US, GB or DE, or one with a subdivision such as US-CA",
        ),
        ("US-ZZ", "--holidays 'US-ZZ': US has no subdivision 'ZZ'; its subdivisions include AK"),
    ],
)
def test_holidays_of_an_unknown_place_name_it(spec, message):
    with pytest.raises(ConfigError) as raised:
        holiday_features(pd.DatetimeIndex(["2024-01-01"]), spec)
    assert str(raised.value).startswith(message)


def test_known_columns_put_holidays_after_the_cycles_and_refuse_them_on_monthly_data():
    assert known_columns(DataConfig(holidays="GB"), "h") == HOLIDAY_NAMES
    assert known_columns(DataConfig(calendar=True, holidays="GB"), "D") == (
        _names(*ALL_CYCLES[1:]) + HOLIDAY_NAMES
    )
    assert known_columns(DataConfig(), "h") == ()
    with pytest.raises(ConfigError) as raised:
        known_columns(DataConfig(holidays="GB"), "MS")
    assert str(raised.value) == (
        "--holidays needs daily or finer data; this data's steps are MS; drop --holidays or "
        "give holiday columns with --future-covariates"
    )


def _expected_rows(panel: Panel) -> pd.DatetimeIndex:
    """Each series' grid from pandas, concatenated, in UTC when zoned."""
    parts = []
    for start, length in zip(panel.starts, panel.lengths, strict=True):
        grid = pd.date_range(start, periods=int(length), freq=panel.freq)
        if grid.tz is not None:
            grid = grid.tz_convert("UTC")
        parts.append(grid.as_unit("ns"))
    return parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]


def _assert_same_instants(got: pd.DatetimeIndex, expected: pd.DatetimeIndex) -> None:
    assert len(got) == len(expected)
    assert str(got.tz) == str(expected.tz)
    np.testing.assert_array_equal(got.as_unit("ns").asi8, expected.as_unit("ns").asi8)


@pytest.mark.parametrize(
    "freq, starts, lengths",
    [
        ("h", ["2024-02-28 22:00", "2023-12-31 23:00", "2024-06-01"], [5, 3, 1]),
        ("15min", ["2024-01-01 23:30", "2024-03-31 00:45"], [6, 4]),
        ("D", ["2024-02-27", "2023-12-30"], [4, 5]),
        ("MS", ["2023-11-01", "2024-01-01"], [5, 14]),
        ("ME", ["2024-01-31", "2023-10-31"], [4, 6]),
        ("W-SUN", ["2024-02-25", "2023-12-24"], [3, 4]),
        ("B", ["2024-03-01"], [6]),
    ],
)
def test_row_timestamps_match_pandas_grid_per_series(freq, starts, lengths):
    panel = _panel(lengths, [pd.Timestamp(s) for s in starts], freq)
    got = row_timestamps(panel)
    assert got.tz is None
    _assert_same_instants(got, _expected_rows(panel))


def test_row_timestamps_hand_values_monthly_and_hourly():
    monthly = _panel([4, 3], [pd.Timestamp("2023-11-01"), pd.Timestamp("2024-02-01")], "MS")
    expected = pd.DatetimeIndex(
        [
            "2023-11-01",
            "2023-12-01",
            "2024-01-01",
            "2024-02-01",
            "2024-02-01",
            "2024-03-01",
            "2024-04-01",
        ]
    )
    _assert_same_instants(row_timestamps(monthly), expected)

    month_ends = _panel([3], [pd.Timestamp("2024-01-31")], "ME")
    expected = pd.DatetimeIndex(["2024-01-31", "2024-02-29", "2024-03-31"])
    _assert_same_instants(row_timestamps(month_ends), expected)

    hourly = _panel([2, 3], [pd.Timestamp("2024-02-29 23:00"), pd.Timestamp("2024-01-01")], "h")
    expected = pd.DatetimeIndex(
        [
            "2024-02-29 23:00",
            "2024-03-01 00:00",
            "2024-01-01 00:00",
            "2024-01-01 01:00",
            "2024-01-01 02:00",
        ]
    )
    _assert_same_instants(row_timestamps(hourly), expected)


def test_row_timestamps_of_zoned_series_are_in_utc():
    # 05:30 in India is midnight UTC; hourly steps are fixed durations.
    hourly = _panel(
        [4, 3],
        [
            pd.Timestamp("2024-03-01 00:00", tz="UTC"),
            pd.Timestamp("2024-01-01 05:30", tz="Asia/Kolkata"),
        ],
        "h",
    )
    got = row_timestamps(hourly)
    assert str(got.tz) == "UTC"
    _assert_same_instants(got, _expected_rows(hourly))
    assert got[4] == pd.Timestamp("2024-01-01 00:00", tz="UTC")
    assert got[6] == pd.Timestamp("2024-01-01 02:00", tz="UTC")

    # Months are not a fixed duration: the per-series path, also in UTC.
    monthly = _panel(
        [4, 3], [pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2023-12-01", tz="UTC")], "MS"
    )
    got = row_timestamps(monthly)
    assert str(got.tz) == "UTC"
    _assert_same_instants(got, _expected_rows(monthly))
    assert got[6] == pd.Timestamp("2024-02-01", tz="UTC")


def test_static_levels_are_sorted_and_deduplicated_per_column():
    panel = _panel(
        [2, 2, 2, 2],
        [pd.Timestamp("2024-01-01")] * 4,
        "h",
        static=(("west", "b"), ("east", "a"), ("west", "c"), ("north", "a")),
        static_names=("region", "kind"),
    )
    assert static_levels(panel) == {"region": ["east", "north", "west"], "kind": ["a", "b", "c"]}
    assert static_levels(_panel([2], [pd.Timestamp("2024-01-01")], "h")) == {}


def test_layout_names_and_future_indices():
    got = layout(
        ("temp", "load"),
        ("price",),
        ("hour_of_day_sin", "hour_of_day_cos"),
        {"region": ["east", "west"], "kind": ["a"]},
    )
    assert got == FeatureLayout(
        names=(
            "y",
            "temp",
            "load",
            "price",
            "hour_of_day_sin",
            "hour_of_day_cos",
            "region=east",
            "region=west",
            "kind=a",
        ),
        future=(3, 4, 5),
        static_levels={"region": ["east", "west"], "kind": ["a"]},
    )
    assert got.width == 9


@pytest.mark.parametrize(
    "covariates, future_covariates, calendar, future",
    [
        ((), (), (), ()),
        (("a",), (), (), ()),
        ((), ("f", "g"), (), (1, 2)),
        ((), (), ("c_sin", "c_cos"), (1, 2)),
        (("a", "b", "c"), ("f",), ("c_sin", "c_cos"), (4, 5, 6)),
    ],
)
def test_layout_future_indices(covariates, future_covariates, calendar, future):
    got = layout(covariates, future_covariates, calendar, {"s": ["x"]})
    assert got.future == future
    assert got.names[-1] == "s=x"
    assert got.width == 1 + len(covariates) + len(future_covariates) + len(calendar) + 1


def test_device_matrix_columns_hand_values():
    """Two hourly series with one static column: scaled values, then the calendar features of
    each row's timestamp, then the one-hot columns repeated over each series' rows."""
    training = _panel(
        [2, 2],
        [pd.Timestamp("2024-02-29 23:00"), pd.Timestamp("2024-01-01 00:00")],
        "h",
        static=(("west",), ("east",)),
        static_names=("region",),
    )
    levels = static_levels(training)
    assert levels == {"region": ["east", "west"]}
    scaled = np.array([[0.5, 1.0], [-0.5, 2.0], [1.5, 3.0], [2.5, 4.0]], dtype=np.float32)
    calendar = calendar_names("h")
    got = device_matrix(training, scaled, calendar, levels)
    assert got.dtype == np.float32
    assert got.shape == (4, 2 + 8 + 2)
    np.testing.assert_array_equal(got[:, :2], scaled)
    expected_calendar = np.array(
        [
            _sincos(23 / 24, 3 / 7, 28 / 29, 1 / 12),  # Thu 29 Feb 2024 23:00
            _sincos(0.0, 4 / 7, 0.0, 2 / 12),  # Fri 1 Mar 2024 00:00
            _sincos(0.0, 0.0, 0.0, 0.0),  # Mon 1 Jan 2024 00:00
            _sincos(1 / 24, 0.0, 0.0, 0.0),  # Mon 1 Jan 2024 01:00
        ]
    )
    np.testing.assert_allclose(got[:, 2:10], expected_calendar, atol=1e-6)
    # region=east, region=west
    np.testing.assert_array_equal(got[:, 10:], [[0, 1], [0, 1], [1, 0], [1, 0]])


def test_device_matrix_one_hot_of_a_category_unseen_in_training_is_zero():
    levels = {"region": ["east", "west"], "kind": ["a", "b", "c"]}
    later = _panel(
        [3, 1, 2],
        [pd.Timestamp("2024-01-01")] * 3,
        "D",
        static=(("south", "b"), ("west", "z"), ("east", "c")),  # south and z are new
        static_names=("region", "kind"),
    )
    scaled = np.arange(6, dtype=np.float32)[:, None]
    got = device_matrix(later, scaled, (), levels)
    assert got.shape == (6, 1 + 2 + 3)
    np.testing.assert_array_equal(got[:, 0], np.arange(6))
    expected_hot = np.array(
        [
            # east west  a  b  c
            [0, 0, 0, 1, 0],
            [0, 0, 0, 1, 0],
            [0, 0, 0, 1, 0],
            [0, 1, 0, 0, 0],
            [1, 0, 0, 0, 1],
            [1, 0, 0, 0, 1],
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(got[:, 1:], expected_hot)
    # Rows of the unseen region have no region column set; the unseen kind none of kind's.
    assert not got[:3, 1:3].any()
    assert not got[3, 3:].any()


def test_device_matrix_without_calendar_or_static_is_the_scaled_input():
    panel = _panel([3], [pd.Timestamp("2024-01-01")], "h")
    scaled = np.array([[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]], dtype=np.float64)
    got = device_matrix(panel, scaled, (), {})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]])


def test_device_matrix_width_matches_the_layout():
    panel = _panel(
        [3, 2],
        [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-05-01")],
        "D",
        static=(("x",), ("y",)),
        static_names=("s",),
    )
    calendar = calendar_names("D")
    levels = static_levels(panel)
    features = layout(("c",), ("f",), calendar, levels)
    scaled = np.column_stack([np.arange(5), 10 + np.arange(5), 20 + np.arange(5)])
    matrix = device_matrix(panel, scaled.astype(np.float32), calendar, levels)
    assert matrix.shape == (5, features.width) == (5, 3 + 6 + 2)
    # The future columns are the future covariate and the six calendar columns.
    assert features.future == (2, 3, 4, 5, 6, 7, 8)
    np.testing.assert_array_equal(matrix[:, 2], 20 + np.arange(5))
    # Monday 1 January 2024: every phase 0, so (sin, cos) = (0, 1) three times.
    np.testing.assert_allclose(matrix[0, 3:9], [0, 1, 0, 1, 0, 1], atol=1e-7)
    # Wednesday 1 May 2024: weekday 2, first of the month, month 4 of 12.
    np.testing.assert_allclose(matrix[3, 3:9], _sincos(2 / 7, 0.0, 4 / 12), atol=1e-6)
    assert features.names[9:] == ("s=x", "s=y")
    np.testing.assert_array_equal(matrix[:, 9:], [[1, 0], [1, 0], [1, 0], [0, 1], [0, 1]])
