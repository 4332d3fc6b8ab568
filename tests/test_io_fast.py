"""The columnar fast path of read_firms: same rows, numbers, values and reasons as the
reference csv-module reader and the reference per-cell rules, on dirty and tricky input."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import geo
from geo.io import _text as gtext
from geo.io import firms as gio

HEADER = "firm_id,name,lon,lat,coord_sys,sector,founded,employees,industry_code"


def _write(tmp_path, text, name="firms.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def _read_both(path, monkeypatch, **kw):
    """read_firms through the fast parser and through the csv-module reader."""
    fast = geo.read_firms(path, **kw)
    with monkeypatch.context() as m:
        m.setattr(gtext, "read_csv_fast", lambda *a, **k: None)
        slow = geo.read_firms(path, **kw)
    return fast, slow


def _assert_same(a, b):
    assert a.attrs["load_report"] == b.attrs["load_report"]
    pd.testing.assert_frame_equal(a.attrs["rejects"], b.attrs["rejects"])
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert a.geometry.geom_equals_exact(b.geometry, 0).all()


def _parser_used(caplog, path, **kw):
    with caplog.at_level(logging.DEBUG, logger="geo.io"):
        caplog.clear()
        firms = geo.read_firms(path, **kw)
    used = [r.getMessage().rsplit(" ", 1)[-1] for r in caplog.records if r.getMessage().startswith("parsed ")]
    return firms, used[-1]


# ----------------------------------------------------------------------------- a hand-checked file
TRICKY = (
    "firm_id,name,lon,lat\n"
    'F1,"A, Inc.",114.40,30.50\n'          # row 1: a quoted delimiter
    "\n"                                    # blank line: skipped, no row number
    "F2,B,114.41,30.51,,\n"                # row 2: empty extra fields are dropped, not malformed
    "   \n"                                 # whitespace-only: blank too
    'F3,"C ""q""",114.42\n'                # row 3: short row -> lat empty -> missing_coordinate
    "F4,D,114.43,30.53,x\n"                # row 4: an extra non-empty field -> malformed_row
    'F1,"A, Inc.",114.40,30.50\n'          # row 5: duplicate of row 1
    " F6 , padded ,114.44,30.54\n"        # row 6: values are stripped
)


def test_hand_checked_rows_reasons_and_values(tmp_path, caplog, monkeypatch):
    p = _write(tmp_path, TRICKY)
    firms, used = _parser_used(caplog, p)
    assert used == "pyarrow"
    rep = firms.attrs["load_report"]
    assert rep["rows_read"] == 6 and rep["blank_lines_skipped"] == 2
    rej = firms.attrs["rejects"].set_index("row")
    assert rej["reason"].to_dict() == {3: "missing_coordinate", 4: "malformed_row", 5: "duplicate"}
    assert rej.loc[4, "detail"] == "5 fields, header has 4"
    assert rej.loc[5, "detail"] == "exact duplicate of row 1"
    assert rej.loc[3, "name"] == 'C "q"' and rej.loc[3, "lat"] == ""
    assert list(firms.index) == [1, 2, 6]
    assert firms.loc[1, "name"] == "A, Inc." and firms.loc[6, "firm_id"] == "F6" and firms.loc[6, "name"] == "padded"
    assert firms.loc[2, "lon"] == pytest.approx(114.41)
    fast, slow = _read_both(p, monkeypatch)
    _assert_same(fast, slow)


def test_malformed_row_keeps_raw_fields_and_can_be_duplicated(tmp_path, monkeypatch):
    # a malformed row's raw (unstripped) fields are its values; an identical later row is its duplicate
    text = HEADER + "\n" + "\n".join([
        "F1, a ,114.40,30.50,wgs84,optics,2001,5,0397",
        "F2, b ,114.41,30.51,wgs84,optics,2002,5,0397,EXTRA",
        "F2, b ,114.41,30.51,wgs84,optics,2002,5,0397,EXTRA",
        "F2,b,114.41,30.51,wgs84,optics,2002,5,0397",
    ]) + "\n"
    p = _write(tmp_path, text)
    fast, slow = _read_both(p, monkeypatch)
    _assert_same(fast, slow)
    rej = fast.attrs["rejects"].set_index("row")
    assert rej["reason"].to_dict() == {2: "malformed_row", 3: "malformed_row"}
    assert rej.loc[2, "name"] == " b "
    assert fast.loc[4, "name"] == "b" and fast["industry_code"].tolist() == ["0397", "0397"]


