"""Verification of the 2-D section (x-z) and axisymmetric (r-z) heat-conduction solver.

A laterally uniform problem against the 1-D column (Neumann thawing, two-layer geotherm); steady
conduction below a heated disc against the half-space solution; a separable steady section
solution with its observed order; the energy balance of an axisymmetric pit with phase change;
bad input.
"""

from __future__ import annotations

import numpy as np
import pytest

from pfatlas.errors import InputError
from pfatlas.thermal import (
    DAY,
    YEAR,
    AxisymmetricMesh,
    ColumnMesh,
    FixedTemperatureBase,
    HeatFluxBase,
    Material,
    SectionMesh,
    SinusoidalSurface,
    simulate_column,
    simulate_section,
)

SILT = Material("silt", 1.5, 2.0, 2.5e6, 1.9e6, water_content=0.3, freezing_range=0.01)
DRY = Material("dry", 2.0, 2.0, 2.0e6, 2.0e6)
MESHES = {"section": SectionMesh, "axisymmetric": AxisymmetricMesh}


def graded(h: float, fine: float, end: float, growth: float = 1.15) -> np.ndarray:
    """Nodes from 0 with spacing ``h`` to ``fine``, then growing by ``growth`` to ``end`` [m]."""
    v = list(np.arange(0.0, fine + h / 2, h))
    step = h
    while v[-1] < end - 1e-9:
        step *= growth
        v.append(min(v[-1] + step, end))
    return np.array(v)


def steady(mesh, surfaces, surface_index):
    """Steady state of a dry (linear) problem, base at 0 degC: four backward-Euler steps of 1e12 s.

    The slowest mode of these domains (<= 40 m, diffusivity 1e-6 m2 s-1) decays at >= 1e-10 s-1,
    so each step damps it by >= 100 and four by >= 1e8; the Newton tolerance 1 J m-3 is 5e-7 K.
    """
    return simulate_section(
        mesh,
        [DRY],
        np.zeros(mesh.shape, int),
        surfaces,
        FixedTemperatureBase(0.0),
        initial=0.0,
        surface_index=surface_index,
        duration=4e12,
        dt=1e12,
        tol=1.0,
    )


# ------------------------------------------------------------------- (1) uniform = 1-D column
@pytest.mark.parametrize("geometry", MESHES)
@pytest.mark.parametrize("case", ["neumann", "geotherm"])
def test_laterally_uniform_problem_reproduces_the_column(geometry, case):
    # With the same materials and boundaries in every vertical line there is no lateral gradient,
    # so each line solves the column's equations (scaled by its plan area, which cancels): the
    # same Newton iterates (exact Newton in both), differing only by the round-off of the sparse
    # vs the tridiagonal solve. The kept-matrix (default) path is checked against it below.
    if case == "neumann":  # thawing of frozen silt, fixed base
        z = ColumnMesh.default(depth=20.0, dz=0.1, fine_depth=3.0).z
        mats, layers, base, surf, t0, years, dt = (
            [SILT],
            [20.0],
            FixedTemperatureBase(-2.0),
            5.0,
            -2.0,
            1,
            5 * DAY,
        )
    else:  # two dry layers, interface midway between nodes, geothermal flux: steady geotherm
        z = np.arange(0.0, 30.0001, 0.5)
        upper, lower = Material("upper", 1.2, 1.2, 2e6, 2e6), Material("lower", 2.4, 2.4, 2.2e6, 2.2e6)
        mats, layers, base, surf, t0, years, dt = (
            [upper, lower],
            [10.25, 40.0],
            HeatFluxBase(0.06),
            -3.0,
            -3.0,
            1000,
            5 * YEAR,
        )
    col = ColumnMesh(z)
    ref = simulate_column(
        col, mats, col.material_index(layers), lambda t: surf, base, initial=t0, years=years, dt=dt
    )
    mesh = MESHES[geometry](np.array([0.0, 0.7, 2.0, 5.0]), z)
    res = simulate_section(
        mesh, mats, mesh.layered_index(layers), lambda t: surf, base, initial=t0, years=years, dt=dt,
        reuse_jacobian=False,
    )  # fmt: skip
    assert res.newton_iterations == ref.newton_iterations
    # round-off: temperatures of O(10 K) from solves of condition number < 1e6 agree to ~1e-14 K
    np.testing.assert_allclose(res.temperature, np.repeat(ref.temperature[:, :, None], 4, axis=2), atol=1e-10)
    area = mesh.plan_area.sum()  # the column's heat per m2 times the mesh's plan area
    np.testing.assert_allclose(res.boundary_heat_in, ref.boundary_heat_in * area, rtol=1e-9, atol=1e-3)
    if case == "neumann":
        np.testing.assert_allclose(res.column(2).thaw_depth(), ref.thaw_depth(), atol=1e-9)
    else:  # and the column's exact geotherm
        exact = np.where(z < 10.25, -3.0 + 0.06 * z / 1.2, -3.0 + 0.06 * (10.25 / 1.2 + (z - 10.25) / 2.4))
        np.testing.assert_allclose(res.temperature[-1, :, 1], exact, atol=1e-6)


