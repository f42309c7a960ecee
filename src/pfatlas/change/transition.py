"""Class transitions between two epochs: the area matrix and the permafrost transition map.

**Transition matrix.** For a class layer with codes c_1..c_n in epoch A and d_1..d_m in epoch B
(uint8, 255 = nodata), each code is mapped to a row (column) index: c_i -> i - 1, nodata -> n, any
code the class table does not list -> n + 1 (m, m + 1 for B). A cell with indices (i, j) adds one
to N[i, j]; with K_B = m + 2 columns, that is one ``bincount`` of ``i K_B + j`` per chunk,

    N = sum over chunks of bincount(i K_B + j, minlength K_A K_B)      [cells]

and the area matrix is ``N x |res_x res_y| / 1e6`` [km2]. Chunks are counted independently and the
counts summed (exact integer arithmetic), so the result does not depend on the chunking and no
layer is ever held whole in memory.

**Permafrost transition map** (uint8) from the permafrost layers (0 no, 1 yes, 255 nodata):

    =====  ================================  =====  =====
    code   name                              A      B
    =====  ================================  =====  =====
    1      stable permafrost                 1      1
    2      permafrost lost (degraded)        1      0
    3      new permafrost (aggraded)         0      1
    4      stable no permafrost              0      0
    255    nodata                            any other pair
    =====  ================================  =====  =====
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from pfatlas.change.difference import check_same_grid
from pfatlas.io.cog import CLASS_NODATA, ClassInfo

__all__ = [
    "NODATA_LABEL",
    "PERMAFROST_TRANSITION_CLASSES",
    "class_lut",
    "transition_counts_kernel",
    "transition_counts",
    "unlisted_cells",
    "transition_table",
    "permafrost_transition_kernel",
    "permafrost_transition",
]

NODATA_LABEL = "nodata"

PERMAFROST_TRANSITION_CLASSES = (
    ClassInfo(1, "stable permafrost", (70, 130, 200)),
    ClassInfo(2, "permafrost lost (degraded)", (215, 48, 39)),
    ClassInfo(3, "new permafrost (aggraded)", (44, 162, 95)),
    ClassInfo(4, "stable no permafrost", (230, 200, 150)),
)


def class_lut(codes: Sequence[int]) -> np.ndarray:
    """Code (0-255) -> matrix index: ``codes`` in their order, then nodata, then any other code.

    >>> class_lut([2, 0])[[0, 1, 2, 255]].tolist()
    [1, 3, 0, 2]
    """
    codes = [int(c) for c in codes]
    if any(not 0 <= c < CLASS_NODATA for c in codes) or len(set(codes)) != len(codes):
        raise ValueError(f"class codes must be distinct integers 0-254, got {codes}")
    lut = np.full(256, len(codes) + 1, dtype=np.intp)
    lut[codes] = np.arange(len(codes))
    lut[CLASS_NODATA] = len(codes)
    return lut


def transition_counts_kernel(
    a: np.ndarray, b: np.ndarray, lut_a: np.ndarray, lut_b: np.ndarray
) -> np.ndarray:
    """Cells per (row of ``a``, column of ``b``) pair of one block (kernel, int64).

    ``a``, ``b`` are uint8 blocks of one shape; ``lut_a``, ``lut_b`` from :func:`class_lut`.
    Returns an array of shape (K_A, K_B), K = number of codes + 2 (nodata, unlisted).

    >>> lut = class_lut([0, 1])
    >>> a = np.array([[0, 0, 1, 255]], dtype="uint8")
    >>> b = np.array([[0, 1, 1, 0]], dtype="uint8")
    >>> transition_counts_kernel(a, b, lut, lut).tolist()
    [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    """
    ka, kb = _k(lut_a), _k(lut_b)
    idx = lut_a[np.asarray(a).ravel()] * kb + lut_b[np.asarray(b).ravel()]
    return np.bincount(idx, minlength=ka * kb).reshape(ka, kb)


def _k(lut: np.ndarray) -> int:
    """Matrix size of a lut: the listed codes, nodata and the unlisted slot."""
    return int(lut[CLASS_NODATA]) + 2


def transition_counts(a: xr.DataArray, b: xr.DataArray, codes_a: Sequence[int], codes_b: Sequence[int]):
    """Lazy transition counts [cells] of a class layer from epoch A (rows) to B (columns).

    Parameters
    ----------
    a, b
        uint8 class layers (255 nodata) on one grid, numpy- or dask-backed.
    codes_a, codes_b
        The class codes of each epoch, in the order of the rows / columns.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        int64 of shape (len(codes_a) + 2, len(codes_b) + 2): the listed classes, then nodata, then
        cells whose code is not listed (see :func:`unlisted_cells`). One task per chunk.
    """
    check_same_grid(a, b)
    for what, da in (("epoch A", a), ("epoch B", b)):
        if np.dtype(da.dtype) != np.uint8:
            raise TypeError(f"{what} class layer must be uint8, got {da.dtype}")
    lut_a, lut_b = class_lut(codes_a), class_lut(codes_b)
    ka, kb = _k(lut_a), _k(lut_b)
    if not (isinstance(a.data, dsa.Array) or isinstance(b.data, dsa.Array)):
        return transition_counts_kernel(np.asarray(a.data), np.asarray(b.data), lut_a, lut_b)
    _, (da_, db_) = dsa.core.unify_chunks(dsa.asarray(a.data), "ij", dsa.asarray(b.data), "ij")

    def block(x, y):
        return transition_counts_kernel(x, y, lut_a, lut_b)[None, None]

    per_chunk = dsa.map_blocks(block, da_, db_, new_axis=[2, 3], chunks=(1, 1, ka, kb), dtype=np.int64)
    return per_chunk.sum(axis=(0, 1))


def unlisted_cells(counts: np.ndarray) -> tuple[int, int]:
    """Cells whose code the class table does not list, in epoch A and in epoch B."""
    counts = np.asarray(counts)
    return int(counts[-1, :].sum()), int(counts[:, -1].sum())


def transition_table(
    counts: np.ndarray,
    names_a: Mapping[int, str],
    names_b: Mapping[int, str],
    *,
    cell_area_m2: float,
    label_a: str,
    label_b: str,
) -> pd.DataFrame:
    """The transition matrix [km2] as a table: rows the classes of A, columns those of B.

    Every class of ``names_a`` / ``names_b`` appears, in code order as given, also when it has no
    cell. A ``nodata`` row and column are added only when some cell is nodata in one epoch and
    not in the other; cells nodata in both epochs are outside the map and not counted (0).

    Parameters
    ----------
    counts
        Computed :func:`transition_counts` (with the codes of ``names_a``, ``names_b`` in order).
    names_a, names_b
        Class code -> name of each epoch's layer.
    cell_area_m2
        Area of one cell [m2].
    label_a, label_b
        The epoch labels (for the first column's header).

    Returns
    -------
    pandas.DataFrame
        First column ``"<A> (rows) / <B> (columns)"`` with the class names of A; then one column
        ``"<class of B> [km2]"`` per class of B.
    """
    counts = np.asarray(counts, dtype=np.int64)
    na, nb = len(names_a), len(names_b)
    if counts.shape != (na + 2, nb + 2):
        raise ValueError(f"counts of shape {counts.shape} do not match {na} x {nb} classes")
    if any(unlisted_cells(counts)):
        raise ValueError("cells with class codes the class tables do not list (see unlisted_cells)")
    nodata_once = counts[na, :nb].sum() + counts[:na, nb].sum() > 0
    ra, rb = (na + 1, nb + 1) if nodata_once else (na, nb)
    area = counts[:ra, :rb] * float(cell_area_m2) / 1e6  # [km2]; m2 first: 30831 x 900 / 1e6 = 27.7479
    if nodata_once:
        area[na, nb] = 0.0  # nodata in both epochs: outside the map
    rows = list(names_a.values()) + ([NODATA_LABEL] if nodata_once else [])
    cols = list(names_b.values()) + ([NODATA_LABEL] if nodata_once else [])
    df = pd.DataFrame(area, columns=[f"{c} [km2]" for c in cols])
    df.insert(0, f"{label_a} (rows) / {label_b} (columns)", rows)
    return df


def permafrost_transition_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Permafrost transition codes (uint8, see the module docstring) from two 0/1/255 maps.

    >>> a = np.array([1, 1, 0, 0, 255, 1], dtype="uint8")
    >>> b = np.array([1, 0, 1, 0, 0, 255], dtype="uint8")
    >>> permafrost_transition_kernel(a, b).tolist()
    [1, 2, 3, 4, 255, 255]
    """
    a, b = np.asarray(a), np.asarray(b)
    return np.select(
        [(a == 1) & (b == 1), (a == 1) & (b == 0), (a == 0) & (b == 1), (a == 0) & (b == 0)],
        [1, 2, 3, 4],
        CLASS_NODATA,
    ).astype(np.uint8)


def permafrost_transition(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    """Lazy permafrost transition map (uint8 classes 1-4, 255 nodata) from epoch A to epoch B.

    ``a``, ``b``: permafrost layers (uint8: 0 no, 1 yes, 255 nodata) on one grid.
    """
    check_same_grid(a, b)
    out = xr.apply_ufunc(permafrost_transition_kernel, a, b, dask="parallelized", output_dtypes=[np.uint8])
    out.attrs = {
        "units": "class",
        "long_name": "permafrost transition: 1 stable, 2 lost, 3 new, 4 stable no permafrost",
    }
    return out.rename("permafrost_transition")