def test_quoted_line_break_falls_back_with_same_numbering(tmp_path, caplog):
    text = 'firm_id,name,lon,lat\nF1,"two\nlines",114.40,30.50\n\nF2,B,114.41,30.51\nF3,C,,30.52\n'
    p = _write(tmp_path, text)
    firms, used = _parser_used(caplog, p)
    assert used == "csv"
    assert firms.loc[1, "name"] == "two\nlines"
    assert list(firms.index) == [1, 2]
    assert firms.attrs["rejects"]["row"].tolist() == [3]
    assert firms.attrs["load_report"]["blank_lines_skipped"] == 1


@pytest.mark.parametrize(
    "line",
    [
        'F9,ab"c,114.4,30.5',      # quote inside an unquoted field: literal
        'F9,"ab"c,114.4,30.5',     # text after the closing quote
        'F9, "ab",114.4,30.5',     # space before the opening quote: literal
        'F9,"a""b",114.4,30.5',    # doubled quote
        'F9,"",114.4,30.5',        # empty quoted field
        'F9,"a,b",114.4,30.5,',    # quoted delimiter plus an empty extra field
        '"F9","x","114.4","30.5"',  # every field quoted
    ],
)
def test_quoting_like_the_csv_module(tmp_path, monkeypatch, line):
    rows = [f"F{i},n{i},{114.4 + i / 1000:.4f},{30.5 + i / 1000:.4f}" for i in range(8)]
    p = _write(tmp_path, "firm_id,name,lon,lat\n" + "\n".join(rows[:4] + [line] + rows[4:]) + "\n")
    fast, slow = _read_both(p, monkeypatch)
    _assert_same(fast, slow)


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "utf-16"])
def test_encodings_and_line_ends_take_the_fast_path(tmp_path, caplog, monkeypatch, eol, encoding):
    text = (TRICKY.replace("A, Inc.", "武汉光谷, Inc.")).replace("\n", eol)
    p = _write(tmp_path, text, encoding=encoding)
    firms, used = _parser_used(caplog, p)
    assert used == "pyarrow"
    assert firms.loc[1, "name"] == "武汉光谷, Inc."
    fast, slow = _read_both(p, monkeypatch)
    _assert_same(fast, slow)


def test_lone_carriage_returns_and_nul_bytes_fall_back(tmp_path, caplog):
    p = _write(tmp_path, TRICKY.replace("\n", "\r"))
    firms, used = _parser_used(caplog, p)
    assert used == "csv" and firms.attrs["load_report"]["rows_read"] == 6


