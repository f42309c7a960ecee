"""The six factors of the MAGT model and their design matrix.

The dataset record's six geographic factors, as regression terms (kernel: plain numpy, no I/O):

=============  ==========================================  ==========================
term           value                                        coefficient unit
=============  ==========================================  ==========================
intercept      1                                            degC
elevation      (z - z_ref) / 1000, z [m] above sea level    degC km-1
lon            longitude - area centre [deg]                degC deg-1
lat            latitude - area centre [deg]                 degC deg-1
northness      cos(aspect) [-], 0 on flat ground            degC
eastness       sin(aspect) [-], 0 on flat ground            degC
slope          slope [deg]                                  degC deg-1
lc_<code>      1 in land-cover class <code>, else 0         degC
=============  ==========================================  ==========================

Centring (``z_ref`` = mean elevation of the training boreholes, lon/lat from the centre of the
area) keeps the coefficients readable: the intercept is the MAGT of the reference land-cover class
on flat ground at the boreholes' mean elevation at the centre of the area. Land cover is one-hot
with one reference class left out (the most frequent class at the boreholes): each ``lc_`` term is
that class's MAGT offset from the reference. A class present in the map but at no borehole has no
estimable effect; it is predicted with the reference effect (and the caller warns). A cell whose
land-cover code is not among the spec's known classes, or whose factor is NaN, gets no prediction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FeatureSpec", "BASE_TERMS", "TERM_UNITS", "make_spec", "design_matrix"]

BASE_TERMS = ("intercept", "elevation", "lon", "lat", "northness", "eastness", "slope")
TERM_UNITS = {
    "intercept": "degC",
    "elevation": "degC km-1",
    "lon": "degC deg-1",
    "lat": "degC deg-1",
    "northness": "degC",
    "eastness": "degC",
    "slope": "degC deg-1",
}
_LC_UNIT = "degC"


@dataclass(frozen=True)
class FeatureSpec:
    """How the factors become regression columns (frozen, small: it travels to dask tasks).

    Attributes
    ----------
    centre_lon, centre_lat
        Area centre [deg, WGS84] the longitude and latitude terms are measured from.
    elevation_ref_m
        Elevation [m] the elevation term is measured from.
    classes
        Land-cover codes with a one-hot column (the reference excluded).
    reference_class
        The land-cover code all one-hot columns are relative to.
    known_classes
        Every code that gets a prediction (one-hot classes, the reference, and classes without
        boreholes, which are predicted with the reference effect).
    class_names
        Name of each known code (for tables and messages).
    """

    centre_lon: float
    centre_lat: float
    elevation_ref_m: float
    classes: tuple[int, ...]
    reference_class: int
    known_classes: tuple[int, ...]
    class_names: tuple[tuple[int, str], ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """Column names of the design matrix, intercept first."""
        return BASE_TERMS + tuple(f"lc_{c}" for c in self.classes)

    @property
    def units(self) -> tuple[str, ...]:
        """Unit of each term's coefficient."""
        return tuple(TERM_UNITS.get(t, _LC_UNIT) for t in self.terms)

    @property
    def absent_classes(self) -> tuple[int, ...]:
        """Known codes without a column and other than the reference (no borehole in them)."""
        return tuple(c for c in self.known_classes if c not in self.classes and c != self.reference_class)

    def name_of(self, code: int) -> str:
        """The class name of a code (the code itself when unnamed)."""
        return dict(self.class_names).get(int(code), str(code))

    def without_terms(self, drop: Sequence[str]) -> FeatureSpec:
        """The spec with some one-hot terms removed (their classes fall back to the reference)."""
        gone = {int(t[3:]) for t in drop if t.startswith("lc_")}
        return FeatureSpec(
            self.centre_lon,
            self.centre_lat,
            self.elevation_ref_m,
            tuple(c for c in self.classes if c not in gone),
            self.reference_class,
            self.known_classes,
            self.class_names,
        )