@pytest.mark.parametrize("geometry", MESHES)
def test_inactive_top_rows_move_the_surface_down(geometry):
    # Air in the top k rows everywhere: the ground surface is row k, and every line below it is
    # the column whose surface is that row (the same Neumann thawing run, to round-off).
    z = ColumnMesh.default(depth=20.0, dz=0.1, fine_depth=3.0).z
    k = 7
    col = ColumnMesh(z[k:] - z[k])
    ref = simulate_column(col, [SILT], col.material_index([20.0]), lambda t: 5.0, FixedTemperatureBase(-2.0),
                          initial=-2.0, years=1, dt=5 * DAY)  # fmt: skip
    mesh = MESHES[geometry](np.array([0.0, 0.7, 2.0, 5.0]), z)
    active = np.ones(mesh.shape, dtype=bool)
    active[:k] = False
    res = simulate_section(mesh, [SILT], np.zeros(mesh.shape, int), lambda t: 5.0, FixedTemperatureBase(-2.0),
                           initial=-2.0, active=active, years=1, dt=5 * DAY)  # fmt: skip
    np.testing.assert_allclose(res.temperature[:, k:, :], np.repeat(ref.temperature[:, :, None], 4, axis=2),
                               atol=1e-10)  # fmt: skip


def test_pit_floor_and_walls_take_their_segment():
    # A pit 3 nodes deep and 2 wide at the axis, floor and walls at 1 degC, the natural surface and
    # the base at 0: the exposed nodes hold their segment's value and, by the maximum principle of
    # steady conduction, every ground node lies between 0 and 1, warmest next to the pit.
    mesh = AxisymmetricMesh(np.arange(0.0, 10.01, 1.0), np.arange(0.0, 10.01, 1.0))
    active = np.ones(mesh.shape, dtype=bool)
    active[:3, :2] = False
    seg = np.zeros(mesh.shape, int)
    seg[:4, :3] = 1  # the floor (row 3) and the wall (column 2) are pit surface
    seg[0, 2] = 0  # the rim belongs to the natural surface
    res = simulate_section(mesh, [DRY], np.zeros(mesh.shape, int), [lambda t: 0.0, lambda t: 1.0],
                           FixedTemperatureBase(0.0), initial=0.0, surface_index=seg, active=active,
                           duration=4e12, dt=1e12, tol=1.0)  # fmt: skip
    t = res.temperature[-1]
    assert t[3, 0] == 1.0 and t[3, 1] == 1.0 and t[1, 2] == 1.0 and t[2, 2] == 1.0 and t[0, 2] == 0.0
    ground = active & (np.arange(mesh.shape[0])[:, None] < mesh.shape[0] - 1)
    assert np.all(t[ground] >= -1e-9) and np.all(t[ground] <= 1 + 1e-9)
    assert t[5, 0] > t[5, 5] > t[5, 9] > 0


# -------------------------------------------------------------------- (2) disc on a half-space
def test_axisymmetric_disc_centre_line():
    r"""Steady conduction below a surface disc of radius a held at dT, the rest of the surface at 0.

    In a half-space the steady field is the Poisson integral of the surface values; on the axis,
    with rho^2 = r^2 + z^2 for the surface point at radius r,

        T(0, z) = dT / (2 pi) int_0^a z / (r^2 + z^2)^{3/2} 2 pi r dr = dT (1 - z / sqrt(z^2 + a^2)).

    Tolerance. (i) Finite domain: the model is a cylinder of radius and depth L = 40 a, its base
    held at 0 and its side insulated. Far from the disc the half-space field is the dipole
    dT a^2 z / (2 rho^3) <= dT a^2 / (2 L^2) on those boundaries; the difference of the two
    fields is harmonic, 0 on the surface and of that size on the base and side, so by the maximum
    principle it is at most dT a^2 / (2 L^2) = 3.1e-4 dT inside. (ii) Grid: spacing h = a / 20
    near the disc. The jump of the surface temperature at r = a lies on a node, given dT / 2;
    sampling the jump to the nearest node instead would move the disc edge by up to h / 2 and the
    axis temperature by up to max_z dT/da * h / 2 = 0.385 dT h / (2 a) = 9.6e-3 dT (first
    order; observed 9.6e-3). With the mid value that error cancels to second order, taken as
    0.3 (h / a)^2 dT = 7.5e-4 dT. Sum: 1.06e-3 dT; observed 2.1e-4 dT (and 7.9e-4 at h = a / 10,
    order 1.9).
    """
    a, d_t, big = 1.0, 1.0, 40.0
    r, z = graded(0.05, 2.0, big), graded(0.05, 3.0, big)
    mesh = AxisymmetricMesh(r, z)
    segment = np.where(r < a - 1e-9, 1, 0)
    segment[np.isclose(r, a)] = 2
    res = steady(mesh, [lambda t: 0.0, lambda t: d_t, lambda t: d_t / 2], segment)
    near = z <= 5 * a
    exact = d_t * (1 - z / np.sqrt(z**2 + a**2))
    tol = d_t * (a**2 / (2 * big**2) + 0.3 * (0.05 / a) ** 2)
    np.testing.assert_allclose(res.temperature[-1, near, 0], exact[near], atol=tol)
    # steady: the last step changed nothing
    np.testing.assert_allclose(res.temperature[-1], res.temperature[-2], atol=1e-9)


