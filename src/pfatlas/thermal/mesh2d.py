"""2-D section (x-z) and axisymmetric (r-z) heat conduction with phase change.

Both are rectilinear node grids, depth z positive down from the ground surface (row 0), the
horizontal coordinate x (a section, per unit length along y) or r (axisymmetric, a full turn
about the axis r = 0). Node (iz, ix) is number ``iz * nx + ix``; its control volume is bounded by
the mid-points to its neighbours (half cells at the edges of the domain). With the faces
``f_0 = x_0, f_i = (x_{i-1} + x_i) / 2, f_nx = x_{nx-1}`` in x or r, and likewise in z:

    section        V = (f_{i+1} - f_i) dz_k        [m3 m-1]   vertical face  (f_{i+1} - f_i)
                                                              lateral face   dz_k  at f_{i+1}
    axisymmetric   V = pi (f_{i+1}^2 - f_i^2) dz_k [m3]       vertical face  pi (f_{i+1}^2 - f_i^2)
                                                              lateral face   2 pi f_{i+1} dz_k

so the lateral faces of the axis column have zero area (the axis is a symmetry line) and the
sides of the domain exchange no heat. The stepper of :mod:`pfatlas.thermal.column` (backward
Euler on the enthalpy, Newton, ``scipy.sparse`` solves) runs on these meshes unchanged; only the
fixed nodes (the surface row and, with a fixed base, the base row) and the base heat flux into the
base row (flux times its plan area) are set here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pfatlas.errors import InputError
from pfatlas.thermal import enthalpy as en
from pfatlas.thermal.column import (
    DAY,
    ColumnMesh,
    ColumnResult,
    FixedTemperatureBase,
    HeatFluxBase,
    _Stepper,
    check_series_covers,
    march,
    run_steps,
    saved_fields,
)
from pfatlas.thermal.materials import Material, NodeProperties


def _faces(v: np.ndarray) -> np.ndarray:
    return np.concatenate([[v[0]], 0.5 * (v[1:] + v[:-1]), [v[-1]]])


@dataclass(frozen=True)
class _GridMesh:
    """Rectilinear nodes: horizontal coordinate ``x`` [m] (nx >= 2) and depths ``z`` [m]."""

    x: np.ndarray
    z: np.ndarray

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=float)
        if x.ndim != 1 or x.size < 2 or not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
            raise InputError("need at least 2 finite, increasing horizontal node positions", field="x")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "z", ColumnMesh(self.z).z)  # same checks as a column

    @property
    def shape(self) -> tuple[int, int]:
        """(nz, nx)."""
        return self.z.size, self.x.size

    @property
    def n(self) -> int:
        return self.z.size * self.x.size

    @property
    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Horizontal position and depth of every node [m], each of shape (nz, nx)."""
        return np.meshgrid(self.x, self.z)

    @property
    def faces_x(self) -> np.ndarray:
        return _faces(self.x)

    @property
    def faces_z(self) -> np.ndarray:
        return _faces(self.z)

    @property
    def plan_area(self) -> np.ndarray:
        """Area of each node's horizontal faces (nx values) [m2 per unit of the mesh]."""
        raise NotImplementedError

    def _side_area_per_height(self) -> np.ndarray:
        """Area of the lateral faces between horizontal neighbours per metre of height (nx - 1)."""
        raise NotImplementedError

    @property
    def volume(self) -> np.ndarray:
        return np.outer(np.diff(self.faces_z), self.plan_area).ravel()

    def _index(self) -> np.ndarray:
        return np.arange(self.n).reshape(self.shape)

    @property
    def edges(self) -> np.ndarray:
        """Node pairs exchanging heat: the vertical pairs, then the horizontal ones."""
        idx = self._index()
        vert = np.stack([idx[:-1].ravel(), idx[1:].ravel()], axis=1)
        horiz = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1)
        return np.concatenate([vert, horiz])

    @property
    def edge_half_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        nz, nx = self.shape
        dz = np.repeat(np.diff(self.z), nx) / 2
        dx = np.tile(np.diff(self.x), nz) / 2
        half = np.concatenate([dz, dx])
        return half, half

    @property
    def edge_area(self) -> np.ndarray:
        nz, _ = self.shape
        vert = np.tile(self.plan_area, nz - 1)
        horiz = np.outer(np.diff(self.faces_z), self._side_area_per_height()).ravel()
        return np.concatenate([vert, horiz])

    @property
    def top(self) -> np.ndarray:
        """Node numbers of the surface row."""
        return np.arange(self.x.size)

    @property
    def bottom(self) -> np.ndarray:
        """Node numbers of the base row."""
        return self.n - self.x.size + np.arange(self.x.size)

    def layered_index(self, layer_bottoms: Sequence[float]) -> np.ndarray:
        """Material index of horizontal layers, shape (nz, nx); see :meth:`ColumnMesh.material_index`.

        Regions (a pit's fill, a dump) are then painted on it with masks from :attr:`nodes`.
        """
        column = ColumnMesh(self.z).material_index(layer_bottoms)
        return np.repeat(column[:, None], self.x.size, axis=1)


