"""Landsat Collection 2 Level-2 scenes: metadata (MTL), discovery and lazy loading onto the grid.

A scene is a folder as USGS delivers it, named by its product id
(``LC08_L2SP_133033_20200715_20200912_02_T1``), holding ``<product_id>_MTL.xml`` and/or
``_MTL.json`` (the ODL ``_MTL.txt`` is ignored), the surface-reflectance bands ``_SR_B<n>.TIF``, the
surface temperature ``_ST_B6.TIF`` (TM, ETM+) or ``_ST_B10.TIF`` (OLI/TIRS), ``_QA_PIXEL.TIF`` and
``_QA_RADSAT.TIF``. The band numbers differ between sensors; this module maps them to common names
(``blue``, ``green``, ``red``, ``nir``, ``swir1``, ``swir2``, ``thermal``; ``coastal`` for OLI).

Scale factors are read from the MTL groups ``LEVEL2_SURFACE_REFLECTANCE_PARAMETERS`` and
``LEVEL2_SURFACE_TEMPERATURE_PARAMETERS`` and applied exactly once, in :func:`load_scene`; the
Collection 2 constants (SR = DN x 2.75e-5 - 0.2; ST [K] = DN x 0.00341802 + 149.0) are only a fallback
for an MTL that lacks them. DN 0 is fill.

References
----------
USGS (2022). Landsat 8-9 Collection 2 Level 2 Science Product Guide, LSDS-1619.
USGS (2022). Landsat 4-7 Collection 2 Level 2 Science Product Guide, LSDS-1618.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from pfatlas.errors import CoverageError, InputError, MissingInputError
from pfatlas.io.raster import DEFAULT_CHUNK, overlaps, raster_info, read_to_grid

__all__ = [
    "Scene",
    "SPACECRAFT",
    "REFLECTANCE_BANDS",
    "SR_MULT",
    "SR_ADD",
    "ST_MULT",
    "ST_ADD",
    "QA_FILL",
    "QA_DILATED_CLOUD",
    "QA_CIRRUS",
    "QA_CLOUD",
    "QA_SHADOW",
    "QA_SNOW",
    "QA_CLEAR",
    "QA_WATER",
    "RADSAT_TERRAIN_OCCLUSION",
    "band_map",
    "band_suffix",
    "radsat_bits",
    "qa_masks",
    "read_mtl",
    "find_scenes",
    "load_scene",
]

#: spacecraft id (MTL SPACECRAFT_ID) -> (product id prefix, sensor family)
SPACECRAFT: dict[str, tuple[str, str]] = {
    "LANDSAT_4": ("LT04", "TM"),
    "LANDSAT_5": ("LT05", "TM"),
    "LANDSAT_7": ("LE07", "ETM"),
    "LANDSAT_8": ("LC08", "OLI_TIRS"),
    "LANDSAT_9": ("LC09", "OLI_TIRS"),
}

#: MTL SENSOR_ID of each sensor family
SENSOR_ID = {"TM": "TM", "ETM": "ETM", "OLI_TIRS": "OLI_TIRS"}

# band number (as in the MTL keys FILE_NAME_BAND_<n>) by common name, per sensor family
_TM_ETM = {"blue": "1", "green": "2", "red": "3", "nir": "4", "swir1": "5", "swir2": "7", "thermal": "ST_B6"}
_OLI = {
    "coastal": "1",
    "blue": "2",
    "green": "3",
    "red": "4",
    "nir": "5",
    "swir1": "6",
    "swir2": "7",
    "thermal": "ST_B10",
}
_BANDS = {"TM": _TM_ETM, "ETM": _TM_ETM, "OLI_TIRS": _OLI}

#: the reflectance bands pfatlas loads, in this order
REFLECTANCE_BANDS: tuple[str, ...] = ("blue", "green", "red", "nir", "swir1", "swir2")

SR_MULT = 2.75e-5  # [1 per DN] Collection 2 surface reflectance scale
SR_ADD = -0.2  # [1] Collection 2 surface reflectance offset
ST_MULT = 0.00341802  # [K per DN] Collection 2 surface temperature scale
ST_ADD = 149.0  # [K] Collection 2 surface temperature offset
KELVIN_0C = 273.15  # [K] 0 degC

# QA_PIXEL bits (Collection 2; bits 8-15 are confidence pairs, not used)
QA_FILL = 1 << 0
QA_DILATED_CLOUD = 1 << 1
QA_CIRRUS = 1 << 2
QA_CLOUD = 1 << 3
QA_SHADOW = 1 << 4
QA_SNOW = 1 << 5
QA_CLEAR = 1 << 6
QA_WATER = 1 << 7
#: QA_PIXEL bits that make an observation unusable
QA_REJECT = QA_FILL | QA_DILATED_CLOUD | QA_CIRRUS | QA_CLOUD | QA_SHADOW
#: QA_RADSAT bit 11 (OLI/TIRS): terrain occlusion
RADSAT_TERRAIN_OCCLUSION = 1 << 11

_MTL_SUFFIXES = ("_MTL.xml", "_MTL.json")
_ROOT = "LANDSAT_METADATA_FILE"
_PC = "PRODUCT_CONTENTS"
_IA = "IMAGE_ATTRIBUTES"
_SRP = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
_STP = "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"


def band_map(spacecraft: str) -> dict[str, str]:
    """Band id (``"1"``..``"7"``, ``"ST_B6"``, ``"ST_B10"``) by common name for a spacecraft.

    >>> band_map("LANDSAT_8")["nir"], band_map("LANDSAT_5")["nir"]
    ('5', '4')
    """
    if spacecraft not in SPACECRAFT:
        raise ValueError(f"unknown spacecraft {spacecraft!r} (known: {', '.join(SPACECRAFT)})")
    return dict(_BANDS[SPACECRAFT[spacecraft][1]])


def band_suffix(band_id: str) -> str:
    """File-name suffix of a band id as USGS names it.

    >>> band_suffix("4"), band_suffix("ST_B10")
    ('SR_B4', 'ST_B10')
    """
    return band_id if band_id.startswith("ST_") else f"SR_B{band_id}"


def radsat_bits(spacecraft: str, names: Iterable[str] = REFLECTANCE_BANDS) -> int:
    """QA_RADSAT mask of the bands ``names`` (bit n-1 for band n), plus terrain occlusion for OLI.

    >>> radsat_bits("LANDSAT_8", ["nir"]) == (1 << 4) | (1 << 11)
    True
    """
    bmap = band_map(spacecraft)
    bits = 0
    for name in names:
        bid = bmap[name]
        if bid.isdigit():
            bits |= 1 << (int(bid) - 1)
    if SPACECRAFT[spacecraft][1] == "OLI_TIRS":
        bits |= RADSAT_TERRAIN_OCCLUSION
    return bits


def qa_masks(qa_pixel: np.ndarray, qa_radsat: np.ndarray, radsat_mask: int) -> tuple[np.ndarray, np.ndarray]:
    """Usable and snow masks from the QA bands (pure, element-wise; numpy or dask).

    Parameters
    ----------
    qa_pixel
        QA_PIXEL values (uint16).
    qa_radsat
        QA_RADSAT values (uint16).
    radsat_mask
        QA_RADSAT bits that make a pixel unusable (see :func:`radsat_bits`).

    Returns
    -------
    usable, snow
        ``usable``: not fill, dilated cloud, cirrus, cloud or cloud shadow, and none of the
        ``radsat_mask`` bits set. ``snow``: usable and flagged snow (bit 5). Reflectance finiteness
        is checked by :func:`load_scene`, not here.
    """
    usable = ((qa_pixel & QA_REJECT) == 0) & ((qa_radsat & radsat_mask) == 0)
    snow = usable & ((qa_pixel & QA_SNOW) != 0)
    return usable, snow


@dataclass(frozen=True)
class Scene:
    """One Collection 2 Level-2 scene as found on disk (paths and metadata only, no pixels).

    Attributes
    ----------
    bands
        Path of each band by common name (``blue``..``swir2``, ``thermal``, and ``coastal`` for OLI).
    scale
        (multiplier, offset) per common name: reflectance [1] or temperature [K] = DN x mult + add.
    sun_azimuth, sun_elevation
        [deg]. cloud_cover: [%] of the scene.
    """

    folder: Path
    product_id: str
    spacecraft: str
    sensor: str
    acquired: dt.date
    wrs_path: int
    wrs_row: int
    bands: Mapping[str, Path] = field(repr=False)
    qa_pixel: Path = field(repr=False)
    qa_radsat: Path | None = field(repr=False)
    scale: Mapping[str, tuple[float, float]] = field(repr=False)
    sun_azimuth: float = field(repr=False)
    sun_elevation: float = field(repr=False)
    cloud_cover: float = field(repr=False)
    mtl: Path = field(default=Path(), compare=False, repr=False)

    def __hash__(self) -> int:
        return hash((str(self.folder), self.product_id))

    def __str__(self) -> str:
        return f"{self.product_id} ({self.acquired.isoformat()})"


# ----------------------------------------------------------------------------------------- MTL


def _parse_mtl(path: Path) -> dict[str, dict[str, object]]:
    """Groups of an MTL file (XML or JSON) as ``{group: {key: value}}``."""
    try:
        if path.suffix.lower() == ".json":
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            if not isinstance(doc, dict) or _ROOT not in doc:
                raise InputError(f"not a Landsat MTL: no top-level '{_ROOT}' object", path=path)
            root = doc[_ROOT]
            if not isinstance(root, dict):
                raise InputError(f"'{_ROOT}' is not an object", path=path)
            return {g: v for g, v in root.items() if isinstance(v, dict)}
        tree = ET.parse(path)
    except (json.JSONDecodeError, ET.ParseError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot be parsed as an MTL metadata file ({exc})", path=path) from None
    except OSError as exc:
        raise MissingInputError(f"cannot be read ({exc.strerror})", path=path) from None
    root = tree.getroot()
    if root.tag != _ROOT:
        raise InputError(f"not a Landsat MTL: root element is <{root.tag}>, expected <{_ROOT}>", path=path)
    return {g.tag: {k.tag: (k.text or "").strip() for k in g} for g in root}


def _value(meta: dict, group: str, key: str, path: Path, kind=str, default=None, required: bool = True):
    """One MTL value converted with ``kind``; InputError naming file and key when missing or bad."""
    raw = meta.get(group, {}).get(key)
    if raw is None or (isinstance(raw, str) and raw == ""):
        if required:
            raise InputError(f"the MTL has no {group}/{key}", path=path, field=key)
        return default
    try:
        if kind is dt.date:
            return dt.date.fromisoformat(str(raw)[:10])
        if kind is int:
            return int(str(raw).strip())
        if kind is float:
            value = float(raw)
            if not np.isfinite(value):
                raise ValueError(raw)
            return value
        return str(raw)
    except ValueError:
        raise InputError(
            f"{group}/{key} = {raw!r} is not a valid {getattr(kind, '__name__', kind)}", path=path, field=key
        ) from None


def read_mtl(path: str | Path) -> Scene:
    """Read a Collection 2 Level-2 MTL (``_MTL.xml`` or ``_MTL.json``) and locate the scene's files.

    Parameters
    ----------
    path
        The MTL file; band files are looked up in the same folder under the names the MTL gives.

    Returns
    -------
    Scene

    Raises
    ------
    InputError
        The MTL lacks a needed key (the message names the file and key), a value is malformed, or
        the spacecraft is not Landsat 4, 5, 7, 8 or 9.
    MissingInputError
        A band file named by the MTL, or the QA_PIXEL file, is not in the folder.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError("MTL file does not exist", path=path)
    meta = _parse_mtl(path)
    folder = path.parent
    spacecraft = _value(meta, _IA, "SPACECRAFT_ID", path).upper()
    if spacecraft not in SPACECRAFT:
        raise InputError(
            f"unknown spacecraft {spacecraft!r} (pfatlas reads {', '.join(SPACECRAFT)})",
            path=path,
            field="SPACECRAFT_ID",
        )
    product_id = _value(meta, _PC, "LANDSAT_PRODUCT_ID", path)
    sensor = _value(meta, _IA, "SENSOR_ID", path)
    acquired = _value(meta, _IA, "DATE_ACQUIRED", path, dt.date)
    wrs_path = _value(meta, _IA, "WRS_PATH", path, int)
    wrs_row = _value(meta, _IA, "WRS_ROW", path, int)
    sun_azimuth = _value(meta, _IA, "SUN_AZIMUTH", path, float)
    sun_elevation = _value(meta, _IA, "SUN_ELEVATION", path, float)
    cloud_cover = _value(meta, _IA, "CLOUD_COVER", path, float)

    bands: dict[str, Path] = {}
    scale: dict[str, tuple[float, float]] = {}
    for name, bid in band_map(spacecraft).items():
        key = f"FILE_NAME_BAND_{bid}"
        optional = name == "coastal"  # not used by pfatlas
        fname = _value(meta, _PC, key, path, required=not optional)
        if fname is None:
            continue
        fpath = folder / fname
        if not fpath.is_file():
            if optional:
                continue
            raise MissingInputError(f"band file named by the MTL ({key}) is missing", path=fpath, field=key)
        bands[name] = fpath
        if bid.startswith("ST_"):
            scale[name] = (
                _value(meta, _STP, f"TEMPERATURE_MULT_BAND_{bid}", path, float, ST_MULT, required=False),
                _value(meta, _STP, f"TEMPERATURE_ADD_BAND_{bid}", path, float, ST_ADD, required=False),
            )
        else:
            scale[name] = (
                _value(meta, _SRP, f"REFLECTANCE_MULT_BAND_{bid}", path, float, SR_MULT, required=False),
                _value(meta, _SRP, f"REFLECTANCE_ADD_BAND_{bid}", path, float, SR_ADD, required=False),
            )

    qa_name = (
        _value(meta, _PC, "FILE_NAME_QUALITY_L1_PIXEL", path, required=False) or f"{product_id}_QA_PIXEL.TIF"
    )
    qa_pixel = folder / qa_name
    if not qa_pixel.is_file():
        raise MissingInputError(
            "the scene has no QA_PIXEL band (needed for the cloud mask)", path=qa_pixel, field="QA_PIXEL"
        )
    rs_name = _value(meta, _PC, "FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION", path, required=False)
    qa_radsat = folder / (rs_name or f"{product_id}_QA_RADSAT.TIF")
    if not qa_radsat.is_file():
        if rs_name:
            raise MissingInputError(
                "QA_RADSAT file named by the MTL is missing",
                path=qa_radsat,
                field="FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION",
            )
        qa_radsat = None
    return Scene(
        folder=folder,
        product_id=product_id,
        spacecraft=spacecraft,
        sensor=sensor,
        acquired=acquired,
        wrs_path=wrs_path,
        wrs_row=wrs_row,
        bands=bands,
        qa_pixel=qa_pixel,
        qa_radsat=qa_radsat,
        scale=scale,
        sun_azimuth=sun_azimuth,
        sun_elevation=sun_elevation,
        cloud_cover=cloud_cover,
        mtl=path,
    )


