"""Tests of the CSV readers: boreholes and borehole logs (pfatlas.io.tables).

Row numbers in errors are spreadsheet rows (header = row 1, first data row = row 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from pfatlas.errors import InputError, MissingInputError, PfatlasWarning
from pfatlas.grid import grid_from_bbox, lonlat_arrays
from pfatlas.io.tables import read_borehole_logs, read_boreholes

# odc-geo 0.5 builds GeoBox affines with `Affine * Affine`, which affine 3.0 flags as pending
# deprecation; the warning is raised inside odc.geo (grid_from_bbox), not in pfatlas.io.tables.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul:PendingDeprecationWarning"
)

BBOX = (99.0, 38.0, 99.1, 38.05)
HEADER = "id,lon,lat,elevation_m,magt_c,alt_m,year,setting"


@pytest.fixture(scope="module")
def gbox():
    return grid_from_bbox(BBOX)


def write(tmp_path: Path, text: str, name: str = "t.csv", encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding=encoding)
    return p


def boreholes(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    return write(tmp_path, "\n".join([header, *rows]) + "\n", "boreholes.csv")


GOOD = [
    "BH1,99.05,38.02,4000,-1.5,2.1,2015,natural",
    "BH2,99.02,38.01,,-0.5,,2016,Other Disturbed",
    "BH3,99.08,38.04,4100.5,0.3,3.0,2019,other-disturbed",
    "BH4,99.03,38.03,3990,-2.0,1.6,2020, PIT ",
]


# ------------------------------------------------------------------------------------------------
# boreholes: happy paths
# ------------------------------------------------------------------------------------------------


def test_boreholes_lonlat(tmp_path, gbox):
    df = read_boreholes(boreholes(tmp_path, *GOOD), gbox)
    assert list(df.columns) == [
        "id", "x", "y", "lon", "lat", "elevation_m", "magt_c", "alt_m", "year", "setting", "row", "col",
    ]  # fmt: skip
    assert list(df["id"]) == ["BH1", "BH2", "BH3", "BH4"]
    assert list(df["setting"]) == ["natural", "other_disturbed", "other_disturbed", "pit"]
    assert df["year"].dtype == np.int64 and list(df["year"]) == [2015, 2016, 2019, 2020]
    np.testing.assert_array_equal(df["magt_c"], [-1.5, -0.5, 0.3, -2.0])
    # blanks in optional columns become NaN
    assert np.isnan(df["elevation_m"][1]) and np.isnan(df["alt_m"][1])
    # x, y: the same transform as an independent pyproj call (exact: same library, same inputs)
    tr = Transformer.from_crs("EPSG:4326", "EPSG:32647", always_xy=True)
    x, y = tr.transform([99.05, 99.02, 99.08, 99.03], [38.02, 38.01, 38.04, 38.03])
    np.testing.assert_allclose(df["x"], x, rtol=0, atol=1e-6)
    np.testing.assert_allclose(df["y"], y, rtol=0, atol=1e-6)
    # lon/lat returned are the given ones (round trip through the grid CRS, < 1e-9 deg ~ 0.1 mm)
    np.testing.assert_allclose(df["lon"], [99.05, 99.02, 99.08, 99.03], atol=1e-9)
    np.testing.assert_allclose(df["lat"], [38.02, 38.01, 38.04, 38.03], atol=1e-9)
    # grid cells from the cell edges: 30 m cells, west edge x0, north edge y0
    a = gbox.affine
    np.testing.assert_array_equal(df["col"], np.floor((np.asarray(x) - a.c) / 30.0).astype(int))
    np.testing.assert_array_equal(df["row"], np.floor((a.f - np.asarray(y)) / 30.0).astype(int))


def test_boreholes_cell_centres_from_grid_land_in_their_cell(tmp_path, gbox):
    """Truth from pfatlas.grid.lonlat_arrays: the lon/lat of the centre of cell (r, c) maps to (r, c)."""
    lon, lat = lonlat_arrays(gbox)
    cells = [(0, 0), (5, 17), (100, 250), (gbox.shape[0] - 1, gbox.shape[1] - 1)]
    rows = [
        f"C{k},{float(lon[r, c])!r},{float(lat[r, c])!r},,-1,,2010,natural" for k, (r, c) in enumerate(cells)
    ]
    df = read_boreholes(boreholes(tmp_path, *rows), gbox)
    assert list(zip(df["row"], df["col"], strict=True)) == cells


def test_boreholes_xy(tmp_path, gbox):
    a = gbox.affine
    # centres of cells (2, 3) and (10, 20) of the grid, in grid metres
    pts = [(a.c + 3.5 * 30, a.f - 2.5 * 30), (a.c + 20.5 * 30, a.f - 10.5 * 30)]
    rows = [f"P{k},{x},{y},-3.0,2015,pit" for k, (x, y) in enumerate(pts)]
    df = read_boreholes(boreholes(tmp_path, *rows, header="id,x,y,magt_c,year,setting"), gbox)
    assert list(df["row"]) == [2, 10] and list(df["col"]) == [3, 20]
    np.testing.assert_array_equal(df["x"], [p[0] for p in pts])
    assert df["elevation_m"].isna().all() and df["alt_m"].isna().all()
    # lon/lat filled in: inside the bbox the grid was built from
    assert ((df["lon"] > 99.0) & (df["lon"] < 99.1) & (df["lat"] > 38.0) & (df["lat"] < 38.05)).all()


def test_boreholes_both_pairs_must_agree(tmp_path, gbox):
    tr = Transformer.from_crs("EPSG:4326", "EPSG:32647", always_xy=True)
    x, y = tr.transform(99.05, 38.02)
    header = "id,lon,lat,x,y,magt_c,year,setting"
    df = read_boreholes(
        boreholes(tmp_path, f"A,99.05,38.02,{x + 5},{y},-1,2015,natural", header=header), gbox
    )
    assert len(df) == 1
    p = boreholes(
        tmp_path,
        f"A,99.05,38.02,{x + 5},{y},-1,2015,natural",
        f"B,99.05,38.02,{x},{y + 500},-1,2015,natural",
        header=header,
    )
    with pytest.raises(InputError, match="500 m from lon, lat") as e:
        read_boreholes(p, gbox)
    assert e.value.row == 3 and e.value.field == "x"


def test_boreholes_a_wholly_blank_coordinate_pair_is_ignored(tmp_path, gbox):
    a = gbox.affine
    x, y = a.c + 3.5 * 30, a.f - 2.5 * 30
    header = "id,lon,lat,x,y,magt_c,year,setting"
    df = read_boreholes(boreholes(tmp_path, f"A,,,{x},{y},-1,2015,natural", header=header), gbox)
    assert (df["row"][0], df["col"][0]) == (2, 3)
    df = read_boreholes(boreholes(tmp_path, "A,99.05,38.02,,,-1,2015,natural", header=header), gbox)
    assert len(df) == 1
    with pytest.raises(InputError, match="blank where a longitude") as e:
        read_boreholes(boreholes(tmp_path, "A,,,,,-1,2015,natural", header=header), gbox)
    assert e.value.row == 2 and e.value.field == "lon"


def test_boreholes_bom_case_and_spaces_in_header(tmp_path, gbox):
    text = " ID , Lon,LAT,MAGT_C,Year,Setting\nA,99.05,38.02,-1,2015,natural\n"
    df = read_boreholes(write(tmp_path, text, encoding="utf-8-sig"), gbox)
    assert list(df["id"]) == ["A"]


# ------------------------------------------------------------------------------------------------
# boreholes: errors name the file, the spreadsheet row and the field
# ------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path, gbox):
    p = tmp_path / "nope.csv"
    with pytest.raises(MissingInputError, match="does not exist") as e:
        read_boreholes(p, gbox)
    assert e.value.path == str(p)
    assert isinstance(e.value, FileNotFoundError)


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_file(tmp_path, gbox, text):
    p = write(tmp_path, text)
    with pytest.raises(InputError, match="empty") as e:
        read_boreholes(p, gbox)
    assert e.value.path == str(p)


def test_header_only(tmp_path, gbox):
    with pytest.raises(InputError, match="no data rows"):
        read_boreholes(boreholes(tmp_path), gbox)


def test_not_utf8(tmp_path, gbox):
    p = tmp_path / "gbk.csv"
    p.write_bytes((HEADER + "\n钻孔1,99.05,38.02,,-1,,2015,natural\n").encode("gbk"))
    with pytest.raises(InputError, match="UTF-8") as e:
        read_boreholes(p, gbox)
    assert e.value.path == str(p)


def test_utf8_ids(tmp_path, gbox):
    df = read_boreholes(boreholes(tmp_path, "钻孔1,99.05,38.02,,-1,,2015,natural"), gbox)
    assert df["id"][0] == "钻孔1"


def test_missing_required_column(tmp_path, gbox):
    p = boreholes(tmp_path, "A,99.05,38.02,-1,2015", header="id,lon,lat,magt,year")
    with pytest.raises(InputError) as e:
        read_boreholes(p, gbox)
    msg = str(e.value)
    assert "missing required column 'magt_c'" in msg and "id, lon, lat, magt, year" in msg
    assert e.value.field == "magt_c" and e.value.path == str(p) and e.value.row == 1


def test_semicolon_file_gets_a_hint(tmp_path, gbox):
    p = boreholes(tmp_path, "A;99.05;38.02;-1;2015;natural", header="id;lon;lat;magt_c;year;setting")
    with pytest.raises(InputError, match="separated by semicolons"):
        read_boreholes(p, gbox)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("warm", "'warm' is not a temperature"),
        ("", "blank where a temperature"),
        ("NaN", "'NaN' where a temperature"),
    ],
)
def test_bad_number(tmp_path, gbox, value, shown):
    p = boreholes(tmp_path, GOOD[0], f"BH2,99.02,38.01,,{value},,2016,natural")
    with pytest.raises(InputError, match=shown) as e:
        read_boreholes(p, gbox)
    # header is row 1, BH1 row 2, BH2 row 3
    assert e.value.row == 3 and e.value.field == "magt_c" and e.value.path == str(p)
    assert str(e.value).startswith(f"{p}, row 3, field 'magt_c':")


def test_row_numbers_count_blank_lines_like_a_spreadsheet(tmp_path, gbox):
    p = write(tmp_path, f"{HEADER}\n{GOOD[0]}\n\n{GOOD[1]}\nBH9,99.01,38.01,x1,-1,,2016,natural\n")
    with pytest.raises(InputError, match="'x1' is not an elevation") as e:
        read_boreholes(p, gbox)
    assert e.value.row == 5 and e.value.field == "elevation_m"


def test_more_bad_rows_are_counted(tmp_path, gbox):
    p = boreholes(tmp_path, "A,99.05,38.02,,a,,2015,natural", "B,99.05,38.02,,b,,2015,natural")
    with pytest.raises(InputError, match=r"1 more row\(s\) like this: 3") as e:
        read_boreholes(p, gbox)
    assert e.value.row == 2


def test_extra_fields(tmp_path, gbox):
    p = boreholes(tmp_path, GOOD[0] + ",,", "BH2,99.02,38.01,,-0,5,,2016,natural")
    with pytest.raises(InputError, match="9 fields but the header has 8") as e:
        read_boreholes(p, gbox)
    assert e.value.row == 3


@pytest.mark.parametrize(
    ("field", "row", "match"),
    [
        ("magt_c", "A,99.05,38.02,,25,,2015,natural", "25 degC is outside the plausible range"),
        ("magt_c", "A,99.05,38.02,,-15.5,,2015,natural", "-15.5 degC is outside"),
        (
            "alt_m",
            "A,99.05,38.02,,-1,0,2015,natural",
            r"0 m is outside the plausible range \(0 < value <= 20 m\)",
        ),
        ("alt_m", "A,99.05,38.02,,-1,250,2015,natural", "250 m is outside"),
        ("year", "A,99.05,38.02,,-1,,2015.5,natural", "2015.5 is not a whole number"),
        ("year", "A,99.05,38.02,,-1,,15,natural", "15 is outside"),
        ("lat", "A,38.02,99.05,,-1,,2015,natural", "lon and lat swapped"),
        ("id", " ,99.05,38.02,,-1,,2015,natural", "blank where a value is required"),
    ],
)
def test_bad_values(tmp_path, gbox, field, row, match):
    p = boreholes(tmp_path, GOOD[0], row)
    with pytest.raises(InputError, match=match) as e:
        read_boreholes(p, gbox)
    assert e.value.row == 3 and e.value.field == field and e.value.path == str(p)


def test_range_limits_are_inclusive(tmp_path, gbox):
    df = read_boreholes(
        boreholes(tmp_path, "A,99.05,38.02,,-15,20,2015,natural", "B,99.05,38.02,,10,0.01,2015,dump"), gbox
    )
    assert list(df["magt_c"]) == [-15.0, 10.0] and list(df["alt_m"]) == [20.0, 0.01]


def test_duplicate_ids_name_both_rows(tmp_path, gbox):
    p = boreholes(tmp_path, *GOOD, "BH2,99.02,38.01,,-0.5,,2016,natural")
    with pytest.raises(InputError, match=r"duplicate borehole id 'BH2' \(also in row 3\)") as e:
        read_boreholes(p, gbox)
    assert e.value.row == 6 and e.value.field == "id"


def test_unknown_setting(tmp_path, gbox):
    p = boreholes(tmp_path, "A,99.05,38.02,,-1,,2015,road cut")
    with pytest.raises(
        InputError, match="unknown setting 'road cut'; expected one of: natural, pit, dump, other_disturbed"
    ) as e:
        read_boreholes(p, gbox)
    assert e.value.row == 2 and e.value.field == "setting"


def test_no_coordinates(tmp_path, gbox):
    p = boreholes(tmp_path, "A,-1,2015,natural", header="id,magt_c,year,setting")
    with pytest.raises(
        InputError, match="neither 'lon','lat'.* nor 'x','y'.*columns found: id, magt_c, year, setting"
    ) as e:
        read_boreholes(p, gbox)
    assert e.value.path == str(p)


def test_half_a_coordinate_pair(tmp_path, gbox):
    p = boreholes(tmp_path, "A,99.05,-1,2015,natural", header="id,lon,magt_c,year,setting")
    with pytest.raises(InputError, match="column 'lat' is missing") as e:
        read_boreholes(p, gbox)
    assert e.value.field == "lat"


def test_outside_boreholes_warn_and_are_dropped(tmp_path, gbox):
    p = boreholes(tmp_path, *GOOD, "FAR1,99.5,38.02,,-1,,2015,natural", "FAR2,99.05,37.5,,-1,,2015,natural")
    with pytest.warns(PfatlasWarning, match="2 of 6 boreholes outside the study area dropped: FAR1, FAR2"):
        df = read_boreholes(p, gbox)
    assert list(df["id"]) == ["BH1", "BH2", "BH3", "BH4"]
    assert list(df.index) == [0, 1, 2, 3]


def test_all_outside_is_an_error(tmp_path, gbox):
    p = boreholes(tmp_path, "FAR1,99.5,38.02,,-1,,2015,natural")
    with pytest.raises(InputError, match="none of the 1 boreholes lies inside the study area") as e:
        read_boreholes(p, gbox)
    assert e.value.path == str(p)


# ------------------------------------------------------------------------------------------------
# borehole logs
# ------------------------------------------------------------------------------------------------

LOG_HEADER = "borehole_id,top_m,bottom_m,soil,water_content_pct,dry_density_kg_m3"


def logs(tmp_path: Path, *rows: str, header: str = LOG_HEADER) -> Path:
    return write(tmp_path, "\n".join([header, *rows]) + "\n", "logs.csv")


LOGS = [
    "BH2,0,1.5,sand,20,1600",
    "BH1,1.0,2.5,Silt,35.5,1450",
    "BH1,0,1.0,PEAT ,180,",
    "BH1,3,12,bedrock,2,2600",  # a gap 2.5-3 m is allowed
    "BH2,1.5,4,ice,400,300",  # touching the layer above is not an overlap
]


def test_logs_sorted_and_parsed(tmp_path):
    df = read_borehole_logs(logs(tmp_path, *LOGS))
    assert list(df.columns) == [
        "borehole_id",
        "top_m",
        "bottom_m",
        "soil",
        "water_content_pct",
        "dry_density_kg_m3",
    ]
    assert list(df["borehole_id"]) == ["BH1", "BH1", "BH1", "BH2", "BH2"]
    np.testing.assert_array_equal(df["top_m"], [0, 1, 3, 0, 1.5])
    assert list(df["soil"]) == ["peat", "silt", "bedrock", "sand", "ice"]
    assert np.isnan(df["dry_density_kg_m3"][0]) and df["dry_density_kg_m3"][1] == 1450
    assert df["water_content_pct"][1] == 35.5


def test_logs_without_density_column(tmp_path):
    df = read_borehole_logs(
        logs(tmp_path, "A,0,1,clay,30", header="borehole_id,top_m,bottom_m,soil,water_content_pct")
    )
    assert df["dry_density_kg_m3"].isna().all()


def test_logs_missing_column(tmp_path):
    p = logs(tmp_path, "A,0,1,clay", header="borehole_id,top_m,bottom_m,soil")
    with pytest.raises(
        InputError,
        match="missing required column 'water_content_pct'; columns found: borehole_id, top_m, bottom_m, soil",
    ) as e:
        read_borehole_logs(p)
    assert e.value.field == "water_content_pct" and e.value.path == str(p)


@pytest.mark.parametrize(
    ("row", "field", "match"),
    [
        ("A,-0.5,1,clay,30,1500", "top_m", "negative depth -0.5 m"),
        ("A,2,2,clay,30,1500", "bottom_m", "borehole 'A' has top_m 2 m >= bottom_m 2 m"),
        ("A,3,2,clay,30,1500", "bottom_m", "top_m 3 m >= bottom_m 2 m"),
        (
            "A,0,1,loam,30,1500",
            "soil",
            "unknown soil 'loam'; expected one of: gravel, sand, silt, clay, peat, bedrock, ice",
        ),
        ("A,0,1,clay,1200,1500", "water_content_pct", "1200 % is outside the plausible range"),
        ("A,0,1,clay,-1,1500", "water_content_pct", "-1 % is outside"),
        ("A,0,1,clay,,1500", "water_content_pct", "missing water content for a clay layer of borehole 'A'"),
        ("A,0,1,clay,NaN,1500", "water_content_pct", "missing water content for a clay layer"),
        ("A,0,1,clay,30,50", "dry_density_kg_m3", "50 kg m-3 is outside"),
        ("A,0,1,clay,30,3500", "dry_density_kg_m3", "3500 kg m-3 is outside"),
        ("A,0,1.2m,clay,30,1500", "bottom_m", "'1.2m' is not a depth"),
        ("A,zero,1,clay,30,1500", "top_m", "'zero' is not a depth"),
        (",0,1,clay,30,1500", "borehole_id", "blank where a value is required"),
    ],
)
def test_logs_bad_values(tmp_path, row, field, match):
    p = logs(tmp_path, "Z,0,1,clay,30,1500", row)
    with pytest.raises(InputError, match=match) as e:
        read_borehole_logs(p)
    assert e.value.row == 3 and e.value.field == field and e.value.path == str(p)


def test_logs_bedrock_may_leave_water_content_blank(tmp_path):
    p = logs(tmp_path, "A,0,2,silt,30,1400", "A,2,15,bedrock,,")
    df = read_borehole_logs(p)
    assert np.isnan(df["water_content_pct"][1]) and df["soil"][1] == "bedrock"


def test_logs_overlap_names_both_rows_and_the_borehole(tmp_path):
    p = logs(tmp_path, "BH1,0,1,peat,150,", "BH2,0,3,sand,20,", "BH1,1,2.5,silt,30,", "BH1,2,4,clay,30,")
    with pytest.raises(
        InputError, match=r"layers of borehole 'BH1' overlap: row 4 \(1-2.5 m\) and row 5 \(2-4 m\)"
    ) as e:
        read_borehole_logs(p)
    assert e.value.row == 5 and e.value.path == str(p)


def test_logs_overlap_with_a_layer_enclosing_the_next(tmp_path):
    # 0-5 encloses 1-2; 2-3 overlaps 0-5 too (the deepest bottom so far counts)
    p = logs(tmp_path, "A,0,5,clay,30,", "A,1,2,silt,30,")
    with pytest.raises(InputError, match=r"overlap: row 2 \(0-5 m\) and row 3 \(1-2 m\)"):
        read_borehole_logs(p)


def test_logs_unknown_boreholes_warn_once_and_are_dropped(tmp_path):
    p = logs(tmp_path, *LOGS, "X9,0,1,clay,30,", "X7,0,1,clay,30,", "X9,1,2,clay,30,")
    with pytest.warns(PfatlasWarning) as rec:
        df = read_borehole_logs(p, known_ids=["BH1", "BH3"])
    assert len(rec) == 1
    assert "logs of 3 borehole(s) with no temperature record dropped (5 layers): BH2, X7, X9" in str(
        rec[0].message
    )
    assert set(df["borehole_id"]) == {"BH1"} and len(df) == 3


def test_logs_known_ids_all_match_no_warning(tmp_path):
    df = read_borehole_logs(logs(tmp_path, *LOGS), known_ids=pd.Series(["BH1", "BH2"]))
    assert len(df) == 5


def test_logs_missing_file(tmp_path):
    with pytest.raises(MissingInputError):
        read_borehole_logs(tmp_path / "none.csv")
