"""1-D column heat conduction with phase change (enthalpy form, backward Euler, Newton).

Finite volumes on nodes: node i holds the volume ``V_i`` (per unit area in 1-D) and exchanges heat
with its neighbours j through the conductance ``G_ij = k_ij A_ij / d_ij``, ``k_ij`` the harmonic
mean of the node conductivities (layers in series). Over a step dt, with H the volumetric enthalpy
and T = T(H) (:mod:`pfatlas.thermal.enthalpy`), each free node satisfies

    V_i (H_i - H_i^n) / dt = sum_j G_ij (T_j - T_i) + q_i                             [W]

solved for H by Newton's method (Jacobian ``diag(V/dt) + L diag(dT/dH)``, conductances lagged;
an update that crosses a kink of T(H) stops just past it; a step whose iteration does not converge
is split in two). A column, whose Jacobian is tridiagonal, iterates in the compiled kernel of
:mod:`pfatlas.thermal.chain`; other meshes factorise the Newton matrix with SuperLU and keep the
factors while they converge (:meth:`_Stepper._newton`). H is the unknown, so latent heat cannot be
skipped at any dt, and the sum of the equations is an exact energy balance. The operator is
assembled from a mesh's edge list (:class:`ColumnMesh`), so sections and axisymmetric meshes only
need another mesh class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from pfatlas.errors import InputError, PfatlasError
from pfatlas.thermal import enthalpy as en
from pfatlas.thermal.chain import chain_newton
from pfatlas.thermal.materials import Material, NodeProperties

DAY = 86400.0  # [s]
YEAR = 365.0 * DAY  # [s]; model years are 365 days long
# a kept (factorised) Newton matrix is used while each iteration cuts the residual at least by half
REUSE_RATE = 0.5


# --------------------------------------------------------------------------------------- mesh
@dataclass(frozen=True)
class ColumnMesh:
    """Nodes of a 1-D column, depth positive down [m]; node 0 is the ground surface.

    Examples
    --------
    >>> mesh = ColumnMesh(np.array([0.0, 0.1, 0.3]))
    >>> mesh.volume  # [m3 m-2]
    array([0.05, 0.15, 0.1 ])
    """

    z: np.ndarray

    def __post_init__(self) -> None:
        z = np.asarray(self.z, dtype=float)
        if z.ndim != 1 or z.size < 3 or not np.all(np.isfinite(z)):
            raise InputError("a column needs at least 3 finite node depths", field="z")
        if z[0] != 0.0 or np.any(np.diff(z) <= 0):
            raise InputError("node depths must start at 0 and increase", field="z")
        object.__setattr__(self, "z", z)

    @classmethod
    def default(
        cls, depth: float = 30.0, dz: float = 0.05, fine_depth: float = 5.0, growth: float = 1.1
    ) -> ColumnMesh:
        """Uniform ``dz`` to ``fine_depth``, then cells growing by ``growth`` to ``depth`` [m].

        The defaults give 141 nodes to 30 m.
        """
        z = list(np.arange(0.0, fine_depth + dz / 2, dz))
        step = dz
        while z[-1] < depth - 1e-9:
            step *= growth
            z.append(min(z[-1] + step, depth))
        if depth - z[-2] < 0.5 * step and len(z) > 3:  # avoid a sliver cell at the base
            z.pop(-2)
        return cls(np.array(z))

    @property
    def n(self) -> int:
        return self.z.size

    @property
    def faces(self) -> np.ndarray:
        """Control-volume boundaries [m] (n + 1 values)."""
        mid = 0.5 * (self.z[1:] + self.z[:-1])
        return np.concatenate([[self.z[0]], mid, [self.z[-1]]])

    @property
    def volume(self) -> np.ndarray:
        return np.diff(self.faces)

    @property
    def edges(self) -> np.ndarray:
        """Node pairs exchanging heat, shape (n - 1, 2)."""
        i = np.arange(self.n - 1)
        return np.stack([i, i + 1], axis=1)

    @property
    def edge_half_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        """Distance from each edge's first and second node to the face between them [m]."""
        d = np.diff(self.z)
        return d / 2, d / 2

    @property
    def edge_area(self) -> np.ndarray:
        return np.ones(self.n - 1)

    def material_index(self, layer_bottoms: Sequence[float]) -> np.ndarray:
        """Index of the layer each node lies in; layer k spans (bottom[k-1], bottom[k]] [m].

        The last layer extends to the base whatever its bottom.
        """
        bottoms = np.asarray(layer_bottoms, dtype=float)
        if bottoms.size == 0 or np.any(np.diff(bottoms) <= 0):
            raise InputError("layer bottoms must increase", field="layers")
        return np.minimum(np.searchsorted(bottoms, self.z, side="left"), bottoms.size - 1)


