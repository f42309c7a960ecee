"""Random Forest land-cover classification: sample split, fitting, and lazy chunked prediction.

Fitting is a global step on the small table of sample features (scikit-learn,
``RandomForestClassifier``, seeded). Prediction runs per chunk with scikit-learn's own
``predict_proba``: every dask task carries the fitted forests (a few MB pickled: two forests of
150 trees on the demo's pooled plots) and predicts its cells in one thread (``n_jobs=1``); the parallelism is dask's
threads (scikit-learn's tree code releases the GIL). The class of a cell is
the column of the largest probability (the first on a tie, as ``predict``), so the map is
scikit-learn's ``predict``, cell for cell, whatever the chunking.

Holes in the composite (cells where no clear look exists, every spectral feature NaN) are not left
as holes: they are classified by a second forest trained on the same samples with the terrain
features only. Cells with some but not all features NaN use the main forest, whose trees send a
missing value to the side learned in training (scikit-learn >= 1.4; to the child with more
samples when the feature had no missing value in training). Only cells where every feature is
NaN (outside the DEM) are nodata.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass

import dask
import dask.array as dsa
import numpy as np
import xarray as xr
from dask.base import tokenize
from sklearn.ensemble import RandomForestClassifier

from pfatlas.errors import InputError, PfatlasWarning
from pfatlas.io.cog import CLASS_NODATA

__all__ = [
    "LandCoverModel",
    "split_samples",
    "plot_cells",
    "check_training",
    "fit_landcover_model",
    "forest_predict",
    "predict_features",
    "classify",
    "forest_proba",
    "class_probabilities",
]


@dataclass(frozen=True, eq=False)
class LandCoverModel:
    """What prediction needs: the two fitted forests, class codes and feature layout.

    ``rf`` uses every feature (stack order); ``rf_terrain`` only the columns ``terrain`` of the
    stack. Both are fitted with ``n_jobs=1`` (each dask task predicts in one thread) and share
    ``classes_`` = ``codes``. The whole object is what the dask tasks carry (picklable, a few MB).
    """

    codes: tuple[int, ...]  # class code of each probability column
    feature_names: tuple[str, ...]
    spectral: tuple[int, ...]  # stack columns of the spectral features
    terrain: tuple[int, ...]  # stack columns of the terrain features
    rf: RandomForestClassifier
    rf_terrain: RandomForestClassifier

    @property
    def feature_importance(self) -> dict[str, float]:
        """Mean decrease in impurity of each feature in the main forest [1, sums to 1]."""
        return dict(zip(self.feature_names, map(float, self.rf.feature_importances_), strict=True))


def split_samples(codes, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of sample indices into training and held-out validation.

    Per class (in code order), the samples are shuffled (numpy ``default_rng(seed)``) and
    ``round(fraction * n)`` of them are held out, but always leaving at least one for training (a
    class with a single sample is only trained on).

    Returns
    -------
    (train, validation)
        Sorted integer index arrays into ``codes``.
    """
    codes = np.asarray(codes)
    rng = np.random.default_rng(seed)
    train, val = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for c in np.unique(codes):
        idx = np.flatnonzero(codes == c)
        idx = idx[rng.permutation(idx.size)]
        n_val = min(int(np.floor(fraction * idx.size + 0.5)), idx.size - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def plot_cells(rows, cols, radius: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells of the square training plot around each sample point.

    A field plot (or a point buffered the way GEE users do) covers more than one 30 m cell: every
    cell within ``radius`` cells of the point's cell, in rows and columns, trains the forest with the
    point's class. Cells outside the grid are dropped.

    Parameters
    ----------
    rows, cols
        Cell coordinates of the points (fractional: the cell is their floor).
    radius
        Plot half-width [cells]; 0 gives the point's cell only.
    shape
        (rows, cols) of the grid.

    Returns
    -------
    (rows, cols, owner)
        Integer cell rows and columns of the plot cells, and the index of the point each belongs to,
        ordered point by point.

    Examples
    --------
    >>> r, c, k = plot_cells([0.4, 5.5], [2.2, 5.9], 1, (10, 10))
    >>> list(zip(r.tolist(), c.tolist()))[:3], k.tolist().count(0), k.tolist().count(1)
    ([(0, 1), (0, 2), (0, 3)], 6, 9)
    """
    r0 = np.floor(np.asarray(rows, dtype=np.float64)).astype(np.int64)
    c0 = np.floor(np.asarray(cols, dtype=np.float64)).astype(np.int64)
    if radius < 0:
        raise ValueError(f"plot radius must be >= 0 cells, got {radius}")
    off = np.arange(-radius, radius + 1)
    dr = np.repeat(off, off.size)
    dc = np.tile(off, off.size)
    r = (r0[:, None] + dr[None, :]).ravel()
    c = (c0[:, None] + dc[None, :]).ravel()
    owner = np.repeat(np.arange(r0.size), dr.size)
    inside = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    return r[inside], c[inside], owner[inside]


def check_training(
    train_codes, class_names: dict[int, str], epoch: str, *, min_samples: int = 10, path=None
) -> None:
    """Refuse a training set too small to fit; warn about classes that cannot be predicted.

    Raises
    ------
    InputError
        Fewer than 2 classes or fewer than ``min_samples`` training samples in the epoch.
    """
    train_codes = np.asarray(train_codes)
    present = sorted(set(train_codes.tolist()))
    if len(present) < 2 or train_codes.size < min_samples:
        counts = ", ".join(f"'{class_names.get(c, c)}': {int(np.sum(train_codes == c))}" for c in present)
        raise InputError(
            f"epoch '{epoch}' has {train_codes.size} training sample(s) in {len(present)} class(es) "
            f"({counts or 'none'}); the land-cover classifier needs at least 2 classes and "
            f"{min_samples} training samples",
            path=path,
            field="class",
        )
    absent = [name for code, name in class_names.items() if code not in present]
    if absent:
        import warnings

        warnings.warn(
            f"epoch '{epoch}': no training sample of class(es) {', '.join(repr(a) for a in absent)}; "
            "they cannot appear in the land-cover map of this epoch",
            PfatlasWarning,
            stacklevel=2,
        )


def fit_landcover_model(
    X: np.ndarray,
    y: np.ndarray,
    feature_names: Sequence[str],
    spectral_names: Sequence[str],
    *,
    n_estimators: int = 150,
    seed: int = 0,
    n_jobs: int = 1,
) -> LandCoverModel:
    """Fit the main forest (all features) and the terrain-only forest for composite holes.

    Parameters
    ----------
    X
        Training features, shape ``(n, n_features)`` (NaN allowed).
    y
        Class codes of the training samples.
    feature_names
        Names of the columns of ``X`` (the stack's ``feature`` coordinate).
    spectral_names
        The names among them that come from the composite (NaN together under persistent cloud).
    n_estimators, seed
        Trees per forest and the random seed (config ``landcover``).
    n_jobs
        Threads that fit the trees (scikit-learn draws every tree's seed first, so the forests are
        the same for any count). The fitted forests predict with one thread (``n_jobs = 1``): the
        chunks are what runs in parallel.
    """
    names = tuple(feature_names)
    spectral = tuple(i for i, n in enumerate(names) if n in set(spectral_names))
    terrain = tuple(i for i in range(len(names)) if i not in spectral)
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)

    def forest(columns) -> RandomForestClassifier:
        f = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)
        f.fit(X[:, columns], y)
        return f.set_params(n_jobs=1)

    rf = forest(slice(None))
    rf_t = forest(list(terrain))
    if not np.array_equal(rf.classes_, rf_t.classes_):  # pragma: no cover - same y, same classes
        raise RuntimeError("the two forests disagree on the classes")
    return LandCoverModel(
        codes=tuple(int(c) for c in rf.classes_),
        feature_names=names,
        spectral=spectral,
        terrain=terrain,
        rf=rf,
        rf_terrain=rf_t,
    )


# Cells per predict_proba call. Each tree allocates a (cells x classes) float64 output, so a whole
# 1024^2 chunk in one call is memory-bound (0.12 M cells/s per thread on the demo's forest, against
# 0.18-0.20 at 64-256 k cells); much smaller batches pay the per-call overhead of every tree.
_BATCH = 131_072


def _winner(rf: RandomForestClassifier, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column of the most probable class (first on a tie, as ``rf.predict``) and its probability."""
    index = np.empty(X.shape[0], dtype=np.int64)
    prob = np.empty(X.shape[0], dtype=np.float64)
    for start in range(0, X.shape[0], _BATCH):
        proba = rf.predict_proba(X[start : start + _BATCH])
        best = np.argmax(proba, axis=1)
        index[start : start + best.size] = best
        prob[start : start + best.size] = np.take_along_axis(proba, best[:, None], axis=1)[:, 0]
    return index, prob


def _routes(X: np.ndarray, model: LandCoverModel) -> tuple[np.ndarray, np.ndarray]:
    """Rows for the main forest (some spectral feature, or any feature when the model has no
    spectral one) and for the terrain forest (terrain features only)."""
    present = ~np.isnan(X)
    main = present.any(axis=1)
    hole = np.zeros_like(main)
    if model.spectral:
        hole = main & ~present[:, list(model.spectral)].any(axis=1)
        main &= ~hole
    return main, hole


def forest_predict(X: np.ndarray, model: LandCoverModel) -> tuple[np.ndarray, np.ndarray]:
    """Predict a table of features: (column index into ``model.codes``, -1 for none; probability).

    Cells with at least one spectral feature (or every cell, when the model has no spectral
    feature) go to the main forest, cells with terrain features only to the terrain forest, cells
    with no feature at all to none.

    Parameters
    ----------
    X
        Features, shape ``(n, n_features)`` in the model's feature order, float32 (NaN allowed).

    Returns
    -------
    (index, probability)
        int64 and float32 arrays of length ``n``; probability [1] of the predicted class, NaN where
        every feature is NaN.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    main, hole = _routes(X, model)
    index = np.full(X.shape[0], -1, dtype=np.int64)
    prob = np.full(X.shape[0], np.nan, dtype=np.float64)
    if main.any():
        index[main], prob[main] = _winner(model.rf, X[main])
    if hole.any():
        index[hole], prob[hole] = _winner(model.rf_terrain, X[np.ix_(hole, model.terrain)])
    return index, prob.astype(np.float32)


def forest_proba(X: np.ndarray, model: LandCoverModel) -> np.ndarray:
    """Class probabilities of a table of features, shape ``(n, len(model.codes))`` float32.

    The same forests per cell as :func:`forest_predict` (the terrain forest for composite holes);
    rows of NaN where every feature is NaN.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    main, hole = _routes(X, model)
    out = np.full((X.shape[0], len(model.codes)), np.nan, dtype=np.float32)
    for rows, rf, cols in ((main, model.rf, slice(None)), (hole, model.rf_terrain, list(model.terrain))):
        (idx,) = np.nonzero(rows)
        for start in range(0, idx.size, _BATCH):
            part = idx[start : start + _BATCH]
            out[part] = rf.predict_proba(X[part][:, cols])
    return out


def _proba_block(block: np.ndarray, model: LandCoverModel) -> np.ndarray:
    nf, by, bx = block.shape
    P = forest_proba(block.reshape(nf, by * bx).T, model)
    return np.ascontiguousarray(P.T).reshape(len(model.codes), by, bx)


def _per_chunk(stack: xr.DataArray, model: LandCoverModel, fn, n: int, name: str):
    """``fn(block, model)`` -> ``(n, by, bx)`` float32 on every chunk of a feature stack (one task
    per chunk; eager on numpy), after checking the stack's features are the model's."""
    names = tuple(str(v) for v in stack["feature"].values)
    if names != model.feature_names:
        raise InputError(
            f"feature stack {names} does not match the model's features {model.feature_names}",
            field="feature",
        )
    data = stack.data
    if not isinstance(data, dsa.Array):
        return fn(np.asarray(data, dtype=np.float32), model)
    data = data.rechunk({0: -1})
    token = tokenize(pickle.dumps(model), data.name)
    return dsa.map_blocks(
        fn,
        data,
        # one key in the graph: a cluster ships the forest to each worker once, not with each task
        model=dask.delayed(model, pure=True),
        dtype=np.float32,
        chunks=((n,), *data.chunks[1:]),
        meta=np.array((), dtype=np.float32).reshape((0, 0, 0)),
        name=f"{name}-{token}",
    )


def class_probabilities(stack: xr.DataArray, model: LandCoverModel) -> xr.DataArray:
    """The forests' probability of every class of the model at every cell (lazy on dask).

    Dims ``(class, y, x)`` with ``class`` = ``model.codes``; float32 [1], NaN where no feature.
    """
    out = _per_chunk(stack, model, _proba_block, len(model.codes), "landcover-proba")
    coords = {kk: v for kk, v in stack.coords.items() if kk != "feature"}
    coords["class"] = list(model.codes)
    return xr.DataArray(
        out,
        dims=("class", "y", "x"),
        coords=coords,
        name="landcover_class_probability",
        attrs={"units": "1", "long_name": "Random Forest probability of each land-cover class"},
    )


def predict_features(X: np.ndarray, model: LandCoverModel) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class codes (uint8, 255 where no feature) and their probability [1] for a table."""
    index, prob = forest_predict(X, model)
    lut = np.append(np.asarray(model.codes, dtype=np.uint8), np.uint8(CLASS_NODATA))
    return lut[index], prob  # index -1 picks the nodata entry


def _predict_block(block: np.ndarray, model: LandCoverModel) -> np.ndarray:
    """(2, by, bx) float32: predicted class code (NaN = none) and its probability, for one chunk."""
    nf, by, bx = block.shape
    X = np.ascontiguousarray(block.reshape(nf, by * bx).T)
    index, prob = forest_predict(X, model)
    codes = np.append(np.asarray(model.codes, dtype=np.float32), np.float32(np.nan))
    return np.stack([codes[index].reshape(by, bx), prob.reshape(by, bx)])


def classify(stack: xr.DataArray, model: LandCoverModel) -> xr.Dataset:
    """Classify every cell of a feature stack (lazy on dask, one task per chunk).

    Parameters
    ----------
    stack
        Features, dims ``(feature, y, x)`` in the model's feature order (from
        :func:`pfatlas.landcover.features.landcover_features`).
    model
        From :func:`fit_landcover_model`.

    Returns
    -------
    xarray.Dataset
        ``landcover`` (uint8 class codes, 255 where no feature exists) and
        ``landcover_probability`` (float32 [1], probability of the predicted class, NaN there).
    """
    out = _per_chunk(stack, model, _predict_block, 2, "landcover-predict")
    code = out[0]
    code = np.where(np.isnan(code), CLASS_NODATA, code).astype(np.uint8)
    coords = {k: v for k, v in stack.coords.items() if k != "feature"}
    lc = xr.DataArray(
        code,
        dims=("y", "x"),
        coords=coords,
        name="landcover",
        attrs={"units": "class", "long_name": "land cover (Random Forest)", "nodata": CLASS_NODATA},
    )
    pr = xr.DataArray(
        out[1],
        dims=("y", "x"),
        coords=coords,
        name="landcover_probability",
        attrs={"units": "1", "long_name": "Random Forest probability of the predicted land-cover class"},
    )
    return xr.Dataset({"landcover": lc, "landcover_probability": pr})