# ----------------------------------------------------------------------------------- discovery


def _product_of(name: str, marker: str) -> str:
    return name[: name.upper().rindex(marker.upper())]


def find_scenes(folders: Iterable[str | Path]) -> list[Scene]:
    """All Collection 2 Level-2 scenes under ``folders`` (searched recursively), sorted by date.

    A folder may hold one scene (as USGS delivers them) or the files of several. Where a scene has
    both ``_MTL.xml`` and ``_MTL.json``, the XML is read.

    Raises
    ------
    MissingInputError
        A given folder does not exist; or a folder holds ``_SR_B*.TIF`` files but no MTL for them
        (the message names the folder); or a scene lacks its QA_PIXEL file.
    InputError
        No scene at all in the given folders (the message names them), or a bad MTL.
    """
    folders = [Path(f) for f in ([folders] if isinstance(folders, str | Path) else folders)]
    mtls: dict[tuple[str, str], Path] = {}  # (folder, product id) -> MTL path
    orphans: dict[tuple[str, str], Path] = {}  # SR files seen: (folder, product id) -> folder
    for top in folders:
        if not top.is_dir():
            raise MissingInputError("Landsat folder does not exist", path=top)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for fname in sorted(filenames):
                upper = fname.upper()
                if upper.endswith("_MTL.XML") or upper.endswith("_MTL.JSON"):
                    key = (dirpath, _product_of(fname, "_MTL."))
                    if key not in mtls or upper.endswith(".XML"):
                        mtls[key] = Path(dirpath) / fname
                elif "_SR_B" in upper and upper.endswith((".TIF", ".TIFF")):
                    orphans[(dirpath, _product_of(fname, "_SR_B"))] = Path(dirpath)
    for key, folder in sorted(orphans.items()):
        if key not in mtls:
            raise MissingInputError(
                f"surface-reflectance files of {key[1]} but no {key[1]}_MTL.xml or _MTL.json", path=folder
            )
    seen: dict[Path, Scene] = {}
    for mtl in mtls.values():
        real = mtl.resolve()
        if real not in seen:
            seen[real] = read_mtl(mtl)
    if not seen:
        raise InputError(
            "no Landsat Collection 2 Level-2 scene (no *_MTL.xml or *_MTL.json) in "
            + ", ".join(str(f) for f in folders),
            path=", ".join(str(f) for f in folders),
        )
    return sorted(seen.values(), key=lambda s: (s.acquired, s.product_id))


