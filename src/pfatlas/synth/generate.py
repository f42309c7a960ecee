"""Orchestration of the virtual-Muli generator: every input file of ``pfatlas demo`` and its truth.

Writes ``OUTDIR/inputs/`` in the formats a user supplies (SPEC section 2) and the hidden truth in
``OUTDIR/inputs/truth/`` (which the pipeline never reads). Everything is SYNTHETIC and says so.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from odc.geo.geobox import GeoBox
from pyproj import Transformer
from rasterio.features import rasterize, shapes
from rasterio.warp import Resampling, reproject

from pfatlas.errors import InputError
from pfatlas.grid import grid_from_bbox, wrap_on_grid
from pfatlas.io.cog import ClassInfo, atomic_path, write_cog
from pfatlas.synth import spectra, surface
from pfatlas.synth.landsat_files import write_c2l2_scene
from pfatlas.synth.terrain import (
    FULL_BBOX,
    FULL_FRAME,
    WIDE_FRAME,
    TerrainFrame,
    cell_centres,
    from_strike_frame,
    slope_aspect,
    terrain_fields,
)

__all__ = ["generate_virtual_muli", "area_bbox", "station_thawing_index", "SCENES", "EPOCHS", "SIZES"]

SOURCE = surface.SOURCE
PAD = 40  # [cells] margin of the world grid around the target grid (scenes are larger than the area)
EPOCHS = {"2000": 2000, "2020": 2020}
STATION = {"name": "Yeniugou (synthetic stand-in)", "elevation_m": 3320.0, "maat_c": -2.57}
AIR_AMPLITUDE_C = 13.4  # [degC] half the Jan-Jul range of monthly means at Yeniugou (about -16.5 / +10.3)
LAPSE_C_PER_KM = 5.6  # Chen R.S. et al. 2014


@dataclass(frozen=True)
class _Size:
    """What differs between demo sizes besides the bbox (:func:`area_bbox`)."""

    frame: TerrainFrame  # lattice frame of the terrain (small is a piece of full; 4x its own world)
    samples: int  # land-cover sample points per epoch
    min_per_class: int  # sample points per class at least


#: the demo sizes: ``full`` the Muli extent, ``small`` a piece of its centre (tests), ``4x`` twice
#: the Muli extent each way about the same centre (to show the build's memory does not grow with
#: the area); the samples grow with the area so that the land-cover training stays comparable
SIZES = {
    "full": _Size(FULL_FRAME, 184, 6),
    "small": _Size(FULL_FRAME, 80, 4),
    "4x": _Size(WIDE_FRAME, 4 * 184, 6),
}


def station_thawing_index(maat_c: float = STATION["maat_c"], amplitude_c: float = AIR_AMPLITUDE_C) -> float:
    """Air thawing index [degC day] of a sinusoidal year with mean ``maat_c`` and ``amplitude_c``.

    ``I = (365/pi) (m theta0 + A sin theta0)``, ``theta0 = arccos(-m/A)`` (the integral of the
    positive part of ``m + A cos(2 pi t / 365)``).

    >>> round(station_thawing_index(0.0, 10.0), 1)  # 365 A / pi
    1161.8
    """
    m, a = float(maat_c), float(amplitude_c)
    if m >= a:
        return 365.0 * m
    if m <= -a:
        return 0.0
    th = math.acos(-m / a)
    return 365.0 / math.pi * (m * th + a * math.sin(th))


def _sc(spacecraft, date, path, row, az, el, cloud, **kw) -> spectra.SceneSpec:
    return spectra.SceneSpec(spacecraft, dt.date.fromisoformat(date), path, row, az, el, cloud, **kw)


#: the scenes of each epoch: 4 in Jun-Sep, 1 outside the season (the composite must skip it)
SCENES = {
    "2000": (
        _sc("LANDSAT_5", "2000-06-09", 133, 33, 117.0, 66.0, 0.22, snowline_m=4180.0),
        _sc("LANDSAT_5", "2000-07-11", 133, 33, 120.0, 64.5, 0.31),
        _sc("LANDSAT_5", "2000-08-03", 134, 33, 129.0, 60.0, 0.15, footprint=(100.0, 0.7)),
        _sc("LANDSAT_5", "2000-08-28", 133, 34, 138.0, 54.0, 0.26, footprint=(190.0, 0.75)),
        _sc("LANDSAT_5", "2000-10-15", 133, 33, 155.0, 39.0, 0.12),
    ),
    "2020": (
        _sc("LANDSAT_8", "2020-05-21", 133, 33, 121.0, 65.0, 0.18),
        _sc("LANDSAT_8", "2020-06-22", 133, 33, 112.0, 68.0, 0.34, cirrus=True),
        _sc("LANDSAT_8", "2020-07-24", 133, 33, 121.0, 64.0, 0.27, mtl_format="json"),
        _sc("LANDSAT_8", "2020-08-18", 134, 33, 131.0, 59.0, 0.13, footprint=(95.0, 0.65), cirrus=True),
        _sc("LANDSAT_8", "2020-09-10", 133, 33, 145.0, 51.0, 0.2, snowline_m=4230.0),
    ),
}


def area_bbox(size: str) -> tuple[float, float, float, float]:
    """WGS84 bbox of the demo area [deg]: the full Muli extent, a ~10.5 x 8.5 km piece of its centre
    (``small``) or twice its extent in longitude and latitude about the same centre (``4x``).

    >>> area_bbox("4x")
    (98.398, 37.57, 100.2059, 38.5833)
    """
    if size == "full":
        return FULL_BBOX
    if size == "4x":
        lon0, lat0, lon1, lat1 = FULL_BBOX
        clon, clat = 0.5 * (lon0 + lon1), 0.5 * (lat0 + lat1)
        hlon, hlat = lon1 - lon0, lat1 - lat0  # twice the half extents
        return (round(clon - hlon, 4), round(clat - hlat, 4), round(clon + hlon, 4), round(clat + hlat, 4))
    if size != "small":
        raise InputError(f"must be one of {', '.join(map(repr, SIZES))}, got {size!r}", field="size")
    x0, y0 = from_strike_frame(np.array([0.0]), np.array([0.0]))
    tr = Transformer.from_crs("EPSG:32647", "EPSG:4326", always_xy=True)
    lon0, lat0 = tr.transform(float(x0[0]) - 5250.0, float(y0[0]) - 4250.0)
    lon1, lat1 = tr.transform(float(x0[0]) + 5250.0, float(y0[0]) + 4250.0)
    return (round(lon0, 4), round(lat0, 4), round(lon1, 4), round(lat1, 4))


def _pad(gbox: GeoBox, n: int) -> GeoBox:
    a = gbox.affine
    return GeoBox(
        (gbox.shape[0] + 2 * n, gbox.shape[1] + 2 * n), a * rasterio.Affine.translation(-n, -n), gbox.crs
    )


def _seed_int(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _config_text(bbox, thawing_index: float) -> str:
    b = ", ".join(f"{v}" for v in bbox)
    return f"""# pfatlas configuration -- virtual Muli (SYNTHETIC data generated by `pfatlas demo`)