# ---------------------------------------------------------------------------- boundaries
def _apply_n_factors(t_air: np.ndarray, n_thaw: float, n_freeze: float) -> np.ndarray:
    return np.where(t_air > 0, n_thaw * t_air, n_freeze * t_air)


@dataclass(frozen=True)
class SinusoidalSurface:
    """Surface temperature [degC] ``n (mean + trend t/yr + amplitude sin(2 pi (t - t0)/yr))``.

    ``n`` is ``n_thaw`` where the air temperature is above 0 degC, ``n_freeze`` below; ``trend``
    in K per year; times in seconds, a year 365 days.
    """

    mean: float
    amplitude: float
    trend: float = 0.0
    t0: float = 0.0
    n_thaw: float = 1.0
    n_freeze: float = 1.0

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        air = self.mean + self.trend * t / YEAR + self.amplitude * np.sin(2 * np.pi * (t - self.t0) / YEAR)
        return _apply_n_factors(air, self.n_thaw, self.n_freeze)


@dataclass(frozen=True)
class SeriesSurface:
    """Surface temperature from a series: times [s] and air temperatures [degC], linear between.

    Runs must stay within the series' time span; n-factors as in :class:`SinusoidalSurface`.
    """

    times: np.ndarray
    values: np.ndarray
    n_thaw: float = 1.0
    n_freeze: float = 1.0

    def __post_init__(self) -> None:
        t = np.asarray(self.times, dtype=float)
        v = np.asarray(self.values, dtype=float)
        if t.ndim != 1 or t.shape != v.shape or t.size < 2:
            raise InputError("times and values must be 1-D of the same length >= 2", field="times")
        if np.any(np.diff(t) <= 0) or not np.all(np.isfinite(v)):
            raise InputError("times must increase and values be finite", field="times")
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "values", v)

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return _apply_n_factors(np.interp(t, self.times, self.values), self.n_thaw, self.n_freeze)


@dataclass(frozen=True)
class HeatFluxBase:
    """Geothermal heat flux into the column at its base [W m-2] (positive upward)."""

    flux: float = 0.06


@dataclass(frozen=True)
class FixedTemperatureBase:
    """Fixed temperature at the base node [degC]."""

    temperature: float


