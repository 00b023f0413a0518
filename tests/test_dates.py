"""tsforecast.dates on hand-made columns: the one format that fits every value, day-first or
month-first; the refusals of ambiguous, mixed, empty and non-date columns with the rows they
name. (tests/test_files.py reads whole files through load_panel and the CLI.)"""

from __future__ import annotations

import pandas as pd
import pytest

from tsforecast import dates
from tsforecast.dates import candidate_formats, parse_timestamps
from tsforecast.errors import DataError


def days(*texts: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(text) for text in texts]


@pytest.mark.parametrize(
    "value, formats",
    [
        ("31/01/2015", ["%d/%m/%Y"]),  # 31 is no month: day-first only
        ("01/31/2015", ["%m/%d/%Y"]),
        ("01/02/2015", ["%m/%d/%Y", "%d/%m/%Y"]),  # both readings, month-first first
        ("2015-01-02", ["%Y-%m-%d"]),  # never year-day-month
        ("1/2/15", ["%m/%d/%y", "%d/%m/%y"]),  # a two-digit year stays two digits
        ("31.01.15", ["%d.%m.%y"]),
        ("2015-01-02 13:00", ["%Y-%m-%d %H:%M"]),
        ("01/02/2015 01:00 PM", []),  # pandas guesses nothing for a 12-hour clock
    ],
)
def test_candidate_formats(value, formats):
    assert candidate_formats([value]) == formats


def test_candidate_formats_of_several_values_are_listed_once_in_order():
    assert candidate_formats(["01/02/2015", "31/01/2015", "01/31/2015"]) == [
        "%m/%d/%Y",
        "%d/%m/%Y",
    ]


def test_a_day_first_column_is_read_day_first_when_one_value_settles_it():
    # 01/02 alone could be 2 January; 13/02 settles the column as day-first.
    parsed = parse_timestamps(pd.Series(["01/02/2015", "13/02/2015", "01/02/2015"]), "ds")
    assert list(parsed) == days("2015-02-01", "2015-02-13", "2015-02-01")
    assert parsed.dtype == "datetime64[ns]"


def test_a_month_first_column_is_read_month_first():
    parsed = parse_timestamps(pd.Series(["02/01/2015", "02/13/2015", "12/31/2015"]), "ds")
    assert list(parsed) == days("2015-02-01", "2015-02-13", "2015-12-31")


def test_a_two_digit_year_is_widened_to_this_century():
    parsed = parse_timestamps(pd.Series(["31.01.15", "01.02.15"]), "ds")
    assert list(parsed) == days("2015-01-31", "2015-02-01")


def test_a_two_digit_year_far_in_the_future_is_the_last_century():
    # strptime reads 00-68 as 20xx: 58 would be 2058, decades ahead; 99 is 1999 anyway and a
    # year within YEARS_AHEAD of now stays in this century.
    parsed = parse_timestamps(pd.Series(["29.03.58", "30.03.58", "31.12.99", "01.01.00"]), "ds")
    assert list(parsed) == days("1958-03-29", "1958-03-30", "1999-12-31", "2000-01-01")
    soon = pd.Timestamp.now().year % 100 + dates.YEARS_AHEAD
    given = parse_timestamps(pd.Series([f"01/01/{soon:02d}"]), "ds", "%d/%m/%y")
    assert list(given) == [pd.Timestamp(2000 + soon, 1, 1)]


def test_readings_that_agree_on_every_value_are_not_ambiguous():
    # 01/01 and 02/02 read the same day-first and month-first.
    parsed = parse_timestamps(pd.Series(["01/01/2015", "02/02/2015"]), "ds")
    assert list(parsed) == days("2015-01-01", "2015-02-02")


def test_an_ambiguous_column_is_refused_naming_the_first_value_read_two_ways():
    # 05/05 reads alike both ways; 01/02 is the first that does not.
    with pytest.raises(DataError) as raised:
        parse_timestamps(pd.Series(["05/05/2015", "01/02/2015", "03/04/2015"]), "when")
    assert str(raised.value) == (
        "time column 'when' reads as %m/%d/%Y or as %d/%m/%Y, with different dates: "
        "'01/02/2015' is 2015-01-02 or 2015-02-01; say which with --date-format, e.g. "
        "--date-format '%m/%d/%Y' or '%d/%m/%Y'"
    )


def test_an_ambiguous_12_hour_clock_is_refused_as_day_first_or_month_first():
    # No format is guessed: dateutil reads each value, and both readings differ.
    with pytest.raises(DataError) as raised:
        parse_timestamps(pd.Series(["01/02/2015 01:00 PM", "03/04/2015 01:00 PM"]), "ds")
    assert str(raised.value) == (
        "time column 'ds' reads as day-first or as month-first, with different dates: "
        "'01/02/2015 01:00 PM' is 2015-02-01 13:00:00 or 2015-01-02 13:00:00; say which with "
        "--date-format, e.g. --date-format '%d/%m/%Y %I:%M %p' or '%m/%d/%Y %I:%M %p'"
    )
    # The formats offered read the column as given.
    day_first = parse_timestamps(
        pd.Series(["01/02/2015 01:00 PM", "03/04/2015 01:00 PM"]), "ds", "%d/%m/%Y %I:%M %p"
    )
    assert list(day_first) == days("2015-02-01 13:00", "2015-04-03 13:00")
    # A day past 12 settles it.
    parsed = parse_timestamps(pd.Series(["13/02/2015 01:00 PM", "14/02/2015 12:00 AM"]), "ds")
    assert list(parsed) == days("2015-02-13 13:00", "2015-02-14 00:00")