# ------------------------------------------------------------------------------------- loading


def load_scene(scene: Scene, gbox: GeoBox, chunks: int = DEFAULT_CHUNK) -> xr.Dataset:
    """Lazily load one scene onto the target grid.

    Every file is warped chunk by chunk with :func:`pfatlas.io.raster.read_to_grid`: SR and ST
    digital numbers bilinearly as float32 (the file's nodata, 0, becomes NaN), then scaled once with
    the MTL's factors; QA_PIXEL and QA_RADSAT by nearest neighbour as uint16 (cells outside the
    scene read as QA_PIXEL fill, bit 0).

    Parameters
    ----------
    scene
        From :func:`read_mtl` or :func:`find_scenes`.
    gbox
        Target grid.
    chunks
        Chunk edge [cells].

    Returns
    -------
    xarray.Dataset
        ``blue``, ``green``, ``red``, ``nir``, ``swir1``, ``swir2`` [1] (surface reflectance, not
        masked), ``lst`` [degC] (NaN where the thermal band is fill), ``valid`` (bool: not fill,
        cloud, dilated cloud, cirrus or cloud shadow, no used band saturated, every reflectance
        finite) and ``snow`` (bool: valid and flagged snow); a scalar ``time`` coordinate.

    Raises
    ------
    CoverageError
        The scene does not overlap the grid at all.
    """
    qa_info = raster_info(scene.qa_pixel)
    if not overlaps(qa_info, gbox):
        raise CoverageError(
            f"scene {scene.product_id} does not overlap the study area "
            f"(scene bounds {tuple(round(v) for v in qa_info.bounds_in(gbox.crs))}, "
            f"area {tuple(round(v) for v in gbox.extent.boundingbox)} in {gbox.crs})",
            path=scene.folder,
        )
    out: dict[str, xr.DataArray] = {}
    finite = None
    for name in (*REFLECTANCE_BANDS, "thermal"):
        if name not in scene.bands:
            raise MissingInputError(
                f"scene {scene.product_id} has no {name} band", path=scene.folder, field=name
            )
        path = scene.bands[name]
        info = raster_info(path)
        dn = read_to_grid(
            path,
            gbox,
            resampling="bilinear",
            dtype="float32",
            fill=np.nan,
            src_nodata=0 if info.nodata is None else None,
            chunks=chunks,
            info=info,
        )
        mult, add = scene.scale[name]
        value = (dn * np.float32(mult) + np.float32(add)).astype("float32")
        if name == "thermal":
            out["lst"] = (value - np.float32(KELVIN_0C)).assign_attrs(
                units="degC", long_name="land surface temperature (Landsat C2 L2 ST)"
            )
        else:
            out[name] = value.assign_attrs(units="1", long_name=f"surface reflectance, {name}")
            ok = np.isfinite(value)
            finite = ok if finite is None else finite & ok

    qa = read_to_grid(
        scene.qa_pixel, gbox, resampling="nearest", dtype="uint16", fill=QA_FILL, chunks=chunks, info=qa_info
    )
    if scene.qa_radsat is not None:
        radsat = read_to_grid(
            scene.qa_radsat, gbox, resampling="nearest", dtype="uint16", fill=0, chunks=chunks
        )
    else:
        radsat = xr.zeros_like(qa)
    usable, snow = qa_masks(qa, radsat, radsat_bits(scene.spacecraft))
    valid = usable & finite
    out["valid"] = valid.assign_attrs(
        units="1", long_name="usable observation (not fill, cloud, cirrus, shadow or saturated)"
    )
    out["snow"] = (snow & finite).assign_attrs(units="1", long_name="usable observation flagged snow")
    ds = xr.Dataset(out)
    ds = ds.assign_coords(time=np.datetime64(scene.acquired.isoformat(), "ns"))
    ds.attrs.update(
        product_id=scene.product_id,
        spacecraft=scene.spacecraft,
        sensor=scene.sensor,
        acquired=scene.acquired.isoformat(),
        wrs_path=scene.wrs_path,
        wrs_row=scene.wrs_row,
        sun_azimuth=scene.sun_azimuth,
        sun_elevation=scene.sun_elevation,
        cloud_cover=scene.cloud_cover,
    )
    return ds