[area]
name = "virtual Muli (synthetic)"
bbox = [{b}]   # lon_min, lat_min, lon_max, lat_max [deg, WGS84]
resolution = 30.0                          # [m]
synthetic = true

[inputs]
dem = "dem.tif"
landsat = ["landsat"]
boreholes = "boreholes.csv"
validation_boreholes = "boreholes_validation.csv"
borehole_logs = "borehole_logs.csv"
samples = "samples.gpkg"
geomorphology = "geomorphology.gpkg"
mining = "mining.gpkg"

[[epochs]]
label = "2000"
start = 2000-06-01
end = 2000-09-30
year = 2000

[[epochs]]
label = "2020"
start = 2020-06-01
end = 2020-09-30
year = 2020

[climate]
station_name = "{STATION["name"]}"
station_elevation_m = {STATION["elevation_m"]}
station_maat_c = {STATION["maat_c"]}
station_thawing_index_cdays = {thawing_index:.1f}   # [degC day]
lapse_rate_c_per_km = {LAPSE_C_PER_KM}
"""


def _write_dem(path: Path, dem_world: np.ndarray, world: GeoBox, bbox) -> None:
    """DEM as a user gets it: EPSG:4326, 1 arc-second, float32, bilinear from the UTM field."""
    res = 1.0 / 3600.0
    m = 0.005  # [deg] margin around the area
    lon0 = math.floor((bbox[0] - m) / res) * res
    lat1 = math.ceil((bbox[3] + m) / res) * res
    nx = int(round((bbox[2] + m - lon0) / res))
    ny = int(round((lat1 - (bbox[1] - m)) / res))
    transform = rasterio.Affine(res, 0.0, lon0, 0.0, -res, lat1)
    out = np.full((ny, nx), -32767.0, dtype=np.float32)
    reproject(
        dem_world,
        out,
        src_transform=world.affine,
        src_crs=world.crs.to_wkt(),
        src_nodata=None,
        dst_transform=transform,
        dst_crs="EPSG:4326",
        dst_nodata=-32767.0,
        resampling=Resampling.bilinear,
    )
    tmp = atomic_path(path)
    profile = {
        "driver": "GTiff",
        "width": nx,
        "height": ny,
        "count": 1,
        "dtype": "float32",
        "nodata": -32767.0,
        "crs": "EPSG:4326",
        "transform": transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "predictor": 3,
        "zlevel": 1,
    }
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(out, 1)
        dst.update_tags(
            source=SOURCE,
            units="m",
            long_name="elevation above sea level (synthetic DEM)",
            note="SYNTHETIC: 1 arc-second DEM resampled from the virtual-Muli UTM field",
        )
    tmp.replace(path)


_LAYERS = {  # truth layer -> (units, description, classes or None)
    "magt": ("degC", "mean annual ground temperature (truth)", None),
    "alt": ("m", "active-layer thickness (truth)", None),
    "ground_ice": ("m3 m-3", "volumetric ground-ice content, 10 m below the permafrost table (truth)", None),
    "ice_volume": ("m3", "ground-ice volume per cell (truth)", None),
    "mining_delta_magt": ("degC", "change of MAGT by mining (truth)", None),
    "mining_delta_alt": ("m", "change of ALT by mining (truth)", None),
    "permafrost": (
        "1",
        "permafrost presence (truth)",
        (ClassInfo(0, "no permafrost", (230, 200, 160)), ClassInfo(1, "permafrost", (70, 120, 200))),
    ),
    "thermal_stability": (
        "1",
        "thermal stability class, Cheng 1984 (truth)",
        tuple(
            ClassInfo(i + 1, n, c)
            for i, (n, c) in enumerate(
                [
                    ("extremely stable", (8, 48, 107)),
                    ("stable", (33, 113, 181)),
                    ("sub-stable", (107, 174, 214)),
                    ("transitional", (198, 219, 239)),
                    ("unstable", (253, 174, 107)),
                    ("no permafrost", (217, 72, 1)),
                ]
            )
        ),
    ),
    "ice_class": (
        "1",
        "ground-ice content class, GB 50324-2014 (truth)",
        tuple(
            ClassInfo(i, n, c)
            for i, (n, c) in enumerate(
                [
                    ("no permafrost", (230, 220, 200)),
                    ("less-ice", (199, 233, 180)),
                    ("ice-moderate", (127, 205, 187)),
                    ("ice-rich", (65, 182, 196)),
                    ("ice-saturated", (34, 94, 168)),
                    ("ice layer with soil", (12, 44, 132)),
                ]
            )
        ),
    ),
    "mining_zone": (
        "1",
        "mining zone (truth)",
        (
            ClassInfo(0, "not affected", (235, 235, 235)),
            ClassInfo(1, "open pit", (40, 40, 40)),
            ClassInfo(2, "waste dump", (150, 90, 60)),
            ClassInfo(3, "affected ring", (250, 160, 60)),
        ),
    ),
}


def _write_truth_layer(path: Path, name: str, arr: np.ndarray, gbox: GeoBox) -> None:
    units, desc, classes = _LAYERS.get(name, ("1", f"{name} (truth)", None))
    arr = np.asarray(arr)
    if classes is None and arr.dtype == np.uint8:
        codes = [int(c) for c in np.unique(arr) if c != 255]
        classes = tuple(ClassInfo(c, f"{name} {c}", (40 * (c % 6), 90, 255 - 35 * (c % 7))) for c in codes)
    if classes is None:
        arr = arr.astype(np.float32)
    da = wrap_on_grid(arr, gbox, name, units=units, long_name=desc)
    write_cog(
        da,
        path,
        gbox=gbox,
        units=units,
        description=desc,
        classes=classes,
        tags={"source": SOURCE, "note": "SYNTHETIC truth; the pipeline never reads it"},
    )


def _units_polygons(units: np.ndarray, gbox: GeoBox) -> gpd.GeoDataFrame:
    geoms, names = [], []
    for geom, val in shapes(units.astype(np.uint8), transform=gbox.affine):
        g = shapely.geometry.shape(geom).simplify(20.0, preserve_topology=True)
        if not g.is_empty:
            geoms.append(shapely.make_valid(g))
            names.append(surface.UNIT_NAMES[int(val)])
    df = gpd.GeoDataFrame({"unit": names, "source": SOURCE}, geometry=geoms, crs=gbox.crs.to_wkt())
    return (
        df.dissolve(by="unit", as_index=False)
        .explode(index_parts=False)
        .reset_index(drop=True)[["unit", "source", "geometry"]]
    )


def _scenes(
    epoch, lc_world, dem_w, slope_w, aspect_w, world: GeoBox, ss: np.random.SeedSequence, outdir: Path
):
    st_rng, *scene_ss = ss.spawn(1 + len(SCENES[epoch]))
    # the same state generator for both epochs: unchanged cells keep their vegetation fraction
    state = spectra.surface_state(lc_world, np.random.default_rng(st_rng), float(world.resolution.x))
    folders = []
    ny, nx = world.shape
    for spec, s in zip(SCENES[epoch], scene_ss, strict=True):
        rng = np.random.default_rng(s)
        world_bands = spectra.render_scene(state, dem_w, slope_w, aspect_w, spec, rng)
        r0, c0 = (int(v) for v in rng.integers(0, 8, 2))
        r1, c1 = ny - 1 - int(rng.integers(0, 8)), nx - 1 - int(rng.integers(0, 8))
        bands = {k: spectra.to_scene_grid(v, r0, r1, c0, c1) for k, v in world_bands.items()}
        del world_bands
        a = world.affine
        sgbox = GeoBox((r1 - r0, c1 - c0), a * rasterio.Affine.translation(c0 + 0.5, r0 + 0.5), world.crs)
        valid = np.ones(sgbox.shape, dtype=bool)
        if spec.footprint is not None:  # WRS footprint edge: keep a share of the scene
            bearing, keep = spec.footprint
            rr, cc = np.mgrid[0 : sgbox.shape[0], 0 : sgbox.shape[1]]
            b = np.deg2rad(bearing)
            proj = (cc * np.sin(b) - rr * np.cos(b)).astype(np.float32)
            valid = proj <= np.quantile(proj, keep)
            del rr, cc, proj
        sr, qa, radsat, cover = spectra.add_atmosphere(bands, spec, valid, float(world.resolution.x), rng)
        st = sr.pop("st")
        folders.append(
            write_c2l2_scene(
                outdir,
                spacecraft=spec.spacecraft,
                acquired=spec.acquired,
                wrs_path=spec.wrs_path,
                wrs_row=spec.wrs_row,
                gbox=sgbox,
                sr=sr,
                st_kelvin=st,
                qa_pixel=qa,
                qa_radsat=radsat,
                sun_azimuth=spec.sun_azimuth,
                sun_elevation=spec.sun_elevation,
                cloud_cover=round(cover, 2),
                mtl_format=spec.mtl_format,
                synthetic=True,
            )
        )
    return folders


def generate_virtual_muli(outdir: Path, *, size: str = "full", seed: int = 0) -> Path:
    """Generate the synthetic study area "virtual Muli" into ``outdir/inputs/``.

    Parameters
    ----------
    outdir
        Output folder; ``inputs/`` (and ``inputs/truth/``) are created or replaced inside it.
    size
        ``"full"`` (the Muli extent, ~2650 x 1880 cells), ``"small"`` (~350 x 280 cells) or
        ``"4x"`` (twice the Muli extent each way, ~5320 x 3770 cells; its terrain is drawn on
        :data:`~pfatlas.synth.terrain.WIDE_FRAME`, so it is another realization, not an extension
        of the full world).
    seed
        Seed of everything; the same seed gives the same files.

    Returns
    -------
    Path
        The ``config.toml`` written into ``outdir/inputs/``.
    """
    bbox = area_bbox(size)
    frame = SIZES[size].frame
    from pfatlas.synth import ground  # part 2 of the generator

    outdir = Path(outdir)
    inputs = outdir / "inputs"
    if inputs.exists():
        shutil.rmtree(inputs)
    (inputs / "truth").mkdir(parents=True)
    names = ("terrain", "units", "landcover", "mining", "ponds", "samples", "spectra", "ground", "wells")
    ss = dict(zip(names, np.random.SeedSequence(seed).spawn(len(names)), strict=True))
    gbox = grid_from_bbox(bbox, 30.0)
    cell = float(gbox.resolution.x)
    world = _pad(gbox, PAD)
    inner = (slice(PAD, PAD + gbox.shape[0]), slice(PAD, PAD + gbox.shape[1]))

    xw, yw = cell_centres(world)
    fields = terrain_fields(xw, yw, np.random.default_rng(ss["terrain"]), frame)
    dem_w = fields["dem"]
    slope_w, aspect_w = slope_aspect(dem_w, cell)
    units_w = surface.geomorphology_units(
        fields, dem_w, slope_w, cellsize=cell, rng=np.random.default_rng(ss["units"])
    )
    ponds = surface.ponds_mask(np.random.default_rng(ss["ponds"]), ss["terrain"], world, frame)
    lc_pre_w = surface.landcover_pre(
        fields,
        dem_w,
        slope_w,
        aspect_w,
        units_w,
        ponds,
        cellsize=cell,
        rng=np.random.default_rng(ss["landcover"]),
    )
    del fields, ponds
    features = surface.mining_features(np.random.default_rng(ss["mining"]), ss["terrain"], frame)
    feats_w, masks_w = surface.features_on_grid(features, world)

    def road_mask(post: bool) -> np.ndarray:
        lines = surface.road_lines(feats_w, ss["terrain"], post=post, frame=frame)
        m = rasterize(
            [(ln.buffer(12.0), 1) for ln in lines],
            out_shape=tuple(world.shape),
            transform=world.affine,
            fill=0,
            dtype="uint8",
        )
        return m.astype(bool)

    lc_pre_w[road_mask(False) & (lc_pre_w != 5)] = 8
    lc_post_w = surface.landcover_post(
        lc_pre_w, feats_w, masks_w, road_mask(True) & (lc_pre_w != 5), epoch_year=2020
    )
    del masks_w
    lc = {"2000": lc_pre_w, "2020": lc_post_w}

    # --- Landsat scenes -------------------------------------------------------------------------
    landsat = inputs / "landsat"
    sp = ss["spectra"].spawn(2)
    for k, epoch in enumerate(EPOCHS):
        _scenes(epoch, lc[epoch], dem_w, slope_w, aspect_w, world, sp[k], landsat)

    # --- DEM and terrain truth on the target grid -------------------------------------------------
    _write_dem(inputs / "dem.tif", dem_w, world, bbox)
    dem = dem_w[inner]
    slope, aspect = slope_w[inner], aspect_w[inner]
    units = units_w[inner]
    lc_t = {e: a[inner] for e, a in lc.items()}
    del slope_w, aspect_w, units_w, lc
    write_cog(
        wrap_on_grid(dem, gbox, "dem_true", units="m", long_name="true elevation (UTM field)"),
        inputs / "truth" / "dem_true.tif",
        gbox=gbox,
        units="m",
        description="true elevation (UTM field)",
        tags={"source": SOURCE},
    )
    for epoch, a in lc_t.items():
        write_cog(
            wrap_on_grid(a, gbox, "landcover", units="1", long_name="land cover (truth)"),
            inputs / "truth" / epoch / "landcover.tif",
            gbox=gbox,
            units="1",
            description="land cover class (truth)",
            classes=surface.LANDCOVER_CLASSES,
            tags={"source": SOURCE},
        )
    write_cog(
        wrap_on_grid(units, gbox, "geomorphology", units="1", long_name="geomorphology unit (truth)"),
        inputs / "truth" / "geomorphology.tif",
        gbox=gbox,
        units="1",
        description="geomorphology unit (truth)",
        classes=surface.UNIT_CLASSES,
        tags={"source": SOURCE},
    )

    # --- ground truth, boreholes and logs (part 2) ---------------------------------------------------
    x, y = cell_centres(gbox)
    feats, masks = surface.features_on_grid(features, gbox)
    g = ss["ground"].spawn(4)
    pre = ground.ground_truth(
        elevation=dem,
        slope_deg=slope,
        aspect_deg=aspect,
        landcover=lc_t["2000"],
        units=units,
        x=x,
        y=y,
        seed=_seed_int(g[0]),
    )
    post = ground.mining_truth(
        pre,
        features=feats,
        feature_masks=masks,
        epoch_year=EPOCHS["2020"],
        cellsize=cell,
        seed=_seed_int(g[1]),
    )
    for epoch, layers in (("2000", pre), ("2020", post)):
        for name, arr in layers.items():
            if not name.startswith("_") and isinstance(arr, np.ndarray) and arr.shape == tuple(gbox.shape):
                _write_truth_layer(inputs / "truth" / epoch / f"{name}.tif", name, arr, gbox)
    train, valid = ground.make_boreholes(
        pre,
        post,
        landcover_pre=lc_t["2000"],
        landcover_post=lc_t["2020"],
        elevation=dem,
        units=units,
        gbox=gbox,
        features=feats,
        seed=_seed_int(g[2]),
    )
    logs = ground.make_logs(
        pd.concat([train, valid], ignore_index=True), pre, units, surface.UNIT_NAMES, seed=_seed_int(g[3])
    )
    for df, name in (
        (train, "boreholes.csv"),
        (valid, "boreholes_validation.csv"),
        (logs, "borehole_logs.csv"),
    ):
        df = df.copy()
        df["source"] = SOURCE
        df.to_csv(inputs / name, index=False)

    # --- vectors -----------------------------------------------------------------------------------
    srng = np.random.default_rng(ss["samples"])
    n, min_per_class = SIZES[size].samples, SIZES[size].min_per_class
    samples = pd.concat(
        [
            surface.sample_points(lc_t[e], gbox, n=n, epoch=e, rng=srng, min_per_class=min_per_class)
            for e in EPOCHS
        ],
        ignore_index=True,
    )
    gpd.GeoDataFrame(samples, geometry=gpd.points_from_xy(samples.lon, samples.lat), crs="EPSG:4326").to_file(
        inputs / "samples.gpkg", driver="GPKG"
    )
    _units_polygons(units, gbox).to_file(inputs / "geomorphology.gpkg", driver="GPKG")
    cols = ["kind", "start_year", "depth_m", "height_m", "pit_lake", "name"]
    mdf = gpd.GeoDataFrame(
        [{k: f[k] for k in cols} for f in feats],
        geometry=[f["geometry"] for f in feats],
        crs=gbox.crs.to_wkt(),
    )
    mdf["source"] = SOURCE
    mdf.to_crs("EPSG:4326").to_file(inputs / "mining.gpkg", driver="GPKG")

    # --- texts -------------------------------------------------------------------------------------
    ti = (
        ground.station_thawing_index()
        if hasattr(ground, "station_thawing_index")
        else station_thawing_index(
            getattr(ground, "STATION_MAAT", STATION["maat_c"]),
            getattr(ground, "AIR_AMPLITUDE", AIR_AMPLITUDE_C),
        )
    )
    cfg = inputs / "config.toml"
    cfg.write_text(_config_text(bbox, float(ti)), encoding="utf-8")
    (inputs / "truth" / "README.txt").write_text(
        "SYNTHETIC truth of virtual Muli, on the target grid (EPSG:32647, 30 m).\n"
        "The pfatlas pipeline never reads this folder: it is only used to score the results.\n"
        "<epoch>/landcover.tif, magt.tif, permafrost.tif, thermal_stability.tif, alt.tif, ground_ice.tif,\n"
        "ice_volume.tif, ice_class.tif; 2020/mining_delta_*.tif, mining_zone.tif; dem_true.tif (UTM field);\n"
        "geomorphology.tif (unit raster the polygons come from).\n",
        encoding="utf-8",
    )
    scenes = sorted(p.name for p in landsat.iterdir() if p.is_dir())
    (inputs / "README.txt").write_text(
        "virtual Muli -- SYNTHETIC input data generated by `pfatlas demo` "
        f"(size={size}, seed={seed}).\nModelled on the Muli coal field (Qilian Mountains, Qinghai); no real data.\n\n"
        "config.toml              pfatlas configuration naming every input\n"
        "dem.tif                  DEM, EPSG:4326, 1 arc-second, float32 [m]\n"
        "landsat/                 Landsat Collection 2 Level-2 scene folders (TM 2000, OLI 2020):\n"
        + "".join(f"                           {s}\n" for s in scenes)
        + "boreholes.csv            MAGT boreholes used for training\n"
        "boreholes_validation.csv held-out MAGT boreholes\n"
        "borehole_logs.csv        stratigraphy and water content of the boreholes\n"
        "samples.gpkg             land-cover sample points (2000 and 2020)\n"
        "geomorphology.gpkg       geomorphology units (attribute 'unit')\n"
        "mining.gpkg              open pits and waste dumps\n"
        "truth/                   hidden truth (never read by the pipeline)\n",
        encoding="utf-8",
    )
    return cfg