@dataclass(frozen=True)
class SectionMesh(_GridMesh):
    """Vertical section x-z, per unit length across it (volumes [m3 m-1], heat [J m-1]).

    Examples
    --------
    >>> mesh = SectionMesh(np.array([0.0, 1.0, 3.0]), np.array([0.0, 0.5, 1.0]))
    >>> mesh.volume.reshape(mesh.shape)  # [m3 m-1]
    array([[0.125, 0.375, 0.25 ],
           [0.25 , 0.75 , 0.5  ],
           [0.125, 0.375, 0.25 ]])
    """

    geometry = "section"

    @property
    def plan_area(self) -> np.ndarray:
        return np.diff(self.faces_x)

    def _side_area_per_height(self) -> np.ndarray:
        return np.ones(self.x.size - 1)


@dataclass(frozen=True)
class AxisymmetricMesh(_GridMesh):
    """Axisymmetric r-z mesh, a full turn about the axis (volumes [m3], heat [J]).

    ``x`` holds the radii [m], from ``x[0] >= 0`` (0: the axis; more: an inner zero-flux wall).

    Examples
    --------
    >>> mesh = AxisymmetricMesh(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0]))
    >>> mesh.plan_area / np.pi  # rings 0-0.5, 0.5-1.5, 1.5-2 m [m2 / pi]
    array([0.25, 2.  , 1.75])
    """

    geometry = "axisymmetric"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.x[0] < 0:
            raise InputError("radii must be >= 0 (the axis is r = 0)", field="x")

    @property
    def r(self) -> np.ndarray:
        return self.x

    @property
    def plan_area(self) -> np.ndarray:
        return np.pi * np.diff(self.faces_x**2)

    def _side_area_per_height(self) -> np.ndarray:
        return 2 * np.pi * self.faces_x[1:-1]