# ------------------------------------------------------------- (3) separable steady section
def section_error(n: int, width: float = 1.0, height: float = 1.0) -> float:
    """Max nodal error of the steady section on an n x n uniform grid against
    T = cos(pi x / W) sinh(pi (H - z) / W) / sinh(pi H / W): harmonic, 0 at the base z = H,
    zero flux through the sides x = 0 and x = W (dT/dx = 0 there), cos(pi x / W) on the surface."""
    x, z = np.linspace(0.0, width, n), np.linspace(0.0, height, n)
    top = np.cos(np.pi * x / width)
    surfaces = [lambda t, v=v: v for v in top]  # one segment per surface node
    res = steady(SectionMesh(x, z), surfaces, np.arange(n))
    xx, zz = np.meshgrid(x, z)
    exact = (
        np.cos(np.pi * xx / width) * np.sinh(np.pi * (height - zz) / width) / np.sinh(np.pi * height / width)
    )
    return float(np.abs(res.temperature[-1] - exact).max())


def test_section_separable_solution_and_order():
    errors = np.array([section_error(n) for n in (9, 17, 33)])  # h = 1/8, 1/16, 1/32 m
    # local truncation error of the five-point operator: h^2 / 12 (T_xxxx + T_zzzz), with
    # T_xxxx = T_zzzz = pi^4 T here at most pi^4 h^2 / 6; the maximum principle with the comparison
    # function z (H - z) / 2 (max H^2 / 8) bounds the nodal error by pi^4 h^2 / 48 (0.032 at
    # h = 1/8; observed 4.3e-3, 1.1e-3, 2.8e-4: orders 1.96, 2.00)
    h = np.array([1 / 8, 1 / 16, 1 / 32])
    assert np.all(errors < np.pi**4 * h**2 / 48)
    orders = np.log2(errors[:-1] / errors[1:])
    np.testing.assert_allclose(orders, 2.0, atol=0.1)


# ------------------------------------------------------------------- (4) energy in r-z
def test_axisymmetric_energy_conservation():
    # a pit: gravel fill (r < 10 m, z < 4 m) in silt, its own surface (n-factors) and the
    # ground's; sinusoid with trend; phase change; geothermal flux at the base
    gravel = Material("gravel", 2.2, 2.6, 2.0e6, 1.7e6, water_content=0.1, freezing_range=0.2)
    mesh = AxisymmetricMesh(graded(0.5, 12.0, 40.0), graded(0.25, 6.0, 25.0))
    rr, zz = mesh.nodes
    idx = np.zeros(mesh.shape, int)
    idx[(rr < 10.0) & (zz < 4.0)] = 1
    pit = SinusoidalSurface(0.5, 14.0, trend=0.05, n_thaw=1.2, n_freeze=0.6)
    ground = SinusoidalSurface(-3.0, 12.0, trend=0.05, n_thaw=0.9, n_freeze=0.8)
    segment = (mesh.r > 10.0).astype(int)
    res = simulate_section(
        mesh,
        [SILT, gravel],
        idx,
        [pit, ground],
        HeatFluxBase(0.06),
        initial=-2.0,
        surface_index=segment,
        years=2,
        dt=10 * DAY,
    )
    change = res.total_enthalpy - res.total_enthalpy[0]
    # Summed over the free nodes the conductive exchanges cancel exactly, so the balance misses
    # only the Newton residuals (each < tol V / dt, so at most n_steps * tol * sum(V) = 9e3 J
    # over the run) and round-off: observed 1.4 J of 1.3e13 J of enthalpy (1e-13); allow 1e-11
    scale = np.abs(res.total_enthalpy).max()
    np.testing.assert_allclose(change, res.boundary_heat_in, rtol=0, atol=1e-11 * scale)
    assert np.abs(res.boundary_heat_in).max() > 1e-2 * scale  # a real flux went through
    # the thawed pit fill (higher surface temperature, n-factors) has a deeper active layer
    assert res.column(0).annual_alt()[0] > res.column(mesh.x.size - 1).annual_alt()[0] > 0


