"""A static STAC catalog of the atlas rasters: ``OUT/catalog.json`` and ``OUT/stac/<item>.json``.

One Item per epoch (``start_datetime``/``end_datetime``: the epoch's composite window from
``OUT/config.toml``, ``datetime`` its middle), one per change between two epochs (from the start of
the first to the end of the second) and one for the grid layers (DEM, slope, aspect, geomorphology;
spanning all epochs). Each Item's geometry is the raster footprint in WGS84 (its edges densified, so
the UTM grid's curved outline is followed), the bbox that of the geometry.

Every COG is an Asset, its href relative to the item (the catalog is self-contained and can be
moved or copied with its folder), media type ``image/tiff; application=geotiff;
profile=cloud-optimized``, role ``data``, with

* the Projection extension (``proj:code``, ``proj:shape``, ``proj:transform``, ``proj:bbox``), on
  the Item when all its rasters share one grid (they do in a pfatlas build), else on each Asset;
* the Raster extension (``raster:bands``: ``nodata`` (``"nan"`` for continuous layers, 255 for
  classes), ``data_type``, ``unit`` (not for class codes) and ``spatial_resolution``);
* for class layers the Classification extension: ``classification:classes`` with each code's
  ``value``, a machine ``name``, a ``title``/``description`` (the class name), ``color_hint`` (from
  the colour table) and ``count``/``percentage`` of the valid cells, and the nodata value 255.

The sidecars found beside a COG are Assets with role ``metadata`` (``<layer>.qml``, the QGIS
style; ``<layer>.tif.aux.xml``, GDAL's class names and attribute table), and map plates of
``OUT/plates/`` (``<epoch>_<layer>.png``, ``change_<a>_<b>_<layer>.png``, ``grid_<layer>.png``, and
the side-by-side ``compare_<layer>_<a>_<b>.png`` on the change item) Assets with roles ``overview``
and ``visual``. Run it after the other products.

The catalog is written into a hidden temporary folder of ``OUT``, its hrefs checked, then moved
into place (``OUT/stac/`` first, ``OUT/catalog.json`` last), so a failure leaves the previous
catalog, or none, never a partial one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import uuid
from pathlib import Path

import numpy as np
import pystac
import rasterio
from pyproj import Transformer
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension

from pfatlas.atlas.style import LAYERS
from pfatlas.atlas.tables import (
    AtlasConfig,
    RasterGroup,
    atlas_rasters,
    class_counts,
    class_names,
    read_atlas_config,
)
from pfatlas.errors import CRSError, MissingInputError
from pfatlas.io.cog import CLASS_NODATA, pam_sidecar

__all__ = ["write_catalog", "CATALOG_FILE", "ITEMS_DIR", "COG_MEDIA_TYPE"]

CATALOG_FILE = "catalog.json"
ITEMS_DIR = "stac"
COG_MEDIA_TYPE = pystac.MediaType.COG  # image/tiff; application=geotiff; profile=cloud-optimized
_DENSIFY = 16  # points per footprint edge transformed to WGS84


def _slug(text: str, sep: str = "-") -> str:
    """An identifier made of ASCII letters, digits and ``sep`` (the classification's ``name`` pattern).

    >>> _slug("virtual Muli (synthetic)"), _slug("less-ice (少冰冻土)", "_")
    ('virtual-muli-synthetic', 'less_ice')
    """
    return re.sub(r"[^0-9a-z]+", sep, text.lower()).strip(sep)


def _utc(day: dt.date, end: bool = False) -> dt.datetime:
    t = dt.time(23, 59, 59) if end else dt.time(0, 0, 0)
    return dt.datetime.combine(day, t, tzinfo=dt.UTC)


def _span(group: RasterGroup, config: AtlasConfig) -> tuple[dt.datetime, dt.datetime]:
    """First and last instant an item covers (see the module docstring)."""
    epochs = {label: (a, b) for label, a, b in config.epochs}
    if group.kind == "epoch":
        a, b = epochs[group.label]
    else:
        a, b = config.epochs[0][1], config.epochs[-1][2]
        if group.kind == "change":
            parts = [(group.label[:i], group.label[i + 1 :]) for i, ch in enumerate(group.label) if ch == "_"]
            hit = next(((x, y) for x, y in parts if x in epochs and y in epochs), None)
            if hit is not None:
                a, b = epochs[hit[0]][0], epochs[hit[1]][1]
    return _utc(a), _utc(b, end=True)


def _footprint(crs, bounds) -> tuple[dict, list[float]]:
    """GeoJSON polygon (WGS84, lon/lat) of a projected rectangle and its bbox."""
    x0, y0, x1, y1 = bounds
    t = np.linspace(0.0, 1.0, _DENSIFY, endpoint=False)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)])
    ys = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t])
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    ring = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]  # 1 cm
    ring.append(ring[0])
    lon, lat = np.array(ring)[:, 0], np.array(ring)[:, 1]
    bbox = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]
    return {"type": "Polygon", "coordinates": [ring]}, bbox


def _raster_info(path: Path) -> dict:
    with rasterio.open(path) as src:
        t = src.transform
        info = {
            "crs": src.crs,
            "epsg": src.crs.to_epsg() if src.crs is not None else None,
            "shape": [src.height, src.width],
            "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
            "bounds": list(src.bounds),
            "dtype": src.dtypes[0],
            "nodata": src.nodata,
            "res": abs(t.a),
            "tags": src.tags(),
            "classes": class_names(src),
        }
        if info["classes"] is not None:
            try:
                info["colormap"] = src.colormap(1)
            except ValueError:
                info["colormap"] = {}
    if info["crs"] is None:
        raise CRSError("the raster has no CRS; cannot place it in the catalog", path=path)
    return info


def _proj(info: dict) -> dict:
    p = {"shape": info["shape"], "transform": info["transform"], "bbox": info["bounds"]}
    if info["epsg"] is not None:
        p["epsg"] = info["epsg"]
    else:
        p["epsg"], p["wkt2"] = None, info["crs"].to_wkt()
    return p


def _classification(path: Path, info: dict) -> list[Classification]:
    counts, _ = class_counts(path)
    valid = int(counts.sum() - counts[CLASS_NODATA])
    used: set[str] = set()
    out = []
    for code, name in sorted(info["classes"].items()):
        slug = _slug(name, "_") or f"class_{code}"
        slug = f"{slug}_{code}" if slug in used else slug
        used.add(slug)
        r, g, b = info["colormap"].get(code, (128, 128, 128, 255))[:3]
        n = int(counts[code])
        out.append(Classification.create(value=code, name=slug, title=name, description=name,
                                         color_hint=f"{r:02X}{g:02X}{b:02X}", count=n,
                                         percentage=round(100.0 * n / valid, 4) if valid else 0.0))  # fmt: skip
    out.append(Classification.create(value=CLASS_NODATA, name="nodata", title="no data", nodata=True))
    return out


def _data_asset(item: pystac.Item, path: Path, name: str, info: dict) -> pystac.Asset:
    """Add the COG at ``path`` to ``item`` as asset ``name``, with its extension fields."""
    d = LAYERS.get(name)
    desc = info["tags"].get("description", "")
    asset = pystac.Asset(href=str(path), media_type=COG_MEDIA_TYPE, roles=["data"],
                         title=d.title if d is not None else (desc or name), description=desc or None)  # fmt: skip
    item.add_asset(name, asset)
    is_class = info["classes"] is not None
    nodata = info["nodata"]
    band = RasterBand.create(
        nodata="nan" if nodata is not None and math.isnan(nodata) else (int(nodata) if is_class else nodata),
        data_type=DataType(info["dtype"]),
        unit=None if is_class else (info["tags"].get("units") or None),
        spatial_resolution=info["res"],
    )
    RasterExtension.ext(asset, add_if_missing=True).apply(bands=[band])
    if is_class:
        ClassificationExtension.ext(asset, add_if_missing=True).apply(classes=_classification(path, info))
    return asset


def _plate(out: Path, group: RasterGroup, name: str) -> Path | None:
    prefix = {"epoch": group.label, "change": f"change_{group.label}", "grid": "grid"}[group.kind]
    p = out / "plates" / f"{prefix}_{name}.png"
    return p if p.is_file() else None


def _item(out: Path, group: RasterGroup, config: AtlasConfig) -> pystac.Item:
    infos = {name: _raster_info(path) for name, path in group.layers.items()}
    first = next(iter(infos.values()))
    geometry, bbox = _footprint(first["crs"], first["bounds"])
    start, end = _span(group, config)
    what = {"epoch": f"epoch {group.label}", "change": f"change {group.label.replace('_', ' to ')}",
            "grid": "terrain and geomorphology grid"}[group.kind]  # fmt: skip
    props = {
        "title": f"{config.name}: {what}",
        "description": f"pfatlas permafrost atlas of {config.name}, {what}"
        + (" (SYNTHETIC data, not observations)" if config.synthetic else ""),
        "gsd": first["res"],
        "pfatlas:kind": group.kind,
        "pfatlas:synthetic": config.synthetic,
    }
    mid = (start + (end - start) / 2).replace(microsecond=0) if group.kind == "epoch" else None
    item = pystac.Item(id=group.label if group.kind != "change" else f"change_{group.label}", geometry=geometry,
                       bbox=bbox, datetime=mid, properties=props, start_datetime=start, end_datetime=end)  # fmt: skip
    projs = {name: _proj(info) for name, info in infos.items()}
    shared = all(p == projs[next(iter(projs))] for p in projs.values())
    if shared:
        ProjectionExtension.ext(item, add_if_missing=True).apply(**projs[next(iter(projs))])
    for name, path in group.layers.items():
        asset = _data_asset(item, path, name, infos[name])
        if not shared:
            ProjectionExtension.ext(asset, add_if_missing=True).apply(**projs[name])
        title = asset.title
        extra = [
            (f"{name}_qml", path.with_suffix(".qml"), pystac.MediaType.XML, ["metadata"], f"QGIS style: {title}"),
            (f"{name}_aux", pam_sidecar(path), pystac.MediaType.XML, ["metadata"],
             f"GDAL class names and attribute table: {title}"),
            (f"{name}_plate", _plate(out, group, name), pystac.MediaType.PNG, ["overview", "visual"],
             f"Map plate: {title}"),
        ]  # fmt: skip
        for key, p, media, roles, t in extra:
            if p is not None and p.is_file():
                item.add_asset(key, pystac.Asset(href=str(p), media_type=media, roles=roles, title=t))
    if group.kind == "change":  # the pre/post side-by-side plates of the two epochs
        for p in sorted((out / "plates").glob(f"compare_*_{group.label}.png")):
            layer = p.stem[len("compare_") : -len(group.label) - 1]
            title = LAYERS[layer].title if layer in LAYERS else layer
            item.add_asset(f"compare_{layer}", pystac.Asset(href=str(p), media_type=pystac.MediaType.PNG,
                           roles=["overview", "visual"], title=f"Map plates side by side: {title}"))  # fmt: skip
    return item


def _check_hrefs(tmp: Path, final_root: Path) -> None:
    """Every asset href of the written items must point at an existing file from its final place."""
    for f in sorted((tmp / ITEMS_DIR).glob("*.json")):
        doc = json.loads(f.read_text(encoding="utf-8"))
        for key, asset in doc["assets"].items():
            target = (final_root / ITEMS_DIR / asset["href"]).resolve()
            if not target.is_file():
                raise MissingInputError(
                    f"asset '{key}' of item '{doc['id']}' points at a missing file", path=target
                )


def _install(tmp: Path, out: Path) -> None:
    """Move the written catalog from ``tmp`` into ``out``: items folder first, catalog.json last."""
    items, old = out / ITEMS_DIR, None
    if items.exists():
        old = out / f".{ITEMS_DIR}.{uuid.uuid4().hex[:8]}.old"
        os.replace(items, old)
    try:
        os.replace(tmp / ITEMS_DIR, items)
    except BaseException:
        if old is not None:
            os.replace(old, items)
        raise
    os.replace(tmp / CATALOG_FILE, out / CATALOG_FILE)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_catalog(out: str | Path) -> Path:
    """Write the STAC catalog of the atlas in ``out`` (see the module docstring).

    Parameters
    ----------
    out
        An atlas folder written by ``pfatlas build`` (with ``config.toml``).

    Returns
    -------
    Path
        ``OUT/catalog.json``.

    Raises
    ------
    MissingInputError
        No ``config.toml`` or no atlas raster in ``out``.
    """
    out = Path(out).resolve()
    config = read_atlas_config(out)
    groups = atlas_rasters(out, config)
    if not groups:
        raise MissingInputError("no atlas rasters (OUT/<epoch>/*.tif, OUT/change/*/, OUT/grid/)", path=out)
    desc = f"pfatlas permafrost atlas of {config.name}: one item per epoch, per change between epochs, and the grid."
    if config.synthetic:
        desc += " SYNTHETIC data (a generated test area), not observations."
    catalog = pystac.Catalog(id=_slug(config.name) or "pfatlas-atlas", description=desc, title=config.name)
    for group in groups:
        catalog.add_item(_item(out, group, config))
    catalog.normalize_hrefs(
        str(out),
        strategy=pystac.layout.CustomLayoutStrategy(
            item_func=lambda item, parent_dir: str(Path(parent_dir) / ITEMS_DIR / f"{item.id}.json")
        ),
    )
    catalog.make_all_asset_hrefs_relative()
    tmp = out / f".{CATALOG_FILE}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED, dest_href=str(tmp))
        _check_hrefs(tmp, out)
        _install(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / CATALOG_FILE