# ----------------------------------------------------------------------------- a seeded dirty table
def _dirty_table(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(114.2, 114.6, n)
    lat = rng.uniform(30.3, 30.7, n)
    lon_t = np.array([f"{v:.6f}" for v in lon], dtype=object)
    lat_t = np.array([f"{v:.6f}" for v in lat], dtype=object)
    pick = rng.permutation(n)[: n // 5]
    kinds = np.array_split(pick, 10)
    lon_t[kinds[0]] = ""
    lon_t[kinds[1]] = "n/a"
    lon_t[kinds[2]], lat_t[kinds[2]] = "0", "0"
    lat_t[kinds[3]] = "300"
    lon_t[kinds[4]], lat_t[kinds[4]] = lat_t[kinds[4]].copy(), lon_t[kinds[4]].copy()
    lon_t[kinds[5]], lat_t[kinds[5]] = "114.300000", "30.600000"  # stacked
    lon_t[kinds[6]] = np.array([v.replace(".", "，") for v in lon_t[kinds[6]]], dtype=object)
    systems = rng.choice(np.array(["wgs84", "gcj02", "", "GCJ-02", "mercator"], dtype=object), n, p=[0.5, 0.4, 0.05, 0.04, 0.01])
    ids = np.array([f"F{i}" for i in range(n)], dtype=object)
    ids[kinds[7]] = ""
    names = np.array([rng.choice(["光电, 有限公司", 'Say "hi" Ltd', "plain", " padded "]) for _ in range(n)], dtype=object)
    founded = rng.integers(1980, 2024, n).astype(str).astype(object)
    founded[kinds[8]] = ""
    employees = np.array([f"{v:.1f}" for v in rng.uniform(1, 100, n)], dtype=object)
    codes = rng.choice(np.array(["0397", "3976", "1411"], dtype=object), n)

    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v

    lines = [HEADER]
    for i in range(n):
        lines.append(",".join(cell(v) for v in (ids[i], names[i], lon_t[i], lat_t[i], systems[i], "optics",
                                                 founded[i], employees[i], codes[i])))
        if i in kinds[9][:5]:
            lines[-1] += ",extra"
        if i % 97 == 0:
            lines.append(lines[-1])  # an exact duplicate
        if i % 131 == 0:
            lines.append(rng.choice(["", "  ", "F,short"]))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", [0, 1])
def test_dirty_table_fast_equals_reference(tmp_path, caplog, monkeypatch, seed):
    p = _write(tmp_path, _dirty_table(3000, seed))
    firms, used = _parser_used(caplog, p)
    assert used == "pyarrow"
    fast, slow = _read_both(p, monkeypatch)
    _assert_same(fast, slow)
    reasons = set(fast.attrs["rejects"]["reason"])
    assert {"duplicate", "missing_coordinate", "not_a_number", "zero_zero", "out_of_range", "missing_id",
            "malformed_row", "unknown_coord_sys"} <= reasons
    assert fast["stacked"].sum() > 0 and fast["swapped"].sum() > 0
    assert fast["founded"].dtype == "Int64" and fast["employees"].dtype == np.float64
    assert fast["industry_code"].iloc[0] in ("0397", "3976", "1411")


def test_parquet_matches_the_same_table_as_csv(tmp_path, monkeypatch):
    p = _write(tmp_path, _dirty_table(500, 3))
    csv_firms = geo.read_firms(p)
    table = pd.read_csv(p, dtype=str, keep_default_na=False, on_bad_lines="skip")
    pq = tmp_path / "firms.parquet"
    table.to_parquet(pq)
    pq_firms = geo.read_firms(pq)
    assert pq_firms.attrs["load_report"]["rows_read"] == len(table)
    shared = ["lon", "lat", "coord_sys", "swapped", "stacked"]
    merged = csv_firms.set_index("firm_id")[shared].join(pq_firms.set_index("firm_id")[shared].add_suffix("_pq"), how="inner")
    assert len(merged) > 300
    for c in shared:
        assert (merged[c].to_numpy() == merged[f"{c}_pq"].to_numpy()).all(), c


# ----------------------------------------------------------------------------- the vectorised rules
NUMERIC_CASES = [
    ["1", "2", "3"],
    ["1", "", "3"],
    ["1", "2.5", ""],
    ["-0", "1"],
    ["-0", "1.5"],
    ["+1", "2"],
    ["007", "8"],
    ["1e5", "2E+02", ".5", "5."],
    ["inf", "1"],
    ["nan", "1"],
    ["1_000", "2"],
    ["12345678901234567", "1"],
    ["123456789012345678901234", ""],
    ["0.1000000000000000055511151231257827", "2"],
    ["1e300", "1"],
    ["a", "1"],
    ["", ""],
    ["１２", "3"],
    ["1,5", "2"],
    ["3.0", "4.0", ""],
]


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("values", NUMERIC_CASES, ids=lambda v: "|".join(v))
def test_column_typing_equals_reference_rules(values):
    arr = gtext.text_array(list(values))
    try:
        ref = gtext._infer_types(pd.DataFrame({"score": pd.Series(values, dtype=object)}))["score"]
    except TypeError as exc:  # the reference cannot hold a 24-digit integer either
        with pytest.raises(type(exc)):
            gtext._output_column("score", arr, np.ones(len(values), dtype=bool))
        return
    got = pd.Series(gtext._output_column("score", arr, np.ones(len(values), dtype=bool)))
    if ref.dtype == object:
        assert isinstance(got.dtype, pd.StringDtype) and got.tolist() == values
    else:
        pd.testing.assert_series_equal(got, ref.reset_index(drop=True), check_names=False)


@pytest.mark.parametrize("comma", [False, True])
@pytest.mark.parametrize("values", NUMERIC_CASES, ids=lambda v: "|".join(v))
def test_coordinate_parsing_equals_to_numeric(values, comma):
    values = values + ["114，25"] if comma else values
    got = gtext._col_numeric(gtext.text_array(list(values)))
    ref = pd.to_numeric(pd.Series(values, dtype=object).str.replace("，", ".", regex=False), errors="coerce").to_numpy(dtype=float)
    np.testing.assert_array_equal(got, ref)
    assert (np.signbit(got) == np.signbit(ref)).all()


def test_coordinate_parsing_random_strings_equal_to_numeric():
    rng = np.random.default_rng(7)
    x = rng.uniform(-180, 180, 20000) * 10.0 ** rng.integers(-8, 8, 20000)
    values = [f"{v:.{d}f}" for v, d in zip(x, rng.integers(0, 12, x.size))] + [repr(float(v)) for v in x[:5000]]
    got = gtext._col_numeric(gtext.text_array(values))
    ref = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    np.testing.assert_array_equal(got, ref)


def test_canonical_integer_shortcut():
    assert gtext._canonical_ints(gtext.text_array(["0", "-12", "2024"])).tolist() == [0, -12, 2024]
    for bad in (["+1"], ["-0"], ["007"], ["1.0"], ["x"]):
        assert gtext._canonical_ints(gtext.text_array(bad)) is None


def test_strip_is_str_strip():
    ws = gtext._WHITESPACE
    values = [c + "x" + c for c in ws] + [ws, "\u200bx\u200b", "\ufeffy", "a b"]
    assert gtext._strip(gtext.text_array(values)).to_pylist() == [v.strip() for v in values]


def test_duplicates_equal_pandas():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.integers(0, 3, 2000).astype(str), "b": rng.integers(0, 4, 2000).astype(str),
                          "c": rng.choice([0.5, np.nan, -0.0, 0.0], 2000)})
    cols = [gtext.text_array(frame["a"].tolist()), gtext.text_array(frame["b"].tolist()), gtext._Floats(frame["c"].to_numpy())]
    dup, first = gio.duplicate_rows(cols, len(frame))
    text = frame.assign(c=[gtext.float_text(v) for v in frame["c"]])  # -0.0 and 0.0 differ as text
    assert np.array_equal(dup, text.duplicated().to_numpy())
    firsts = text.reset_index().groupby(["a", "b", "c"])["index"].transform("min").to_numpy()
    assert np.array_equal(first[dup], firsts[dup])
    assert np.array_equal(first[~dup], np.flatnonzero(~dup))


