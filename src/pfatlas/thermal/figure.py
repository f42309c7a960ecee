"""Quick-look figure of a site simulation (``pfatlas simulate``): ``OUT/temperature.png``.

A column: the temperature envelope of the last complete year (annual minimum, mean and maximum
against depth, the "trumpet curve"), with its ALT and the depth of zero annual amplitude, and ALT and
MAGT per year. A section or axisymmetric model: the last complete year's maximum temperature (its
0 degC contour is the permafrost table) and mean temperature (its 0 degC contour bounds the
permafrost), air left blank. A run shorter than a year uses the whole run. Drawn with matplotlib's
Agg canvas (no display needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from pfatlas.thermal.column import ColumnResult, complete_years
from pfatlas.thermal.mesh2d import SectionResult

__all__ = ["last_year", "write_figure"]


def last_year(times: np.ndarray) -> np.ndarray:
    """Indices of the stored times in the last complete model year (all of them if none is).

    >>> day = 86400.0
    >>> last_year(np.arange(0, 800) * day)[[0, -1]]  # days 366 .. 730 of 799
    array([366, 730])
    >>> last_year(np.arange(0, 100) * day).size
    100
    """
    years = complete_years(times)
    return years[-1] if years else np.arange(times.size)


def _column_panels(fig: Figure, result: ColumnResult) -> None:
    idx = last_year(result.times)
    t = result.temperature[idx]
    z = result.z
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(t.min(axis=0), z, color="#2166ac", label="annual minimum")
    ax.plot(t.mean(axis=0), z, color="black", label="annual mean")
    ax.plot(t.max(axis=0), z, color="#b2182b", label="annual maximum")
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    alt = result.annual_alt()
    magt, zaa = result.annual_magt()
    if alt.size and np.isfinite(alt[-1]):
        ax.axhline(alt[-1], color="#b2182b", lw=0.8, ls=":", label=f"ALT {alt[-1]:.2f} m")
    if zaa.size and np.isfinite(zaa[-1]):
        ax.axhline(zaa[-1], color="black", lw=0.8, ls=":", label=f"zero annual amplitude {zaa[-1]:.1f} m")
    ax.invert_yaxis()
    ax.set_xlabel("temperature [degC]")
    ax.set_ylabel("depth [m]")
    ax.set_title("temperature envelope, last year")
    ax.legend(fontsize=7, loc="lower left")
    ax2 = fig.add_subplot(1, 2, 2)
    years = np.arange(1, alt.size + 1)
    if years.size:
        ax2.plot(years, alt, "o-", color="#b2182b", ms=3, label="ALT (thaw front)")
        ax2.plot(years, result.annual_alt(isotherm=True), "--", color="#b2182b", label="0 degC isotherm")
        ax2.legend(fontsize=7, loc="upper left")
        ax3 = ax2.twinx()
        ax3.plot(years, magt, "s-", color="black", ms=3)
        ax3.set_ylabel("MAGT [degC] (black)")
    ax2.set_xlabel("model year")
    ax2.set_ylabel("ALT [m] (red)")
    ax2.set_title("ALT and MAGT per year")


def _section_panels(fig: Figure, result: SectionResult) -> None:
    idx = last_year(result.times)
    t = result.temperature[idx]
    air = np.zeros(result.temperature.shape[1:], dtype=bool) if result.active is None else ~result.active
    across = "x [m]" if result.geometry == "section" else "r [m]"
    for k, (field, title) in enumerate(
        (
            (t.max(axis=0), "annual maximum temperature, last year"),
            (t.mean(axis=0), "annual mean temperature, last year"),
        )
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        data = np.ma.masked_array(field, mask=air)
        lim = max(float(np.abs(data).max()), 0.1)
        mesh = ax.pcolormesh(result.x, result.z, data, shading="nearest", cmap="RdBu_r",
                             norm=TwoSlopeNorm(0.0, -lim, lim))  # fmt: skip
        if data.min() < 0.0 < data.max():
            ax.contour(result.x, result.z, data, levels=[0.0], colors="black", linewidths=1.0)
        ax.invert_yaxis()
        ax.set_xlabel(across)
        ax.set_ylabel("depth below the top of the model [m]")
        ax.set_title(title + " (black: 0 degC)", fontsize=9)
        fig.colorbar(mesh, ax=ax, label="degC", shrink=0.8)


def write_figure(result: ColumnResult | SectionResult, name: str, path: str | Path) -> Path:
    """Draw the quick-look figure of ``result`` (see the module docstring) into the PNG ``path``,
    through a temporary name renamed when complete."""
    path = Path(path)
    fig = Figure(figsize=(11, 5), layout="constrained")
    FigureCanvasAgg(fig)
    if isinstance(result, SectionResult):
        _section_panels(fig, result)
    else:
        _column_panels(fig, result)
    fig.suptitle(f"{name} (pfatlas simulate)")
    tmp = path.with_name(f".{path.name}.part")
    try:
        fig.savefig(tmp, dpi=120, format="png")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