# ------------------------------------------------- (4b) kept Newton matrix = exact Newton
@pytest.mark.parametrize("geometry", MESHES)
def test_kept_newton_matrix_gives_the_exact_newton_solution(geometry):
    # Phase change with lateral gradients: a warm surface segment (a pit or dump top) beside cold
    # ground, daily steps through a year. Both runs stop when every node's residual is below
    # tol V / dt, i.e. within 1e-3 J m-3 of the same step solution; a temperature error of
    # 1e-3 J m-3 / C (C ~ 2e6 J m-3 K-1) is 5e-10 K per step, < 2e-7 K over 365 steps: allow 1e-6 K.
    # Silt freezing over 0.3 K (a real soil's range): with SILT's 0.01 K a node can flip across a
    # kink of T(H) from one Newton iterate to the next in either method, and the run where it
    # happens splits that step, which changes the solution by the time-step error (mK), not by
    # the tolerance.
    silt = Material("silt", 1.5, 2.0, 2.5e6, 1.9e6, water_content=0.3, freezing_range=0.3)
    gravel = Material("gravel", 2.2, 2.6, 2.0e6, 1.7e6, water_content=0.1, freezing_range=0.2)
    mesh = MESHES[geometry](graded(0.5, 8.0, 30.0), graded(0.1, 3.0, 20.0))
    xx, zz = mesh.nodes
    idx = np.where((xx < 6.0) & (zz < 2.0), 1, 0)
    warm = SinusoidalSurface(1.0, 14.0, n_thaw=1.3, n_freeze=0.7)
    cold = SinusoidalSurface(-3.0, 12.0, n_thaw=0.9, n_freeze=0.8)
    runs = {}
    for reuse in (True, False):
        runs[reuse] = simulate_section(
            mesh, [silt, gravel], idx, [warm, cold], HeatFluxBase(0.06), initial=-1.5,
            surface_index=(mesh.x > 6.0).astype(int), years=1, dt=DAY, reuse_jacobian=reuse,
        )  # fmt: skip
    kept, exact = runs[True], runs[False]
    assert kept.split_steps == exact.split_steps == 0
    assert exact.factorizations == exact.newton_iterations > 365
    # a node crosses a kink of T(H) on most days here (observed 562 factorisations, 2011 exact)
    assert kept.factorizations < exact.factorizations / 2
    np.testing.assert_allclose(kept.temperature, exact.temperature, rtol=0, atol=1e-6)
    scale = np.abs(exact.total_enthalpy).max()
    np.testing.assert_allclose(kept.boundary_heat_in, exact.boundary_heat_in, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(kept.column(0).annual_alt(), exact.column(0).annual_alt(), atol=1e-6)
    assert kept.column(0).annual_alt()[0] > exact.column(mesh.x.size - 1).annual_alt()[0] > 0


# -------------------------------------------------------------------------- (5) bad input
def test_bad_meshes_raise_naming_the_field():
    z = np.array([0.0, 1.0, 2.0])
    for x, field in [
        (np.array([0.0]), "x"),
        (np.array([0.0, 2.0, 1.0]), "x"),
        (np.array([0.0, np.nan]), "x"),
    ]:
        with pytest.raises(InputError) as err:
            SectionMesh(x, z)
        assert err.value.field == field
    with pytest.raises(InputError) as err:
        AxisymmetricMesh(np.array([-1.0, 1.0]), z)
    assert err.value.field == "x"
    with pytest.raises(InputError) as err:
        SectionMesh(np.array([0.0, 1.0]), np.array([0.5, 1.0, 2.0]))
    assert err.value.field == "z"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"material_index": np.full((3, 2), 2)}, "material_index"),  # out of range
        ({"material_index": np.full((3, 2), -1)}, "material_index"),
        ({"material_index": np.zeros((2, 3), int)}, "material_index"),  # wrong shape
        ({"material_index": np.zeros((3, 2))}, "material_index"),  # not integers
        ({"surface_index": np.array([0, 1])}, "surface_index"),  # only one surface
        ({"surface_index": np.array([0])}, "surface_index"),
        ({"initial": np.zeros(5)}, "initial"),
        ({"initial": np.nan}, "initial"),
        ({"dt": 0.0}, "dt"),
    ],
)
def test_bad_run_inputs_raise_naming_the_field(kwargs, field):
    mesh = SectionMesh(np.array([0.0, 1.0]), np.array([0.0, 1.0, 2.0]))
    args = {"material_index": np.zeros((3, 2), int), "initial": 0.0, "years": 1, "dt": DAY} | kwargs
    index = args.pop("material_index")
    with pytest.raises(InputError) as err:
        simulate_section(mesh, [SILT, DRY], index, lambda t: 0.0, **args)
    assert err.value.field == field
