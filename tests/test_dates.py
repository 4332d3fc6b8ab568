"""Tests of geo.io._dates.parse_dates: every form of founding date, the column-wide decisions
(day/month order, years or Excel serials), missing and unparseable values, pandas dtypes.

Expected values are written out by hand; Excel serials are also checked against
``pd.Timestamp('1899-12-30') + pd.Timedelta(days=n)``.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from geo.errors import InputError
from geo.io._dates import PRECISIONS, ParsedDates, excel_serial_to_date, parse_dates

NaT = np.datetime64("NaT", "D")


def D(s: str) -> np.datetime64:
    return np.datetime64(s, "D")


def years(r: ParsedDates) -> list:
    """Years as a list with None for NaN (comparable with ==)."""
    return [None if np.isnan(y) else int(y) for y in r.year]


def dates(r: ParsedDates) -> list:
    return [None if np.isnat(d) else str(d) for d in r.date]


def check_consistent(r: ParsedDates, n: int) -> None:
    """Invariants every result must satisfy."""
    assert len(r) == n
    for name in ("year", "month", "date", "precision", "missing", "bad", "ambiguous", "reasons"):
        assert getattr(r, name).shape == (n,), name
    assert r.year.dtype == np.float64 and r.month.dtype == np.float64
    assert r.date.dtype == np.dtype("datetime64[D]")
    assert r.missing.dtype == bool and r.bad.dtype == bool and r.ambiguous.dtype == bool
    assert not (r.missing & r.bad).any()
    assert (np.isnan(r.year) == (r.missing | r.bad)).all()
    assert ((r.precision == "") == (r.missing | r.bad)).all()
    assert (np.array([x is not None for x in r.reasons]) == r.bad).all()
    assert (~np.isnat(r.date) == (r.precision == "day")).all()
    assert (~np.isnan(r.month) == np.isin(r.precision, ["month", "day"])).all()
    assert (r.precision[r.ambiguous] == "year").all()
    assert sum(r.formats.values()) == int((~r.missing & ~r.bad).sum())


# ---------------------------------------------------------------------------------------
# plain years
# ---------------------------------------------------------------------------------------


def test_plain_years_numbers_and_text():
    vals = [1999, "1999", 1999.0, "1999.0", " 2005 ", "1850.00", np.int32(2010), np.float32(2011.0)]
    r = parse_dates(vals)
    check_consistent(r, len(vals))
    assert years(r) == [1999, 1999, 1999, 1999, 2005, 1850, 2010, 2011]
    assert r.precision.tolist() == ["year"] * len(vals)
    assert dates(r) == [None] * len(vals)
    assert r.formats == {"year": 8}
    assert not r.excel_serial
    assert r.note == "dates: 8 as year"


def test_int64_years_fast_path():
    r = parse_dates(np.array([1999, 2001, 1999, 2020], dtype=np.int64))
    assert years(r) == [1999, 2001, 1999, 2020]
    assert r.formats == {"year": 4}


def test_float_years_with_nan_and_fraction():
    r = parse_dates(np.array([1999.0, np.nan, 2001.0, 1999.5]))
    check_consistent(r, 4)
    assert years(r) == [1999, None, 2001, None]
    assert r.missing.tolist() == [False, True, False, False]
    assert r.bad.tolist() == [False, False, False, True]
    assert r.reasons[3] == "1999.5 is not a whole year"


def test_nullable_int64_with_na():
    r = parse_dates(pd.Series([1999, pd.NA, 2003], dtype="Int64"))
    check_consistent(r, 3)
    assert years(r) == [1999, None, 2003]
    assert r.missing.tolist() == [False, True, False]
    assert r.note == "dates: 2 as year; 1 missing"


def test_year_range_bounds_default_and_custom():
    this_year = dt.date.today().year
    r = parse_dates([1800, 1799, this_year + 1, this_year + 2, 2150])
    assert years(r) == [1800, None, this_year + 1, None, None]
    assert r.reasons[1] == f"year 1799 is outside 1800–{this_year + 1}"
    assert r.reasons[4] == f"year 2150 is outside 1800–{this_year + 1}"
    r = parse_dates(["1989", "1990", "2030", "2031"], min_year=1990, max_year=2030)
    assert years(r) == [None, 1990, 2030, None]
    assert r.reasons[0] == "year 1989 is outside 1990–2030"
    assert r.reasons[3] == "year 2031 is outside 1990–2030"


# ---------------------------------------------------------------------------------------
# ISO dates, year-month
# ---------------------------------------------------------------------------------------


def test_iso_dates_all_separators_and_times():
    vals = [
        "1999-03-11", "1999/03/11", "1999.03.11", "1999-3-1",
        "1999-03-11 00:00:00", "1999-03-11T08:30:00", "1999-03-11 08:30", "2001/12/31 23:59:59.123",
        "2001-12-31T23:59:59Z", "2001-12-31 08:00:00+08:00",
    ]
    r = parse_dates(vals)
    check_consistent(r, len(vals))
    assert dates(r) == ["1999-03-11"] * 3 + ["1999-03-01"] + ["1999-03-11"] * 3 + ["2001-12-31"] * 3
    assert years(r) == [1999] * 7 + [2001] * 3
    assert r.month.tolist() == [3.0] * 7 + [12.0] * 3
    assert r.precision.tolist() == ["day"] * 10
    assert r.formats == {"YYYY-MM-DD": 7, "YYYY/MM/DD": 2, "YYYY.MM.DD": 1}


def test_year_month_and_month_year():
    r = parse_dates(["1999-03", "1999/3", "1999.10", "03/1999", "3-2001", "1999.0"])
    check_consistent(r, 6)
    assert years(r) == [1999, 1999, 1999, 1999, 2001, 1999]
    assert r.month[:5].tolist() == [3.0, 3.0, 10.0, 3.0, 3.0]
    assert r.precision.tolist() == ["month"] * 5 + ["year"]  # "1999.0" is a number: a year
    assert dates(r) == [None] * 6
    assert r.formats == {"YYYY-MM": 1, "YYYY/MM": 1, "YYYY.MM": 1, "MM/YYYY": 1, "MM-YYYY": 1, "year": 1}


def test_invalid_dates_feb_30_month_13_leap_days():
    vals = ["1999-02-30", "1999-13-01", "1999-02-29", "2000-02-29", "1900-02-29", "1999-04-31", "1999-00-10", "1999-13"]
    r = parse_dates(vals)
    check_consistent(r, len(vals))
    assert r.bad.tolist() == [True, True, True, False, True, True, True, True]
    assert dates(r)[3] == "2000-02-29"
    assert r.reasons[0] == "'1999-02-30' is not a valid date"
    assert r.reasons[1] == "'1999-13-01' is not a valid date"
    assert r.reasons[7] == "'1999-13' is not a valid year-month"


def test_invalid_time_and_mixed_separators():
    r = parse_dates(["1999-03-11 25:00:00", "1999-03-11 23:60", "1999-03/11", "1999-03-11 23:59"])
    check_consistent(r, 4)
    assert r.bad.tolist() == [True, True, True, False]
    assert r.reasons[0] == "'1999-03-11 25:00:00' is not a valid time"
    assert r.reasons[2] == "'1999-03/11' is not a recognised date (mixed separators)"


# ---------------------------------------------------------------------------------------
# day/month order
# ---------------------------------------------------------------------------------------


def test_day_first_decided_by_a_day_above_12():
    vals = ["11/03/1999 00:00:00", "31/03/1999 00:00:00", "01/12/2005", "11.03.1999", "11-03-1999"]
    r = parse_dates(vals)
    check_consistent(r, len(vals))
    assert r.day_first is True
    assert r.dm_order == "day-first"
    assert dates(r) == ["1999-03-11", "1999-03-31", "2005-12-01", "1999-03-11", "1999-03-11"]
    assert not r.ambiguous.any()
    assert r.formats == {"DD/MM/YYYY": 3, "DD.MM.YYYY": 1, "DD-MM-YYYY": 1}
    assert "day first: values such as '31/03/1999 00:00:00'" in r.note


def test_month_first_decided_by_a_second_field_above_12():
    r = parse_dates(["03/11/1999", "03/31/1999", "12/01/2005"])
    check_consistent(r, 3)
    assert r.day_first is False
    assert r.dm_order == "month-first"
    assert dates(r) == ["1999-03-11", "1999-03-31", "2005-12-01"]
    assert r.formats == {"MM/DD/YYYY": 3}
    assert "month first: values such as '03/31/1999'" in r.note


def test_day_month_order_ambiguous_keeps_years():
    r = parse_dates(["11/03/1999", "03/11/2001", "05/05/2000", "11/03/1999"])
    check_consistent(r, 4)
    assert r.day_first is None
    assert r.dm_order == "ambiguous"
    assert years(r) == [1999, 2001, 2000, 1999]
    assert r.ambiguous.tolist() == [True, True, False, True]
    assert r.precision.tolist() == ["year", "year", "day", "year"]
    assert dates(r) == [None, None, "2000-05-05", None]  # day = month: same date either way
    assert not r.bad.any()
    assert r.formats == {"DD/MM/YYYY or MM/DD/YYYY": 4}
    assert "ambiguous" in r.note and "3 kept as years only" in r.note


def test_day_month_order_conflict():
    r = parse_dates(["31/03/1999", "03/31/1999", "03/11/1999", "13/13/1999"])
    check_consistent(r, 4)
    assert r.day_first is None
    assert r.dm_order == "conflict"
    assert dates(r) == ["1999-03-31", "1999-03-31", None, None]
    assert years(r) == [1999, 1999, 1999, None]
    assert r.ambiguous.tolist() == [False, False, True, False]
    assert r.bad.tolist() == [False, False, False, True]
    assert r.reasons[3] == "'13/13/1999' is not a valid date"
    assert r.formats == {"DD/MM/YYYY": 1, "MM/DD/YYYY": 1, "DD/MM/YYYY or MM/DD/YYYY": 1}
    assert "conflicts" in r.note and "'31/03/1999'" in r.note and "'03/31/1999'" in r.note


def test_invalid_day_does_not_decide_the_order():
    # 45 fits neither order: it is bad, and the column stays ambiguous
    r = parse_dates(["45/03/1999", "11/03/1999"])
    assert r.bad.tolist() == [True, False]
    assert r.dm_order == "ambiguous"
    # 31/02 is not a day-first date, 02/31 not a month-first one: neither decides
    r = parse_dates(["31/02/1999", "11/03/1999"])
    assert r.bad.tolist() == [True, False]
    assert r.reasons[0] == "'31/02/1999' is not a valid date"
    assert r.dm_order == "ambiguous"


def test_am_pm_times_month_first():
    r = parse_dates(["3/31/1999 8:30 AM", "12/1/1999 11:59 PM"])
    assert dates(r) == ["1999-03-31", "1999-12-01"]
    assert r.day_first is False


def test_no_day_month_values_order_is_none():
    r = parse_dates(["1999-03-11"])
    assert r.day_first is None and r.dm_order is None


# ---------------------------------------------------------------------------------------
# Chinese, full-width, compact
# ---------------------------------------------------------------------------------------


def test_chinese_dates():
    vals = ["1999年3月11日", "1999年03月", "1999年", "1999 年 3 月 11 日", "2000年1月1号", "2000年01月01日 08:00:00"]
    r = parse_dates(vals)
    check_consistent(r, len(vals))
    assert years(r) == [1999, 1999, 1999, 1999, 2000, 2000]
    assert r.precision.tolist() == ["day", "month", "year", "day", "day", "day"]
    assert dates(r) == ["1999-03-11", None, None, "1999-03-11", "2000-01-01", "2000-01-01"]
    assert r.month[1] == 3.0
    assert r.formats == {"YYYY年MM月DD日": 4, "YYYY年MM月": 1, "YYYY年": 1}


def test_chinese_invalid_date():
    r = parse_dates(["1999年2月30日", "1999年13月"])
    assert r.bad.all()
    assert r.reasons[0] == "'1999年2月30日' is not a valid date"
    assert r.reasons[1] == "'1999年13月' is not a valid year-month"


def test_full_width_digits_and_punctuation():
    vals = ["１９９９年０３月１１日", "１９９９－０３－１１", "１９９９", "\u3000２００５年\u3000", "１１／０３／１９９９"]
    r = parse_dates(vals)
    check_consistent(r, len(vals))
    assert years(r) == [1999, 1999, 1999, 2005, 1999]
    assert dates(r) == ["1999-03-11", "1999-03-11", None, None, None]
    assert r.ambiguous.tolist() == [False, False, False, False, True]
    # the reason shows the value as given
    r = parse_dates(["１９９９－０２－３０"])
    assert r.reasons[0] == "'１９９９－０２－３０' is not a valid date"


def test_compact_dates_text_and_numbers():
    vals = ["19990311", 19990311, 19990311.0, "199903", 199903, "19990230", 199913]
    r = parse_dates(vals)
    check_consistent(r, len(vals))
    assert dates(r)[:3] == ["1999-03-11"] * 3
    assert r.precision.tolist() == ["day", "day", "day", "month", "month", "", ""]
    assert r.month[3:5].tolist() == [3.0, 3.0]
    assert r.bad.tolist() == [False] * 5 + [True, True]
    assert r.reasons[5] == "'19990230' is not a valid date"
    assert r.reasons[6] == "199913 is not a valid year-month"
    assert r.formats == {"YYYYMMDD": 3, "YYYYMM": 2}


# ---------------------------------------------------------------------------------------
# Excel serials
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [61, 36230, 40000, 43831, 45000])
def test_excel_serial_matches_the_1899_12_30_epoch(n):
    expected = (pd.Timestamp("1899-12-30") + pd.Timedelta(days=n)).date()
    r = parse_dates([n, 36000])  # 36000 makes it a serial column
    assert r.excel_serial
    assert r.date[0] == np.datetime64(expected, "D")


def test_excel_serial_known_values_and_1900_leap_bug():
    r = parse_dates([36230, 1, 59, 60, 61, 62, 40000])
    check_consistent(r, 7)
    assert r.excel_serial
    assert dates(r) == ["1999-03-11", "1900-01-01", "1900-02-28", None, "1900-03-01", "1900-03-02", "2009-07-06"]
    assert r.bad.tolist() == [False, False, False, True, False, False, False]
    assert "1900-02-29" in r.reasons[3]
    assert r.formats == {"Excel serial": 6}
    assert "Excel serial" in r.note


def test_excel_serial_fraction_is_a_time_of_day():
    r = parse_dates([36230.75, 36231.0])
    assert dates(r) == ["1999-03-11", "1999-03-12"]


def test_excel_serial_to_date_helper():
    got = excel_serial_to_date([0, 1, 59, 60, 61, 36230, np.nan, -3])
    want = [NaT, D("1900-01-01"), D("1900-02-28"), NaT, D("1900-03-01"), D("1999-03-11"), NaT, NaT]
    assert [str(g) for g in got] == [str(w) for w in want]


def test_serial_column_reads_small_numbers_as_serials():
    # most values are five-digit serials: 2000 is a serial there too (1905-06-22)
    r = parse_dates([36230, 40000, 2000])
    assert r.excel_serial
    assert dates(r) == ["1999-03-11", "2009-07-06", "1905-06-22"]


def test_year_column_with_a_few_serial_like_values():
    r = parse_dates([1999, 2000, 2001, 36230])
    check_consistent(r, 4)
    assert not r.excel_serial
    assert years(r) == [1999, 2000, 2001, None]
    assert r.reasons[3].startswith("36230 is not a year in 1800–")


def test_years_outside_range_do_not_make_a_serial_column():
    # no five-digit value: 2150 is an out-of-range year, not serial 2150
    r = parse_dates([2150, 2160])
    assert not r.excel_serial
    assert r.bad.all()
    assert r.reasons[0].startswith("year 2150 is outside")


def test_serials_as_text_and_nullable_ints():
    r = parse_dates(["36230", "36231", ""])
    assert r.excel_serial
    assert dates(r) == ["1999-03-11", "1999-03-12", None]
    assert r.missing.tolist() == [False, False, True]
    r = parse_dates(pd.Series([36230, pd.NA, 40000], dtype="Int64"))
    assert dates(r) == ["1999-03-11", None, "2009-07-06"]


def test_serial_beyond_max_year_is_bad():
    r = parse_dates([36230, 79000], max_year=2030)
    assert r.bad.tolist() == [False, True]
    assert "year 2116 is outside 1800–2030" in r.reasons[1]


# ---------------------------------------------------------------------------------------
# date values and pandas dtypes
# ---------------------------------------------------------------------------------------


def test_datetime64_ns_with_nat():
    s = pd.Series([pd.Timestamp("1999-03-11 08:30"), pd.NaT, pd.Timestamp("2005-12-31")], dtype="datetime64[ns]")
    assert s.dtype.kind == "M"
    r = parse_dates(s)
    check_consistent(r, 3)
    assert dates(r) == ["1999-03-11", None, "2005-12-31"]
    assert r.missing.tolist() == [False, True, False]
    assert r.formats == {"date value": 2}


def test_datetime64_numpy_and_tz_aware():
    r = parse_dates(np.array(["1999-03-11T23:00", "NaT"], dtype="datetime64[ns]"))
    assert dates(r) == ["1999-03-11", None]
    # a time zone: the local calendar date
    s = pd.Series(pd.to_datetime(["1999-03-11 23:30"])).dt.tz_localize("Asia/Shanghai")
    assert dates(parse_dates(s)) == ["1999-03-11"]


def test_object_column_of_python_dates_as_openpyxl_gives_them():
    vals = np.array([dt.date(1999, 3, 11), dt.datetime(2001, 1, 2, 3, 4), pd.Timestamp("2005-06-07"), None, 1999,
                     "2003年"], dtype=object)
    r = parse_dates(vals)
    check_consistent(r, 6)
    assert dates(r) == ["1999-03-11", "2001-01-02", "2005-06-07", None, None, None]
    assert years(r) == [1999, 2001, 2005, None, 1999, 2003]
    assert r.formats == {"date value": 3, "year": 1, "YYYY年": 1}


def test_date_value_out_of_range():
    r = parse_dates([dt.date(1700, 1, 1), dt.date(1999, 1, 1)])
    assert r.bad.tolist() == [True, False]
    assert "year 1700 is outside 1800–" in r.reasons[0]


def test_string_pyarrow_dtype():
    s = pd.Series(["1999-03-11", None, "31/12/2000", "1999-03-11"], dtype="string[pyarrow]")
    r = parse_dates(s)
    check_consistent(r, 4)
    assert dates(r) == ["1999-03-11", None, "2000-12-31", "1999-03-11"]
    assert r.missing.tolist() == [False, True, False, False]


def test_pandas_str_category_and_pyarrow_arrays():
    assert years(parse_dates(pd.Series(["1999", None, "2000"], dtype="str"))) == [1999, None, 2000]
    assert years(parse_dates(pd.Series(["1999", "2000", "1999"], dtype="category"))) == [1999, 2000, 1999]
    assert years(parse_dates(pd.Series([1999, 2000], dtype="category"))) == [1999, 2000]
    assert dates(parse_dates(pa.array(["1999-03-11", None], type=pa.large_string()))) == ["1999-03-11", None]
    ch = pa.chunked_array([pa.array(["1999-03-11"]), pa.array(["2000-01-02", None])])
    assert dates(parse_dates(ch)) == ["1999-03-11", "2000-01-02", None]
    assert years(parse_dates(np.array(["1999", "2001"]))) == [1999, 2001]  # numpy <U


def test_series_index_is_ignored_results_are_positional():
    s = pd.Series(["2001", "1999"], index=[10, 5])
    assert years(parse_dates(s)) == [2001, 1999]


# ---------------------------------------------------------------------------------------
# missing and unparseable
# ---------------------------------------------------------------------------------------


def test_missing_values_are_not_bad():
    vals = [None, np.nan, "", "   ", "\t", pd.NA, pd.NaT, "nan", "NaN", "None", "NULL", "<NA>", float("nan")]
    r = parse_dates(np.array(vals, dtype=object))
    check_consistent(r, len(vals))
    assert r.missing.all()
    assert not r.bad.any()
    assert r.formats == {}
    assert r.note == f"dates: none read; {len(vals)} missing"


def test_unparseable_values_have_reasons():
    vals = ["unknown", "abc", "13/13/1999", "1999-02-30", "2150", "99", True, dt.time(8, 0), {"a": 1}]
    r = parse_dates(vals)
    check_consistent(r, len(vals))
    assert r.bad.all()
    this = dt.date.today().year + 1
    assert r.reasons.tolist() == [
        "'unknown' is not a recognised date",
        "'abc' is not a recognised date",
        "'13/13/1999' is not a valid date",
        "'1999-02-30' is not a valid date",
        f"year 2150 is outside 1800–{this}",
        f"year 99 is outside 1800–{this}",
        "True (bool) is not a date",
        "datetime.time(8, 0) (time) is not a date",
        "{'a': 1} (dict) is not a date",
    ]
    assert r.note.startswith("dates: none read; 9 unparseable (e.g. 'unknown' is not a recognised date)")


def test_mixed_column_and_note():
    vals = ["1999-03-11", "1999-03-11", 2001, "31/12/2005", "2003年5月", "", None, "unknown", "19990311"]
    r = parse_dates(vals, label="founding dates")
    check_consistent(r, len(vals))
    assert years(r) == [1999, 1999, 2001, 2005, 2003, None, None, None, 1999]
    assert r.precision.tolist() == ["day", "day", "year", "day", "month", "", "", "", "day"]
    assert r.formats == {"YYYY-MM-DD": 2, "year": 1, "DD/MM/YYYY": 1, "YYYY年MM月": 1, "YYYYMMDD": 1}
    assert r.day_first is True
    assert r.note == (
        "founding dates: 2 as YYYY-MM-DD, 1 as DD/MM/YYYY (day first: values such as '31/12/2005'),"
        " 1 as YYYY年MM月, 1 as YYYYMMDD, 1 as year; 1 unparseable (e.g. 'unknown' is not a recognised date); 2 missing"
    )


def test_repeated_values_map_back_to_their_rows():
    rng = np.random.default_rng(1)
    pool = np.array(["1999-03-11", "2001", "", "31/12/2005", "bad"], dtype=object)
    pick = rng.integers(0, pool.size, 2000)
    r = parse_dates(pool[pick])
    want_year = np.array([1999, 2001, np.nan, 2005, np.nan])[pick]
    np.testing.assert_array_equal(r.year, want_year)
    assert (r.missing == (pick == 2)).all()
    assert (r.bad == (pick == 4)).all()
    assert r.formats == {k: int(np.sum(pick == i)) for i, k in [(0, "YYYY-MM-DD"), (1, "year"), (3, "DD/MM/YYYY")]}


def test_empty_input():
    for empty in ([], np.array([], dtype=object), pd.Series([], dtype="float64")):
        r = parse_dates(empty)
        check_consistent(r, 0)
        assert r.note == "dates: no rows"


def test_errors():
    with pytest.raises(InputError, match="one column"):
        parse_dates(np.zeros((2, 2)))
    with pytest.raises(InputError, match="one column"):
        parse_dates(pd.DataFrame({"a": [1999]}))
    with pytest.raises(InputError, match="column of values"):
        parse_dates(1999)
    with pytest.raises(InputError, match="after max_year"):
        parse_dates([1999], min_year=2000, max_year=1990)


def test_precisions_constant():
    assert PRECISIONS == ("", "year", "month", "day")


# ---------------------------------------------------------------------------------------
# speed (1M rows; run with -m slow)
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["int years", "ISO", "DD/MM/YYYY 00:00:00", "Chinese"])
def test_one_million_rows_parse_fast(kind):
    rng = np.random.default_rng(0)
    n = 1_000_000
    day = pd.Timestamp("1950-01-01") + pd.to_timedelta(np.arange(27000), unit="D")
    pick = rng.integers(0, day.size, n)
    if kind == "int years":
        vals = (1950 + rng.integers(0, 75, n)).astype(np.int64)
    elif kind == "ISO":
        vals = np.asarray(day.strftime("%Y-%m-%d"), dtype=object)[pick]
    elif kind == "Chinese":
        vals = np.array([f"{t.year}年{t.month}月{t.day}日" for t in day], dtype=object)[pick]
    else:
        vals = np.asarray(day.strftime("%d/%m/%Y 00:00:00"), dtype=object)[pick]
    t0 = time.perf_counter()
    r = parse_dates(vals)
    elapsed = time.perf_counter() - t0
    assert not r.bad.any() and not r.missing.any()
    assert elapsed < 2.0, f"{kind}: {elapsed:.2f} s"


def test_a_few_five_digit_values_do_not_make_a_year_column_serial():
    """Two-digit years and one typo (20011) in a column of years: still years, the others rejected."""
    r = parse_dates(["1995"] * 40 + ["95"] * 50 + ["20011"])
    assert not r.excel_serial
    assert (r.year[:40] == 1995).all() and r.bad[40:].all()


def test_decisions_from_distinct_values_with_counts_equal_the_whole_column():
    values = ["03/04/2001"] * 30 + ["25/04/2001"] + ["2001"] * 5
    whole = parse_dates(values)
    distinct = parse_dates(["03/04/2001", "25/04/2001", "2001"], counts=[30, 1, 5])
    assert whole.dm_order == distinct.dm_order == "day-first"
    part = parse_dates(["03/04/2001"] * 30, dm_order=distinct.dm_order)  # a part without the deciding value
    assert part.dm_order == "day-first" and (part.date == np.datetime64("2001-04-03")).all()
    serials = parse_dates(["36230", "2001"], counts=[10, 3])
    assert serials.excel_serial and parse_dates(["2001"], serial=True).year[0] == 1905  # serial 2001 = 1905-06-23
