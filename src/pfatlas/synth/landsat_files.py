"""Write real-format Landsat Collection 2 Level-2 scene folders from arrays.

Used by the virtual-Muli demo generator and by the tests: given reflectance, surface temperature
and QA arrays on a UTM grid, :func:`write_c2l2_scene` writes what a user would download from USGS (a
folder named by the product id with uint16 ``_SR_B<n>.TIF``, ``_ST_B6/10.TIF``, ``_QA_PIXEL.TIF``,
``_QA_RADSAT.TIF`` and an ``_MTL.xml`` or ``_MTL.json``), so that the reader
(:mod:`pfatlas.io.landsat`) is exercised on the real format. Synthetic folders say so in every
TIFF tag and in the MTL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import rasterio
from odc.geo.geobox import GeoBox
from pyproj import CRS, Transformer

from pfatlas import SYNTHETIC_LABEL
from pfatlas.io.landsat import (
    QA_FILL,
    SENSOR_ID,
    SPACECRAFT,
    SR_ADD,
    SR_MULT,
    ST_ADD,
    ST_MULT,
    band_map,
    band_suffix,
)

__all__ = ["write_c2l2_scene", "product_id", "to_dn", "SYNTHETIC_TAG"]

SYNTHETIC_TAG = SYNTHETIC_LABEL
_NOTE = (
    "SYNTHETIC SCENE written by pfatlas (virtual Muli): not a U.S. Geological Survey product; "
    "the file layout, names, data types and scale factors follow Collection 2 Level-2."
)
_REQUIRED = ("blue", "green", "red", "nir", "swir1", "swir2")


def product_id(spacecraft: str, wrs_path: int, wrs_row: int, acquired: dt.date, processed: dt.date) -> str:
    """Collection 2 Level-2 product id, built the USGS way.

    >>> product_id("LANDSAT_8", 133, 33, dt.date(2020, 7, 15), dt.date(2020, 9, 12))
    'LC08_L2SP_133033_20200715_20200912_02_T1'
    """
    prefix = SPACECRAFT[spacecraft][0]
    return f"{prefix}_L2SP_{wrs_path:03d}{wrs_row:03d}_{acquired:%Y%m%d}_{processed:%Y%m%d}_02_T1"


def to_dn(value: np.ndarray, mult: float, add: float, nodata: np.ndarray | None = None) -> np.ndarray:
    """Physical value -> uint16 DN: round((value - add) / mult), clipped to 1..65535; 0 = no data.

    ``nodata`` (bool) and non-finite values give DN 0.

    >>> to_dn(np.array([0.0, 0.5, np.nan]), 2.75e-5, -0.2).tolist()
    [7273, 25455, 0]
    """
    v = np.asarray(value, dtype="float64")
    ok = np.isfinite(v)
    if nodata is not None:
        ok &= ~np.asarray(nodata, dtype=bool)
    dn = np.zeros(v.shape, dtype="uint16")
    dn[ok] = np.clip(np.rint((v[ok] - add) / mult), 1, 65535).astype("uint16")
    return dn


def _default_processing_date(acquired: dt.date) -> dt.date:
    """26 days after acquisition, but not before the Collection 2 reprocessing (2020-09-12)."""
    return max(acquired + dt.timedelta(days=26), dt.date(2020, 9, 12))


def _utm_zone(crs: CRS) -> int:
    epsg = crs.to_epsg() or 0
    if 32601 <= epsg <= 32660 or 32701 <= epsg <= 32760:
        return epsg % 100
    raise ValueError(f"Landsat Collection 2 scenes are on WGS84 UTM grids; got {crs.name}")


def _check(name: str, arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.shape != shape:
        raise ValueError(f"{name}: shape {arr.shape} != scene grid shape {shape}")
    return arr


def _write_tif(path: Path, data: np.ndarray, gbox: GeoBox, crs_wkt: str, nodata, tags: dict) -> None:
    ny, nx = data.shape
    profile = {
        "driver": "GTiff",
        "width": nx,
        "height": ny,
        "count": 1,
        "dtype": "uint16",
        "crs": crs_wkt,
        "transform": gbox.affine,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "zlevel": 1,
        "predictor": 2,
    }
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.Env(GDAL_NUM_THREADS=1), rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if tags:
            dst.update_tags(**tags)


def _fmt(v: float, digits: int = 8) -> str:
    return f"{v:.{digits}f}"


def _corner_meta(gbox: GeoBox, zone: int) -> dict[str, str]:
    """PROJECTION_ATTRIBUTES corners (centres of the corner pixels, as in USGS MTLs)."""
    ny, nx = gbox.shape
    a = gbox.affine
    corners = {"UL": (0.5, 0.5), "UR": (nx - 0.5, 0.5), "LL": (0.5, ny - 0.5), "LR": (nx - 0.5, ny - 0.5)}
    tr = Transformer.from_crs(gbox.crs.to_wkt(), "EPSG:4326", always_xy=True)
    out: dict[str, str] = {}
    for c, (col, row) in corners.items():
        x, y = a @ (col, row)
        lon, lat = tr.transform(x, y)
        out[f"CORNER_{c}_LAT_PRODUCT"] = _fmt(lat, 5)
        out[f"CORNER_{c}_LON_PRODUCT"] = _fmt(lon, 5)
    for c, (col, row) in corners.items():
        x, y = a @ (col, row)
        out[f"CORNER_{c}_PROJECTION_X_PRODUCT"] = _fmt(x, 3)
        out[f"CORNER_{c}_PROJECTION_Y_PRODUCT"] = _fmt(y, 3)
    return {
        "MAP_PROJECTION": "UTM",
        "DATUM": "WGS84",
        "ELLIPSOID": "WGS84",
        "UTM_ZONE": str(zone),
        "GRID_CELL_SIZE_REFLECTIVE": _fmt(abs(a.a), 2),
        "GRID_CELL_SIZE_THERMAL": _fmt(abs(a.a), 2),
        "REFLECTIVE_LINES": str(ny),
        "REFLECTIVE_SAMPLES": str(nx),
        "THERMAL_LINES": str(ny),
        "THERMAL_SAMPLES": str(nx),
        "ORIENTATION": "NORTH_UP",
        **out,
    }


def write_c2l2_scene(
    parent: Path,
    *,
    spacecraft: str,
    acquired: dt.date,
    wrs_path: int,
    wrs_row: int,
    gbox: GeoBox,
    sr: Mapping[str, np.ndarray],
    st_kelvin: np.ndarray,
    qa_pixel: np.ndarray,
    qa_radsat: np.ndarray,
    sun_azimuth: float,
    sun_elevation: float,
    cloud_cover: float,
    mtl_format: str = "xml",
    processing_date: dt.date | None = None,
    synthetic: bool = True,
    scene_center_time: str = "03:55:00.0000000Z",
) -> Path:
    """Write one Collection 2 Level-2 scene folder from arrays.

    Parameters
    ----------
    parent
        Folder in which the scene folder (named by the product id) is created; an existing scene
        folder of the same product id is replaced. The folder is assembled under a temporary name
        and renamed into place, so a failure never leaves a half-written scene.
    spacecraft
        ``"LANDSAT_4"``, ``"LANDSAT_5"``, ``"LANDSAT_7"``, ``"LANDSAT_8"`` or ``"LANDSAT_9"``.
    acquired
        Acquisition date.
    wrs_path, wrs_row
        WRS-2 path and row.
    gbox
        Grid of the scene (WGS84 / UTM, north up).
    sr
        Surface reflectance [1] by common name (``blue``, ``green``, ``red``, ``nir``, ``swir1``,
        ``swir2``; ``coastal`` optional for OLI, else written as a copy of ``blue``); NaN = no data.
    st_kelvin
        Surface temperature [K]; NaN = no data.
    qa_pixel, qa_radsat
        QA_PIXEL and QA_RADSAT bit fields (uint16). Cells with QA_PIXEL bit 0 (fill) get DN 0 in
        every SR/ST band.
    sun_azimuth, sun_elevation
        [deg].
    cloud_cover
        [%] of the scene.
    mtl_format
        ``"xml"``, ``"json"`` or ``"both"``.
    processing_date
        Level-2 processing date in the product id; default: 26 days after acquisition, or the
        Collection 2 reprocessing date (2020-09-12) for older scenes.
    synthetic
        Tag every TIFF ``source=synthetic (pfatlas virtual Muli)`` and note it in the MTL.
    scene_center_time
        MTL SCENE_CENTER_TIME (UTC).

    Returns
    -------
    Path
        The scene folder.
    """
    if spacecraft not in SPACECRAFT:
        raise ValueError(f"unknown spacecraft {spacecraft!r} (known: {', '.join(SPACECRAFT)})")
    if mtl_format not in ("xml", "json", "both"):
        raise ValueError(f"mtl_format must be 'xml', 'json' or 'both', got {mtl_format!r}")
    missing = [b for b in _REQUIRED if b not in sr]
    if missing:
        raise ValueError(f"sr lacks the bands {missing}")
    shape = tuple(gbox.shape)
    zone = _utm_zone(CRS.from_user_input(gbox.crs.to_wkt()))
    qa = _check("qa_pixel", qa_pixel, shape).astype("uint16", copy=False)
    radsat = _check("qa_radsat", qa_radsat, shape).astype("uint16", copy=False)
    fill = (qa & QA_FILL) != 0
    processed = processing_date or _default_processing_date(acquired)
    pid = product_id(spacecraft, wrs_path, wrs_row, acquired, processed)
    bmap = band_map(spacecraft)
    family = SPACECRAFT[spacecraft][1]

    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / pid
    tmp = parent / f".{pid}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    crs_wkt = gbox.crs.to_wkt()
    tags = {"source": SYNTHETIC_TAG} if synthetic else {}
    files: dict[str, str] = {}
    try:
        # reflective bands, in band-number order as USGS lists them
        for name, bid in sorted(bmap.items(), key=lambda kv: (kv[1].startswith("ST_"), kv[1])):
            if bid.startswith("ST_"):
                data = _check("st_kelvin", st_kelvin, shape)
                dn = to_dn(data, ST_MULT, ST_ADD, fill)
            else:
                data = sr.get(name, sr["blue"] if name == "coastal" else None)
                dn = to_dn(_check(f"sr[{name!r}]", data, shape), SR_MULT, SR_ADD, fill)
            fname = f"{pid}_{band_suffix(bid)}.TIF"
            _write_tif(tmp / fname, dn, gbox, crs_wkt, 0, {**tags, "band": name})
            files[f"FILE_NAME_BAND_{bid}"] = fname
        for key, suffix, arr, nodata in (
            ("FILE_NAME_QUALITY_L1_PIXEL", "QA_PIXEL", qa, QA_FILL),
            ("FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION", "QA_RADSAT", radsat, None),
        ):
            fname = f"{pid}_{suffix}.TIF"
            _write_tif(tmp / fname, arr, gbox, crs_wkt, nodata, tags)
            files[key] = fname
        meta = _mtl(
            pid=pid,
            spacecraft=spacecraft,
            family=family,
            bmap=bmap,
            files=files,
            acquired=acquired,
            processed=processed,
            wrs_path=wrs_path,
            wrs_row=wrs_row,
            scene_center_time=scene_center_time,
            cloud_cover=cloud_cover,
            sun_azimuth=sun_azimuth,
            sun_elevation=sun_elevation,
            proj=_corner_meta(gbox, zone),
            synthetic=synthetic,
            formats=("xml", "json") if mtl_format == "both" else (mtl_format,),
        )
        if mtl_format in ("xml", "both"):
            _write_xml(tmp / f"{pid}_MTL.xml", meta, synthetic)
        if mtl_format in ("json", "both"):
            with open(tmp / f"{pid}_MTL.json", "w", encoding="utf-8") as f:
                json.dump({"LANDSAT_METADATA_FILE": meta}, f, indent=2)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _mtl(
    *,
    pid,
    spacecraft,
    family,
    bmap,
    files,
    acquired,
    processed,
    wrs_path,
    wrs_row,
    scene_center_time,
    cloud_cover,
    sun_azimuth,
    sun_elevation,
    proj,
    synthetic,
    formats,
) -> dict[str, dict[str, str]]:
    """The MTL groups as nested dicts of strings (USGS writes every value as a string)."""
    origin = _NOTE if synthetic else "Image courtesy of the U.S. Geological Survey"
    band_ids = sorted((b for b in bmap.values() if not b.startswith("ST_")), key=int)
    st_id = bmap["thermal"]
    contents = {
        "ORIGIN": origin,
        "LANDSAT_PRODUCT_ID": pid,
        "PROCESSING_LEVEL": "L2SP",
        "COLLECTION_NUMBER": "02",
        "COLLECTION_CATEGORY": "T1",
        "OUTPUT_FORMAT": "GEOTIFF",
        **files,
    }
    if "xml" in formats:
        contents["FILE_NAME_METADATA_XML"] = f"{pid}_MTL.xml"
    if "json" in formats:
        contents["FILE_NAME_METADATA_JSON"] = f"{pid}_MTL.json"
    for key in files:
        contents["DATA_TYPE_" + key.removeprefix("FILE_NAME_")] = "UINT16"
    image = {
        "SPACECRAFT_ID": spacecraft,
        "SENSOR_ID": SENSOR_ID[family],
        "WRS_TYPE": "2",
        "WRS_PATH": f"{wrs_path:03d}",
        "WRS_ROW": f"{wrs_row:03d}",
        "DATE_ACQUIRED": acquired.isoformat(),
        "SCENE_CENTER_TIME": scene_center_time,
        "CLOUD_COVER": _fmt(cloud_cover, 2),
        "CLOUD_COVER_LAND": _fmt(cloud_cover, 2),
        "SUN_AZIMUTH": _fmt(sun_azimuth),
        "SUN_ELEVATION": _fmt(sun_elevation),
    }
    record = {
        "ORIGIN": origin,
        "LANDSAT_PRODUCT_ID": pid,
        "PROCESSING_LEVEL": "L2SP",
        "OUTPUT_FORMAT": "GEOTIFF",
        "DATE_PRODUCT_GENERATED": f"{processed.isoformat()}T00:00:00Z",
        "PROCESSING_SOFTWARE_VERSION": "pfatlas-synthetic" if synthetic else "unknown",
    }
    if synthetic:
        record["NOTE"] = _NOTE
    srp: dict[str, str] = {}
    for b in band_ids:
        srp[f"REFLECTANCE_MAXIMUM_BAND_{b}"] = _fmt(65535 * SR_MULT + SR_ADD, 6)
        srp[f"REFLECTANCE_MINIMUM_BAND_{b}"] = _fmt(1 * SR_MULT + SR_ADD, 6)
    for b in band_ids:
        srp[f"QUANTIZE_CAL_MAX_BAND_{b}"] = "65535"
        srp[f"QUANTIZE_CAL_MIN_BAND_{b}"] = "1"
    for b in band_ids:
        srp[f"REFLECTANCE_MULT_BAND_{b}"] = f"{SR_MULT:.2e}"
    for b in band_ids:
        srp[f"REFLECTANCE_ADD_BAND_{b}"] = f"{SR_ADD}"
    stp = {
        f"TEMPERATURE_MAXIMUM_BAND_{st_id}": _fmt(65535 * ST_MULT + ST_ADD, 6),
        f"TEMPERATURE_MINIMUM_BAND_{st_id}": _fmt(1 * ST_MULT + ST_ADD, 6),
        f"QUANTIZE_CAL_MAXIMUM_BAND_{st_id}": "65535",
        f"QUANTIZE_CAL_MINIMUM_BAND_{st_id}": "1",
        f"TEMPERATURE_MULT_BAND_{st_id}": f"{ST_MULT}",
        f"TEMPERATURE_ADD_BAND_{st_id}": f"{ST_ADD}",
    }
    return {
        "PRODUCT_CONTENTS": contents,
        "IMAGE_ATTRIBUTES": image,
        "PROJECTION_ATTRIBUTES": proj,
        "LEVEL2_PROCESSING_RECORD": record,
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": srp,
        "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS": stp,
    }


def _write_xml(path: Path, meta: dict[str, dict[str, str]], synthetic: bool) -> None:
    root = ET.Element("LANDSAT_METADATA_FILE")
    if synthetic:
        root.append(ET.Comment(f" {_NOTE} "))
    for group, items in meta.items():
        g = ET.SubElement(root, group)
        for key, value in items.items():
            ET.SubElement(g, key).text = value
    ET.indent(root, space="  ")
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)