@pytest.mark.parametrize(
    "value, pair",
    [
        ("03/29/1958 12:00 AM", ("%d/%m/%Y %I:%M %p", "%m/%d/%Y %I:%M %p")),
        ("29.03.58 23:15:00", ("%d.%m.%y %H:%M:%S", "%m.%d.%y %H:%M:%S")),
        ("1-2-2015", ("%d-%m-%Y", "%m-%d-%Y")),
        ("01/02/2015T13:00", ("%d/%m/%Y", "%m/%d/%Y")),  # written otherwise: the plain pair
    ],
)
def test_the_formats_offered_are_written_like_the_value(value, pair):
    assert dates._day_and_month_first(value) == pair


def test_mixed_formats_count_rows_not_distinct_values_and_name_the_files_row():
    # A long table repeats each timestamp once per series: two rows of each value. The column's
    # first row is the file's row 2 (after the header).
    raw = pd.Series(["31/01/2015", "31/01/2015", "01/31/2015", "01/31/2015"])
    with pytest.raises(DataError) as raised:
        parse_timestamps(raw, "ds", first_row=2)
    assert str(raised.value) == (
        "time column 'ds' mixes date formats: 2 values do not read as %d/%m/%Y like "
        "'31/01/2015' does, first '01/31/2015' at row 4; make the column consistent or give its "
        "format with --date-format"
    )


def test_empty_cells_are_refused_with_their_count_and_first_row():
    with pytest.raises(DataError) as raised:
        parse_timestamps(pd.Series(["2015-01-01", None, "2015-01-03", None]), "ds", first_row=5)
    assert str(raised.value) == "time column 'ds' has 2 empty values, first at row 6"


def test_text_that_is_no_date_is_named():
    with pytest.raises(DataError) as raised:
        parse_timestamps(pd.Series(["2015-01-01", "n/a", "n/a"]), "ds")
    assert (
        str(raised.value) == "time column 'ds' has 2 values that are not timestamps, first: 'n/a'"
    )


def test_a_given_date_format_is_used_and_misfits_are_named():
    parsed = parse_timestamps(pd.Series(["01/02/2015", "03/04/2015"]), "ds", "%d/%m/%Y")
    assert list(parsed) == days("2015-02-01", "2015-04-03")
    with pytest.raises(DataError) as raised:
        parse_timestamps(pd.Series(["01/02/2015", "2015-02-02"]), "ds", "%d/%m/%Y", first_row=2)
    assert str(raised.value) == (
        "time column 'ds' has 1 values that do not match --date-format '%d/%m/%Y', first "
        "'2015-02-02' at row 3"
    )
    with pytest.raises(DataError, match=r"^--date-format '%Q' cannot be read: "):
        parse_timestamps(pd.Series(["2015-01-01"]), "ds", "%Q")


def test_mixed_utc_offsets_are_read_in_utc():
    parsed = parse_timestamps(
        pd.Series(["2015-01-01T00:00+01:00", "2015-01-01T00:00+02:00", "2015-01-01T00:00Z"]), "ds"
    )
    assert list(parsed) == [
        pd.Timestamp("2014-12-31 23:00", tz="UTC"),
        pd.Timestamp("2014-12-31 22:00", tz="UTC"),
        pd.Timestamp("2015-01-01 00:00", tz="UTC"),
    ]


def test_datetimes_pass_through_converted_to_utc_at_nanoseconds():
    zoned = pd.Series(pd.date_range("2024-03-31 01:00", periods=3, freq="h", tz="Europe/Paris"))
    parsed = parse_timestamps(zoned.dt.as_unit("s"), "ds")
    assert parsed.dtype == "datetime64[ns, UTC]"
    # 01:00 CET is 00:00 UTC; at 02:00 the clocks go to 03:00 CEST (UTC+2), still 01:00 UTC.
    assert list(parsed) == [
        pd.Timestamp("2024-03-31 00:00", tz="UTC"),
        pd.Timestamp("2024-03-31 01:00", tz="UTC"),
        pd.Timestamp("2024-03-31 02:00", tz="UTC"),
    ]


def test_each_distinct_value_is_parsed_once(monkeypatch):
    # 30,000 rows of three timestamps: every parse sees the three distinct values, no more.
    sizes = []
    to_datetime = pd.to_datetime

    def spy(values, *args, **kwargs):
        sizes.append(len(values))
        return to_datetime(values, *args, **kwargs)

    monkeypatch.setattr(dates.pd, "to_datetime", spy)
    raw = pd.Series(["13/01/2015", "14/01/2015", "15/01/2015"] * 10_000)
    parsed = parse_timestamps(raw, "ds")
    assert sizes and max(sizes) == 3
    assert list(parsed[:4]) == days("2015-01-13", "2015-01-14", "2015-01-15", "2015-01-13")
    assert len(parsed) == 30_000
