"""The two-phase Neumann thaw used for the active layer next to mines: against the reference root
of the solver's verification (tests/test_thermal_column.py), its one-phase (Stefan) limit, and the
thaw-season mean of a sinusoid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import erf

from pfatlas.activelayer.neumann import neumann_lambda, thaw_season_mean_c, warming_ratio
from pfatlas.activelayer.stefan import stefan_depth_m
from pfatlas.activelayer.thawing_index import cdays_to_cseconds
from test_thermal_column import neumann_lambda as reference_lambda

# a silty soil: k_t, C_t, k_f, C_f, Q_L [SI]
SOIL = (1.2, 2.4e6, 1.9, 1.9e6, 334000.0 * 1500.0 * 0.15)


@pytest.mark.parametrize(("t_s", "t_i"), [(5.0, -2.0), (13.0, -0.5), (13.0, -4.0), (2.0, -8.0), (10.0, 0.0)])
def test_root_matches_the_reference_root(t_s, t_i):
    k_t, c_t, k_f, c_f, q = SOIL
    lam = neumann_lambda(k_t, c_t, k_f, c_f, q, t_s, t_i)
    ref = reference_lambda(k_t, c_t, k_f, c_f, q, t_s, abs(t_i))
    assert lam == pytest.approx(ref, rel=1e-8)


def test_one_phase_limit_is_stefan_for_a_small_stefan_number():
    """With T_i = 0: lam exp(lam^2) erf(lam) = Ste / sqrt(pi), Ste = C_t T_s / Q_L; the depth after
    a season tends to Stefan's sqrt(2 k T_s t / Q_L) as Ste -> 0 (relative gap ~ Ste / 6)."""
    k_t, c_t, k_f, c_f, q = SOIL
    t_s = np.array([0.5, 2.0, 8.0])
    lam = neumann_lambda(k_t, c_t, k_f, c_f, q, t_s, 0.0)
    ste = c_t * t_s / q
    np.testing.assert_allclose(lam * np.exp(lam**2) * erf(lam), ste / np.sqrt(np.pi), rtol=1e-8)
    t = 120 * 86400.0
    x = 2 * lam * np.sqrt(k_t / c_t * t)
    stefan = stefan_depth_m(k_t, 1.0, cdays_to_cseconds(t_s * 120), q / 0.15 / 1500.0, 1500.0, 0.15, 0.0)
    assert np.all(np.abs(x / stefan - (1 - ste / 6)) <= ste**2)  # the next term of the expansion


def test_warmer_permafrost_thaws_deeper_and_none_left_is_nan():
    k_t, rho_d, w, w_u, latent = 1.2, 1500.0, 0.2, 0.05, 334000.0
    r = warming_ratio(13.0, np.array([-2.0, -2.0, -2.0, -0.2]), np.array([0.0, 0.3, 1.0, 0.3]), k_t, rho_d, w,
                      w_u, latent)  # fmt: skip
    assert r[0] == pytest.approx(1.0, abs=1e-12)
    assert 1.0 < r[1] < r[2]
    assert np.isnan(r[3])
    # a cooling lowers it
    assert warming_ratio(13.0, -1.0, -0.5, k_t, rho_d, w, w_u, latent) < 1.0


@pytest.mark.parametrize(("mean", "amp"), [(-5.0, 12.0), (0.0, 10.0), (3.0, 9.0)])
def test_thaw_season_mean_is_the_mean_over_the_days_above_zero(mean, amp):
    f = lambda t: mean + amp * np.cos(2 * np.pi * t)  # noqa: E731
    days = np.linspace(0, 1, 200001)
    warm = days[f(days) > 0]
    above = quad(lambda t: max(f(t), 0.0), 0, 1, limit=200)[0]
    assert thaw_season_mean_c(mean, amp) == pytest.approx(above / (warm.size / days.size), rel=1e-4)
    assert np.isnan(thaw_season_mean_c(-13.0, 12.0))