# ------------------------------------------------------------------------------- solver
@dataclass
class ColumnResult:
    """Output of :func:`simulate_column` (SI units; times in seconds from the run's start).

    Attributes
    ----------
    times
        Output times [s] (the initial state first).
    z
        Node depths [m].
    temperature
        Temperature [degC], shape (n_times, n_nodes).
    thawed_fraction
        Thawed fraction of the latent heat [-], same shape.
    ice_content
        Volumetric ice content [m3 m-3], same shape.
    total_enthalpy
        Enthalpy of the nodes not held at a fixed temperature [J m-2], per output time.
    boundary_heat_in
        Heat that entered through the surface and base since the start [J m-2], per output time.
    latent_heat
        Latent heat of each node's material [J m-3].
    """

    times: np.ndarray
    z: np.ndarray
    faces: np.ndarray
    temperature: np.ndarray
    thawed_fraction: np.ndarray
    ice_content: np.ndarray
    total_enthalpy: np.ndarray
    boundary_heat_in: np.ndarray
    latent_heat: np.ndarray
    newton_iterations: int = 0
    split_steps: int = 0
    attrs: dict = field(default_factory=dict)

    def thaw_depth(self) -> np.ndarray:
        """Depth of the deepest thaw front (0 degC isotherm above frozen ground) [m] per time.

        Between a thawed node (T >= 0) and the node below it: if that node is partly thawed
        (inside its freezing range, with latent heat) the front is the sharp front holding the
        latent heat taken up below the thawed node: from the top of that node's control volume
        down by the thawed fraction times the cell of it and of each partly thawed node below it
        in a row (a freezing range spreads the thaw over several nodes); otherwise the isotherm
        is interpolated linearly in temperature between the two nodes. NaN where no such front
        exists.
        """
        return _front_depth(
            self.z, self.faces, self.temperature, self.thawed_fraction, self.latent_heat, thaw=True
        )[0]

    def freeze_depth(self) -> np.ndarray:
        """Depth of the deepest freezing front (frozen above, thawed below) [m] per time."""
        return _front_depth(
            self.z, self.faces, self.temperature, self.thawed_fraction, self.latent_heat, thaw=False
        )[0]

    def _years(self) -> list[np.ndarray]:
        return complete_years(self.times)

    def annual_alt(self, isotherm: bool = False) -> np.ndarray:
        """Active-layer thickness per complete year [m]: the annual maximum thaw depth above
        permafrost (nodes at or below 0 degC all year). NaN in a year without permafrost; 0 where
        the ground did not thaw.

        The fronts counted are those whose thawed node lies above the top permafrost node: the
        permafrost below may thaw in part (inside its freezing range it stays below 0 degC), and
        the front then lies in it (:meth:`thaw_depth`); a front deeper down (below a talik) does
        not count. ``isotherm=True`` takes the 0 degC isotherm interpolated linearly in
        temperature instead of the front: the top of a partly thawed zone (the same depth for a
        sharp front, up to a cell off; shallower over a wide freezing range).
        """
        out = []
        depth, pair = _front_depth(
            self.z, self.faces, self.temperature, self.thawed_fraction, self.latent_heat, thaw=True,
            isotherm=isotherm,
        )  # fmt: skip
        for idx in self._years():
            tmax = self.temperature[idx].max(axis=0)
            perm = np.flatnonzero(tmax <= 0.0)
            if perm.size == 0:
                out.append(np.nan)
                continue
            d, above = depth[idx], (pair[idx] >= 0) & (pair[idx] < perm[0])
            d = d[np.isfinite(d) & above]
            out.append(d.max() if d.size else 0.0)
        return np.array(out)

    def annual_magt(self, max_range: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Mean annual ground temperature at the depth of zero annual amplitude, per year.

        The depth of zero annual amplitude is where the annual range of temperature falls to
        ``max_range`` [K] for good: between the shallowest node below which every node's range is
        under it and the node above, the range decays exponentially with depth, so the depth is
        interpolated linearly in log(range), and the annual mean temperature linearly in depth
        there (a node's own depth would move it, and MAGT with it, a whole cell at a time).
        Returns (MAGT [degC], depth [m]); NaN where the column is too shallow to reach it.
        """
        magt, zaa = [], []
        for idx in self._years():
            temps = self.temperature[idx]
            span = temps.max(axis=0) - temps.min(axis=0)
            mean = temps.mean(axis=0)
            below_all = np.flip(np.logical_and.accumulate(np.flip(span < max_range)))
            if not below_all.any():
                magt.append(np.nan)
                zaa.append(np.nan)
                continue
            k = int(np.argmax(below_all))
            if k == 0:
                magt.append(mean[0])
                zaa.append(self.z[0])
                continue
            lo, hi = np.log(span[k - 1]), np.log(max(span[k], 1e-300))
            w = (lo - np.log(max_range)) / (lo - hi)  # in [0, 1]: range[k-1] >= max_range > range[k]
            magt.append(mean[k - 1] + w * (mean[k] - mean[k - 1]))
            zaa.append(self.z[k - 1] + w * (self.z[k] - self.z[k - 1]))
        return np.array(magt), np.array(zaa)


def _front_depth(
    z, faces, temp, frac, latent, *, thaw: bool, isotherm: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Depth [m] of the deepest thaw (or freezing) front per time, and the upper node of its pair
    of nodes (-1 where there is none). ``isotherm``: the 0 degC crossing interpolated linearly in
    temperature, whatever the latent heat below it."""
    if thaw:
        hit = (temp[:, :-1] >= 0.0) & (temp[:, 1:] < 0.0)
    else:
        hit = (temp[:, :-1] < 0.0) & (temp[:, 1:] >= 0.0)
    out = np.full(temp.shape[0], np.nan)
    pair = np.full(temp.shape[0], -1)
    rows = np.flatnonzero(hit.any(axis=1))
    if rows.size == 0:
        return out, pair
    n = temp.shape[1]
    j = hit.shape[1] - 1 - np.argmax(hit[rows, ::-1], axis=1)  # deepest pair (j, j + 1)
    pair[rows] = j
    t_up, t_lo = temp[rows, j], temp[rows, j + 1]
    interp = z[j] + (z[j + 1] - z[j]) * t_up / (t_up - t_lo)
    if isotherm:
        out[rows] = interp
        return out, pair
    # The partly thawed nodes below 0 degC next to the pair (below a thaw front, above a freezing
    # front) hold part of their latent heat: the front is the sharp front holding as much, their
    # thawed fractions times their cells summed from the pair's node below 0 degC onwards.
    f = frac[rows]
    part = (f > 0.0) & (f < 1.0) & (latent > 0.0)
    held = np.concatenate(
        [np.zeros((rows.size, 1)), np.cumsum(np.where(part, f * np.diff(faces), 0.0), axis=1)], axis=1
    )
    k = np.arange(n)
    r = np.arange(rows.size)
    if thaw:  # the run of partly thawed nodes from m = j + 1 downwards, ending before node b
        m = j + 1
        stop = ~part & (k >= m[:, None])
        b = np.where(stop.any(axis=1), np.argmax(stop, axis=1), n)
        sub = faces[m] + held[r, b] - held[r, m]
    else:  # the run from m = j upwards, starting after node a
        m = j
        stop = ~part & (k <= m[:, None])
        a = np.where(stop.any(axis=1), n - 1 - np.argmax(stop[:, ::-1], axis=1), -1)
        sub = faces[m + 1] - (held[r, m + 1] - held[r, a + 1])
    out[rows] = np.where(part[r, m], sub, interp)
    return out, pair


def _harmonic(
    k: np.ndarray, edges: np.ndarray, h1: np.ndarray, h2: np.ndarray, area: np.ndarray
) -> np.ndarray:
    """Edge conductances [W K-1 per unit area of the mesh] (resistances in series)."""
    return area / (h1 / k[edges[:, 0]] + h2 / k[edges[:, 1]])


class _Stepper:
    """Backward-Euler enthalpy stepper on a mesh with an edge list (state: the enthalpy)."""

    def __init__(
        self,
        mesh,
        props: NodeProperties,
        base,
        tol: float,
        max_iter: int,
        fixed: np.ndarray | None = None,
        source: np.ndarray | None = None,
        reuse_jacobian: bool = True,
    ):
        """``fixed`` (nodes held at a given temperature) and ``source`` (heat into each node [W
        per unit of the mesh]) default to a column's: the surface node and, by ``base``, the base
        node fixed or the base heat flux into it. ``reuse_jacobian``: on a mesh that is not a
        chain, keep the factorised Newton matrix across iterations and steps while it converges
        (see :meth:`_newton`); False factorises it anew at every iteration."""
        self.mesh, self.p, self.base = mesh, props, base
        self.edges = mesh.edges
        self.h1, self.h2 = mesh.edge_half_lengths
        self.area = mesh.edge_area
        self.vol = mesh.volume
        self.tol, self.max_iter = tol, max_iter
        n = mesh.n
        if fixed is None:
            fixed = np.zeros(n, dtype=bool)
            fixed[0] = True
            if isinstance(base, FixedTemperatureBase):
                fixed[-1] = True
        if source is None:
            source = np.zeros(n)
            if isinstance(base, HeatFluxBase):
                source[-1] = base.flux
        self.fixed, self.source = fixed, source
        self.free = ~self.fixed
        self.chain = bool(np.all(self.edges[:, 1] == self.edges[:, 0] + 1))
        self.iterations = 0
        self.splits = 0
        self.factorizations = 0
        self.reuse_jacobian = reuse_jacobian
        self._lu, self._lu_dt = None, None  # the factorised Newton matrix kept, and its step [s]
        self._pattern = None  # CSC structure of the Newton matrix (built on first use)
        self.heat_in = 0.0  # [J per unit area of the mesh] since the start
        self.kink_solidus = (props.c_frozen + props.latent_heat / props.freezing_range) * (
            props.freezing_range
        )  # -H at T_f - dT [J m-3]
        self.kink_scale = np.maximum(self.kink_solidus, props.c_thawed)
        self.p_fixed = _subset(props, self.fixed)
        self.p_chain = tuple(
            np.ascontiguousarray(getattr(props, f), dtype=np.float64)
            for f in ("k_thawed", "k_frozen", "c_thawed", "c_frozen", "latent_heat", "freezing_point",
                      "freezing_range")
        )  # fmt: skip

    def fluxes(self, temp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Net conductive heat into each node [W] and the edge conductances."""
        g = _harmonic(en.conductivity(temp, self.p), self.edges, self.h1, self.h2, self.area)
        a, b = self.edges[:, 0], self.edges[:, 1]
        flow = g * (temp[b] - temp[a])  # from b to a
        net = np.bincount(a, flow, temp.size) - np.bincount(b, flow, temp.size)
        return net, g

    def residual(self, h, h_old, dt):
        temp = en.temperature(h, self.p)
        net, g = self.fluxes(temp)
        r = self.vol * (h - h_old) / dt - net - self.source
        r[self.fixed] = 0.0
        return r, temp, g

    def factorize(self, g, slope, dt):
        """LU factors (SuperLU) of the Newton matrix ``diag(V/dt) + L diag(slope)``.

        Rows of free nodes couple free nodes only (a fixed node's update is 0); a fixed node's row
        is the identity. The sparsity structure is built once; its symmetric pattern suits the
        minimum-degree ordering on A + A'.
        """
        n = self.mesh.n
        a, b = self.edges[:, 0], self.edges[:, 1]
        if self._pattern is None:
            rows = np.concatenate([a, b, a, b, np.arange(n)])
            cols = np.concatenate([a, b, b, a, np.arange(n)])
            keep = (self.free[rows] & self.free[cols]) | (rows == cols)
            key = cols[keep] * n + rows[keep]  # column-major: CSC order once sorted
            uniq, inv = np.unique(key, return_inverse=True)
            indptr = np.concatenate([[0], np.cumsum(np.bincount(uniq // n, minlength=n))])
            self._pattern = (keep, inv, uniq.size, uniq % n, indptr)
        keep, inv, nnz, indices, indptr = self._pattern
        s = np.where(self.free, slope, 0.0)
        diag = np.where(self.fixed, 1.0, self.vol / dt)
        vals = np.concatenate([g * s[a], g * s[b], -g * s[b], -g * s[a], diag])[keep]
        mat = scipy.sparse.csc_matrix((np.bincount(inv, vals, nnz), indices, indptr), shape=(n, n))
        self.factorizations += 1
        return scipy.sparse.linalg.splu(mat, permc_spec="MMD_AT_PLUS_A")

    def step(self, h_old: np.ndarray, fixed_values, t: float, dt: float, depth: int = 0):
        """Step from t - dt to t; returns the new enthalpy and the boundary heat in [J per area].

        A step whose Newton iteration does not converge within ``max_iter`` is split in two
        (recursively, at most 12 times): backward Euler on the halves, still conservative.
        """
        h = self._newton(h_old, fixed_values(t), dt)
        if h is not None:
            return h
        if depth >= 12:
            raise PfatlasError(
                f"thermal solver: Newton did not converge at t = {t:.0f} s even with a step of {dt:.3g} s"
            )
        self.splits += 1
        h_mid = self.step(h_old, fixed_values, t - dt / 2, dt / 2, depth + 1)
        return self.step(h_mid, fixed_values, t, dt / 2, depth + 1)

    def _newton(self, h_old: np.ndarray, t_fixed: np.ndarray, dt: float) -> np.ndarray | None:
        """Newton's method for one step; the new enthalpy, or None if it did not converge.

        A column iterates in the compiled kernel. Other meshes factorise the Newton matrix with
        SuperLU; with ``reuse_jacobian`` the factors are kept and reused by later iterations and
        steps of the same dt (a modified Newton method) while each iteration at least halves the
        residual (``REUSE_RATE``). An update that does not is discarded and the matrix factorised
        afresh at the current iterate, so a node that changes phase, whose slope dT/dH changes by
        orders of magnitude, gets its true slope. The convergence test is the same either way;
        a step fails (and is split) after ``max_iter`` fresh matrices, as exact Newton does, or
        after 4 ``max_iter`` updates in all.
        """
        h = h_old.copy()
        h[self.fixed] = en.enthalpy(t_fixed, self.p_fixed)
        if self.chain:  # a column: the compiled tridiagonal Newton (same equations and tests)
            converged, iterations, q = chain_newton(
                h, h_old, dt, self.vol, self.h1, self.h2, self.area, self.p_chain, self.fixed,
                self.source, self.tol, self.max_iter, self.kink_solidus, self.kink_scale,
            )  # fmt: skip
            self.iterations += iterations
            if not converged:
                return None
            self.heat_in += q * dt
            return h
        r, temp, g = self.residual(h, h_old, dt)
        scale = self.vol / dt  # residual in enthalpy units: r / scale [J m-3]
        norm = np.max(np.abs(r / scale))
        lu = self._lu if self.reuse_jacobian and self._lu_dt == dt else None
        fresh = False
        factorized = tried = 0
        while norm >= self.tol and factorized < self.max_iter and tried < 4 * self.max_iter:
            if lu is None:
                lu, fresh = self.factorize(g, en.dtemperature_denthalpy(h, self.p), dt), True
                factorized += 1
            tried += 1
            h_new = self._limit_to_kinks(h, h - lu.solve(np.where(self.free, r, 0.0)))
            r_new, temp_new, g_new = self.residual(h_new, h_old, dt)
            norm_new = np.max(np.abs(r_new / scale))
            self.iterations += 1
            if not fresh and norm_new > REUSE_RATE * norm:
                lu = None  # the kept matrix no longer converges well: discard the update, refactor
                continue
            h, r, temp, g, norm = h_new, r_new, temp_new, g_new, norm_new
            fresh = False
            if not self.reuse_jacobian:
                lu = None
        self._lu, self._lu_dt = (lu, dt) if self.reuse_jacobian else (None, None)
        if norm >= self.tol:
            return None
        self.heat_in += self._boundary_flux(temp, g) * dt
        return h

    def _limit_to_kinks(self, h: np.ndarray, h_new: np.ndarray) -> np.ndarray:
        """Stop a Newton update at the first kink of T(H) it crosses, just past it.

        T(H) is piecewise linear; an update computed with one piece's slope that runs into the
        next piece overshoots (the ramp's slope is tiny). Stopping just inside the next piece
        lets the next iteration use the right slope.
        """
        kinks = (-(self.kink_solidus), np.zeros_like(h))
        out = h_new.copy()
        for hk in kinks:
            up = (h < hk) & (h_new > hk)
            down = (h >= hk) & (h_new < hk)
            eps = 1e-9 * self.kink_scale
            out = np.where(up, np.minimum(out, hk + eps), out)
            out = np.where(down, np.maximum(out, hk - eps), out)
        return out

    def _boundary_flux(self, temp, g) -> float:
        """Heat flow into the free nodes across edges to fixed nodes plus sources [W per area]."""
        a, b = self.edges[:, 0], self.edges[:, 1]
        into_a = g * (temp[b] - temp[a])
        q = self.source[self.free].sum()
        q += into_a[self.free[a] & self.fixed[b]].sum()
        q -= into_a[self.free[b] & self.fixed[a]].sum()
        return float(q)


def _subset(p: NodeProperties, mask: np.ndarray) -> NodeProperties:
    return NodeProperties(*(getattr(p, f)[mask] for f in p.__dataclass_fields__))


def run_steps(years: float | None, duration: float | None, dt: float) -> tuple[int, float]:
    """Number of steps and run length [s] from ``years`` or ``duration`` [s] and ``dt`` [s]."""
    if (years is None) == (duration is None):
        raise InputError("give exactly one of years and duration", field="years")
    total = years * YEAR if years is not None else float(duration)
    if not np.isfinite(dt) or dt <= 0 or not np.isfinite(total) or total <= 0:
        raise InputError("time step and run length must be positive", field="dt")
    n_steps = int(round(total / dt))
    if abs(n_steps * dt - total) > 1e-6 * dt:
        raise InputError("run length must be a whole number of time steps", field="dt")
    return n_steps, total


def check_series_covers(surface, total: float) -> None:
    """Raise if a :class:`SeriesSurface` does not cover the run [0, total] [s]."""
    if isinstance(surface, SeriesSurface) and (surface.times[0] > 0 or surface.times[-1] < total):
        raise InputError("surface series does not cover the run", field="times")


def complete_years(times: np.ndarray) -> list[np.ndarray]:
    """Indices of the output times [s] in each complete model year (times in (k yr, (k + 1) yr])."""
    year = np.ceil(times / YEAR - 1e-9).astype(int) - 1
    last = int(np.floor(times[-1] / YEAR + 1e-9))
    return [np.flatnonzero(year == k) for k in range(last)]


def saved_count(n_steps: int, save_every: int) -> int:
    """Number of states :func:`march` keeps: the initial one, every ``save_every``-th step, the last."""
    return 1 + n_steps // save_every + (n_steps % save_every != 0)


def march(stepper, h0: np.ndarray, fixed_values, n_steps: int, dt: float, save_every: int, progress=None):
    """Advance ``n_steps`` implicit steps of ``dt`` [s] from enthalpy ``h0`` [J m-3].

    Returns the saved times [s], enthalpies (one row per saved step, the initial state first) and
    cumulative boundary heat in [J per mesh unit] -- the time loop of every geometry.
    ``progress(done, total)``, if given, is called with the steps done after each one.
    """
    n_saved = saved_count(n_steps, save_every)
    saved_t, saved_in = np.zeros(n_saved), np.zeros(n_saved)
    saved_h = np.empty((n_saved, h0.size))
    saved_h[0] = h = h0
    j = 1
    for k in range(1, n_steps + 1):
        h = stepper.step(h, fixed_values, k * dt, dt)
        if k % save_every == 0 or k == n_steps:
            saved_t[j], saved_h[j], saved_in[j] = k * dt, h, stepper.heat_in
            j += 1
        if progress is not None:
            progress(k, n_steps)
    return saved_t, saved_h, saved_in


def saved_fields(
    hs: np.ndarray, props: NodeProperties, volume: np.ndarray, free: np.ndarray, block: int = 64
):
    """Temperature [degC], thawed fraction [-], ice content [m3 m-3] and the free nodes' total
    enthalpy [J per mesh unit] from saved enthalpies ``hs`` (n_saved, n) [J m-3].

    Works ``block`` saved steps at a time and writes the temperature over ``hs`` (which it
    consumes), so a long run's fields take three arrays of its size, not twice that.
    """
    total = np.empty(hs.shape[0])
    frac, ice = np.empty_like(hs), np.empty_like(hs)
    for start in range(0, hs.shape[0], block):
        b = slice(start, start + block)
        total[b] = (hs[b][:, free] * volume[free]).sum(axis=1)
        hs[b] = en.temperature(hs[b], props)
        frac[b] = en.thawed_fraction(hs[b], props)
        ice[b] = en.ice_content(hs[b], props)
    return hs, frac, ice, total


def simulate_column(
    mesh: ColumnMesh,
    materials: Sequence[Material],
    material_index: np.ndarray,
    surface,
    base=HeatFluxBase(),
    *,
    initial: np.ndarray | float,
    years: float | None = None,
    duration: float | None = None,
    dt: float = DAY,
    save_every: int = 1,
    tol: float = 1e-3,
    max_iter: int = 25,
    progress=None,
) -> ColumnResult:
    """Run a column from ``initial`` temperatures for ``years`` (or ``duration`` seconds).

    Parameters
    ----------
    mesh
        The column's nodes.
    materials, material_index
        Materials and the index of each node's material (see :meth:`ColumnMesh.material_index`).
    surface
        :class:`SinusoidalSurface`, :class:`SeriesSurface` or any callable t [s] -> T [degC].
    base
        :class:`HeatFluxBase` (default 0.06 W m-2) or :class:`FixedTemperatureBase`.
    initial
        Initial temperature [degC] at each node, or one value for all.
    years, duration
        Run length in model years (365 days) or seconds; give one.
    dt
        Time step [s] (default one day); implicit, so any step is stable.
    save_every
        Keep every ``save_every``-th step.
    tol
        Newton tolerance on the enthalpy residual [J m-3].
    progress
        Called as ``progress(steps done, steps in all)`` after each step (a progress bar).
    """
    n_steps, total = run_steps(years, duration, dt)
    check_series_covers(surface, total)
    props = NodeProperties.from_materials(materials, material_index)
    if np.asarray(material_index).shape != mesh.z.shape:
        raise InputError("one material index per node", field="material_index")
    temp0 = np.broadcast_to(np.asarray(initial, dtype=float), mesh.z.shape).copy()
    if not np.all(np.isfinite(temp0)):
        raise InputError("initial temperatures must be finite", field="initial")
    stepper = _Stepper(mesh, props, base, tol, max_iter)
    fixed_idx = np.flatnonzero(stepper.fixed)

    def fixed_values(t: float) -> np.ndarray:
        vals = [float(np.asarray(surface(t)))]
        if isinstance(base, FixedTemperatureBase):
            vals.append(base.temperature)
        return np.array(vals)

    temp0[fixed_idx] = fixed_values(0.0)
    saved_t, hs, saved_in = march(
        stepper, en.enthalpy(temp0, props), fixed_values, n_steps, dt, save_every, progress
    )
    temp, frac, ice, total = saved_fields(hs, props, mesh.volume, stepper.free)
    return ColumnResult(
        times=saved_t,
        z=mesh.z,
        faces=mesh.faces,
        temperature=temp,
        thawed_fraction=frac,
        ice_content=ice,
        total_enthalpy=total,
        boundary_heat_in=saved_in,
        latent_heat=props.latent_heat,
        newton_iterations=stepper.iterations,
        split_steps=stepper.splits,
    )