def make_spec(
    borehole_classes: Sequence[int],
    map_classes: Sequence[int],
    *,
    centre_lon: float,
    centre_lat: float,
    elevation_ref_m: float,
    class_names: Mapping[int, str] | None = None,
    reference_class: int | None = None,
) -> FeatureSpec:
    """The feature spec for training boreholes in ``borehole_classes``.

    Parameters
    ----------
    borehole_classes
        Land-cover code at each training borehole.
    map_classes
        Codes present in the land-cover map (a class of the map at no borehole is predicted with
        the reference effect; see :attr:`FeatureSpec.absent_classes`).
    centre_lon, centre_lat
        Area centre [deg].
    elevation_ref_m
        Reference elevation [m] (the mean of the training boreholes is the usual choice).
    class_names
        Optional names of the codes.
    reference_class
        The reference class; default the most frequent class at the boreholes (ties: lowest code).

    Returns
    -------
    FeatureSpec
    """
    counts = Counter(int(c) for c in borehole_classes)
    if not counts:
        raise ValueError("no borehole land-cover classes")
    if reference_class is None:
        reference_class = min(counts, key=lambda c: (-counts[c], c))
    elif reference_class not in counts:
        raise ValueError(f"reference class {reference_class} is at no borehole")
    present = sorted(counts)
    known = sorted(set(present) | {int(c) for c in map_classes})
    names = tuple(sorted((int(k), str(v)) for k, v in (class_names or {}).items()))
    return FeatureSpec(
        centre_lon=float(centre_lon),
        centre_lat=float(centre_lat),
        elevation_ref_m=float(elevation_ref_m),
        classes=tuple(c for c in present if c != reference_class),
        reference_class=int(reference_class),
        known_classes=tuple(known),
        class_names=names,
    )


def design_matrix(
    spec: FeatureSpec,
    elevation_m: np.ndarray,
    lon_deg: np.ndarray,
    lat_deg: np.ndarray,
    slope_deg: np.ndarray,
    aspect_deg: np.ndarray,
    landcover: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix of the MAGT model (kernel).

    Parameters
    ----------
    spec
        The feature spec.
    elevation_m
        Elevation [m].
    lon_deg, lat_deg
        Longitude and latitude [deg, WGS84].
    slope_deg
        Slope [deg].
    aspect_deg
        Aspect [deg clockwise from north]; NaN on flat ground (northness = eastness = 0 there).
    landcover
        Land-cover codes (integers; anything outside ``spec.known_classes`` gives no prediction).

    Returns
    -------
    X : numpy.ndarray
        float64 (n, len(spec.terms)), rows of invalid cells filled with NaN.
    valid : numpy.ndarray
        bool (n,): every factor is defined and the land-cover class is known.
    """
    z = np.asarray(elevation_m, dtype=np.float64).ravel()
    n = z.size
    lon = np.asarray(lon_deg, dtype=np.float64).ravel()
    lat = np.asarray(lat_deg, dtype=np.float64).ravel()
    slope = np.asarray(slope_deg, dtype=np.float64).ravel()
    aspect = np.asarray(aspect_deg, dtype=np.float64).ravel()
    lc = np.asarray(landcover).ravel()
    for name, a in (("lon", lon), ("lat", lat), ("slope", slope), ("aspect", aspect), ("landcover", lc)):
        if a.size != n:
            raise ValueError(f"{name} has {a.size} values, elevation has {n}")
    flat = np.isnan(aspect)
    rad = np.deg2rad(np.where(flat, 0.0, aspect))
    X = np.empty((n, len(spec.terms)), dtype=np.float64)
    X[:, 0] = 1.0
    X[:, 1] = (z - spec.elevation_ref_m) / 1000.0  # [km]
    X[:, 2] = lon - spec.centre_lon
    X[:, 3] = lat - spec.centre_lat
    X[:, 4] = np.where(flat, 0.0, np.cos(rad))
    X[:, 5] = np.where(flat, 0.0, np.sin(rad))
    X[:, 6] = slope
    for j, code in enumerate(spec.classes):
        X[:, len(BASE_TERMS) + j] = lc == code
    valid = np.isin(lc, np.asarray(spec.known_classes)) & np.all(np.isfinite(X), axis=1)
    X[~valid] = np.nan
    return X, valid