def test_columns_from_frames_are_the_reference_text():
    frame = pd.DataFrame({
        "f": [1.0, np.nan, 2.5, -0.0, 1e16],
        "f32": np.array([1.5, np.nan, 0.1, 2, 3], dtype=np.float32),
        "i": [1, -2, 3, 4, 5],
        "u": np.array([1, 2, 3, 4, 250], dtype=np.uint8),
        "b": [True, False, True, True, False],
        "s": pd.array([" a ", None, "", "b", "007"], dtype="str"),
        "o": pd.Series([1, "x", 2.0, None, pd.NA], dtype=object),
        "I": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        "d": pd.date_range("2020-01-01", periods=5),
    })
    for name in frame.columns:
        col = gtext._column_from_series(frame[name])
        assert gtext.column_text(col, np.arange(5)) == gtext._as_text(frame[name]).tolist(), name


def test_exact_stacks_equal_groupby():
    from geo.io._stacks import find_stacks

    rng = np.random.default_rng(5)
    x = rng.choice([114.1, 114.2, 114.30000001, 114.30000004, -0.0, 0.0, np.nan], 3000)
    y = rng.choice([30.1, 30.2, 0.0], 3000)
    x[:40] = rng.uniform(110, 120, 40)  # singletons
    for k in (2, 10, 200, 500):
        st = find_stacks(x, y, radius_m=0, min_size=k)
        hit, sites = st.stacked, len(st.sites)
        keys = pd.DataFrame({"x": np.round(x, 7), "y": np.round(y, 7)})
        size = keys.groupby(["x", "y"])["x"].transform("size").to_numpy()
        ref = size >= k  # NaN sizes (NaN keys) compare False
        assert np.array_equal(hit, ref), k
        assert sites == keys[ref].drop_duplicates().shape[0], k


def test_interleave_places_rows():
    values = gtext.text_array(["a", "b", "c", "d"])
    extra = gtext.text_array(["X", "Y", "Z"])
    out = gtext._interleave(values, extra, np.array([0, 2, 2]))
    assert out.to_pylist() == ["X", "a", "b", "Y", "Z", "c", "d"]
    assert gtext._interleave(values, extra[:1], np.array([4])).to_pylist() == ["a", "b", "c", "d", "X"]