@dataclass
class SectionResult:
    """Output of :func:`simulate_section` (SI units; times in seconds from the run's start).

    Fields of shape (n_times, nz, nx): ``temperature`` [degC], ``thawed_fraction`` [-],
    ``ice_content`` [m3 m-3]. ``total_enthalpy`` is the enthalpy of the nodes not held at a fixed
    temperature and ``boundary_heat_in`` the heat that entered through the surface and the base
    since the start, per output time [J m-1 for a section, J axisymmetric]. ``newton_iterations``
    counts every Newton update tried (with a kept matrix, also those discarded), ``factorizations``
    the Newton matrices factorised, ``split_steps`` the steps halved. ``active`` (nz, nx) is False
    at the nodes that are air (their temperature is that of the surface they bound).
    """

    times: np.ndarray
    x: np.ndarray
    z: np.ndarray
    geometry: str
    temperature: np.ndarray
    thawed_fraction: np.ndarray
    ice_content: np.ndarray
    total_enthalpy: np.ndarray
    boundary_heat_in: np.ndarray
    latent_heat: np.ndarray
    newton_iterations: int = 0
    split_steps: int = 0
    factorizations: int = 0
    active: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)

    def ground_top(self, ix: int) -> int:
        """Row of the ground surface in the vertical line ``ix`` (below any air above it)."""
        if self.active is None:
            return 0
        return int(np.argmax(self.active[:, ix]))

    def column(self, ix: int) -> ColumnResult:
        """The ground of the vertical line of nodes ``ix`` as a :class:`ColumnResult` (for its
        thaw depth, ALT and MAGT), depths from its ground surface (the first ground node: a pit's
        floor); its energy fields are NaN (heat also flows sideways)."""
        nan = np.full(self.times.size, np.nan)
        k = self.ground_top(ix)
        z = self.z[k:] - self.z[k]
        return ColumnResult(
            times=self.times,
            z=z,
            faces=_faces(z),
            temperature=self.temperature[:, k:, ix],
            thawed_fraction=self.thawed_fraction[:, k:, ix],
            ice_content=self.ice_content[:, k:, ix],
            total_enthalpy=nan,
            boundary_heat_in=nan,
            latent_heat=self.latent_heat[k:, ix],
        )


def surface_nodes(active: np.ndarray) -> np.ndarray:
    """Ground nodes exposed to the air: active and in the top row or next to an inactive node.

    >>> a = np.ones((4, 5), dtype=bool)
    >>> a[:2, 1:3] = False  # a pit two nodes deep and wide
    >>> surface_nodes(a).astype(int)
    array([[1, 0, 0, 1, 1],
           [1, 0, 0, 1, 0],
           [0, 1, 1, 0, 0],
           [0, 0, 0, 0, 0]])
    """
    a = np.asarray(active, dtype=bool)
    air = ~a
    near = np.zeros_like(a)
    near[1:] |= air[:-1]
    near[:-1] |= air[1:]
    near[:, 1:] |= air[:, :-1]
    near[:, :-1] |= air[:, 1:]
    near[0] = True
    return a & near


def simulate_section(
    mesh: SectionMesh | AxisymmetricMesh,
    materials: Sequence[Material],
    material_index: np.ndarray,
    surface: Callable | Sequence[Callable],
    base: HeatFluxBase | FixedTemperatureBase | None = None,
    *,
    initial: np.ndarray | float,
    surface_index: np.ndarray | None = None,
    active: np.ndarray | None = None,
    years: float | None = None,
    duration: float | None = None,
    dt: float = DAY,
    save_every: int = 1,
    tol: float = 1e-3,
    max_iter: int = 25,
    reuse_jacobian: bool = True,
    progress=None,
) -> SectionResult:
    """Run a section or axisymmetric mesh from ``initial`` for ``years`` (or ``duration`` [s]).

    Parameters
    ----------
    mesh
        :class:`SectionMesh` or :class:`AxisymmetricMesh`.
    materials, material_index
        Materials and the integer index of each node's material, shape (nz, nx).
    surface
        Surface temperature [degC] of the top row: one :class:`SinusoidalSurface`,
        :class:`SeriesSurface` or callable t [s] -> T, or a sequence of them (surface segments).
    base
        :class:`HeatFluxBase` (W m-2, default 0.06, into every base node through its plan area)
        or :class:`FixedTemperatureBase` (the whole base row); None: ``HeatFluxBase()``. The
        sides exchange no heat.
    initial
        Initial temperature [degC]: one value, or an array broadcasting to (nz, nx).
    surface_index
        Segment of ``surface`` at each surface node: nx integers (one per column) or an (nz, nx)
        array (read at the surface nodes); default all 0.
    active
        Bool (nz, nx): the nodes that are ground. False marks the air of a pit or beside a dump;
        the ground surface is then every active node in the top row or next to an inactive node
        (a pit's floor and walls, a dump's top and sides), held at its segment's temperature. Default:
        all active (the surface is the top row). The base row must be active.
    years, duration, dt, save_every, tol, max_iter, progress
        As in :func:`pfatlas.thermal.simulate_column`.
    reuse_jacobian
        Keep the factorised Newton matrix while it converges (modified Newton, several times
        faster; same convergence test). False factorises it at every iteration: the iterates of
        exact Newton, those of :func:`~pfatlas.thermal.simulate_column` on a laterally uniform
        problem.
    """
    n_steps, total = run_steps(years, duration, dt)
    base = HeatFluxBase() if base is None else base
    surfaces = list(surface) if isinstance(surface, Sequence) else [surface]
    nz, nx = mesh.shape
    act = np.ones(mesh.shape, dtype=bool) if active is None else np.asarray(active)
    if act.shape != mesh.shape or act.dtype != bool:
        raise InputError(f"need a bool array of shape {mesh.shape} (nz, nx)", field="active")
    if not act[-1].all():
        raise InputError("the base row must be ground (active) everywhere", field="active")
    seg = np.zeros(nx, int) if surface_index is None else np.asarray(surface_index)
    if seg.shape == (nx,):
        seg = np.broadcast_to(seg, mesh.shape)
    if (
        not surfaces
        or seg.shape != mesh.shape
        or not np.issubdtype(seg.dtype, np.integer)
        or seg.min() < 0
        or seg.max() >= len(surfaces)
    ):
        raise InputError(
            f"need one integer in [0, {len(surfaces)}) per surface column ({nx}) or node {mesh.shape}",
            field="surface_index",
        )
    exposed = surface_nodes(act)
    for s in surfaces:
        check_series_covers(s, total)
    index = np.asarray(material_index)
    if index.shape != mesh.shape or not np.issubdtype(index.dtype, np.integer):
        raise InputError(f"need an integer array of shape {mesh.shape} (nz, nx)", field="material_index")
    props = NodeProperties.from_materials(materials, index.ravel())
    try:
        temp0 = np.broadcast_to(np.asarray(initial, dtype=float), mesh.shape).ravel().copy()
    except ValueError:
        raise InputError(f"initial temperatures must broadcast to {mesh.shape}", field="initial") from None
    if not np.all(np.isfinite(temp0)):
        raise InputError("initial temperatures must be finite", field="initial")

    fixed = (~act | exposed).ravel()
    node_seg = seg.ravel().copy()  # segment of every fixed node; the base row's is len(surfaces)
    source = np.zeros(mesh.n)
    if isinstance(base, FixedTemperatureBase):
        fixed[mesh.bottom] = True
        node_seg[mesh.bottom] = len(surfaces)
    elif isinstance(base, HeatFluxBase):
        source[mesh.bottom] = base.flux * mesh.plan_area
    stepper = _Stepper(
        mesh, props, base, tol, max_iter, fixed=fixed, source=source, reuse_jacobian=reuse_jacobian
    )
    fixed_seg = node_seg[fixed]
    base_t = [base.temperature] if isinstance(base, FixedTemperatureBase) else []

    def fixed_values(t: float) -> np.ndarray:
        return np.array([float(np.asarray(s(t))) for s in surfaces] + base_t)[fixed_seg]

    temp0[fixed] = fixed_values(0.0)
    saved_t, hs, saved_in = march(
        stepper, en.enthalpy(temp0, props), fixed_values, n_steps, dt, save_every, progress
    )
    shape = (hs.shape[0], *mesh.shape)
    temp, frac, ice, total = saved_fields(hs, props, mesh.volume, stepper.free)
    return SectionResult(
        times=saved_t,
        x=mesh.x,
        z=mesh.z,
        geometry=mesh.geometry,
        temperature=temp.reshape(shape),
        thawed_fraction=frac.reshape(shape),
        ice_content=ice.reshape(shape),
        total_enthalpy=total,
        boundary_heat_in=saved_in,
        latent_heat=props.latent_heat.reshape(mesh.shape),
        newton_iterations=stepper.iterations,
        split_steps=stepper.splits,
        factorizations=stepper.factorizations,
        active=act.copy(),
    )
