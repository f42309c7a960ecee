"""Permafrost extent, P(MAGT < 0) and the Cheng (1984) thermal-stability classes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfatlas.errors import ConfigError, InputError
from pfatlas.grid import grid_from_bbox, wrap_on_grid
from pfatlas.permafrost import (
    STABILITY_CLASSES,
    permafrost_extent,
    permafrost_mask_kernel,
    permafrost_probability_kernel,
    stability_class_table,
    stability_codes,
    thermal_stability,
)

finite = st.floats(-20, 20, allow_nan=False)
positive = st.floats(0.01, 5, allow_nan=False)


def _phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@settings(max_examples=200, deadline=None)
@given(finite, finite, positive)
def test_probability_decreases_with_magt_and_is_symmetric(m1, m2, se):
    p = permafrost_probability_kernel(np.array([m1, m2, -m1]), np.array([se, se, se])).astype(float)
    assert 0 <= p.min() and p.max() <= 1
    if m1 < m2:
        assert p[0] >= p[1]
    np.testing.assert_allclose(p[0] + p[2], 1.0, atol=1e-6)  # Phi(-x) = 1 - Phi(x); float32 output
    assert (p[0] >= 0.5) if m1 < 0 else (p[0] <= 0.5)  # >= : float32 rounds Phi(tiny) to 0.5


@settings(max_examples=100, deadline=None)
@given(positive, positive)
def test_probability_grows_with_se_above_zero_and_shrinks_below(se1, se2):
    """A warm cell (MAGT > 0) gets more likely permafrost as the SE grows; a cold one less."""
    lo, hi = sorted((se1, se2))
    warm = permafrost_probability_kernel(np.array([1.0, 1.0]), np.array([lo, hi]))
    cold = permafrost_probability_kernel(np.array([-1.0, -1.0]), np.array([lo, hi]))
    assert warm[0] <= warm[1] and cold[0] >= cold[1]


def test_probability_reference_values_and_limits():
    m = np.array([-1.0, 0.0, 0.5, -2.0, 1.0, -1.0, 0.0, np.nan, 1.0])
    s = np.array([1.0, 0.3, 0.5, 1.0, 0.0, 0.0, 0.0, 1.0, np.nan])
    p = permafrost_probability_kernel(m, s)
    expected = [_phi(1), 0.5, _phi(-1), _phi(2), 0.0, 1.0, 0.5]  # Phi(-m/se); se = 0: a step
    np.testing.assert_allclose(p[:7], expected, atol=1e-7)  # float32 round-off
    assert np.isnan(p[7:]).all() and p.dtype == np.float32


def test_mask_is_magt_below_zero():
    m = np.array([-0.01, 0.0, 0.01, np.nan, -5.0])
    assert permafrost_mask_kernel(m).tolist() == [1, 0, 0, 255, 1]


def test_stability_classes_at_the_break_values():
    # a value on a break belongs to the warmer class; just below it to the colder one
    breaks = (-5.0, -3.0, -1.5, -0.5, 0.0)
    m = np.array([-5.0001, -5.0, -3.0001, -3.0, -1.5001, -1.5, -0.5001, -0.5, -1e-6, 0.0, 3.0, -30.0, np.nan])
    codes = stability_codes(m, breaks)
    assert codes.tolist() == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 1, 255]
    assert codes.dtype == np.uint8
    # permafrost map and class 6 agree at the 0 degC break
    assert (permafrost_mask_kernel(m) == 0).tolist()[:12] == (codes == 6).tolist()[:12]


def test_stability_breaks_are_configurable_and_checked():
    assert stability_codes(np.array([-4.0, -2.0]), (-4.0, -2.0, -1.0, -0.2, 0.0)).tolist() == [2, 3]
    with pytest.raises(ConfigError, match="thermal_stability.breaks"):
        stability_codes(np.array([0.0]), (-5.0, -3.0, -3.0, -0.5, 0.0))
    with pytest.raises(ConfigError, match="thermal_stability.breaks"):
        stability_codes(np.array([0.0]), (-5.0, -3.0, 0.0))


def test_class_table_names_in_english_and_chinese():
    t = stability_class_table()
    assert t["code"].tolist() == [1, 2, 3, 4, 5, 6]
    assert t["name_en"].tolist() == [
        "extremely stable", "stable", "sub-stable", "transitional", "unstable", "no permafrost",
    ]  # fmt: skip
    assert t["name_zh"].tolist() == ["极稳定型", "稳定型", "亚稳定型", "过渡型", "不稳定型", "无多年冻土"]
    assert (
        t["magt_range_degC"].tolist()[0] == "MAGT < -5" and t["magt_range_degC"].tolist()[-1] == "MAGT >= 0"
    )
    assert t.loc[2, "magt_min_degC"] == -3.0 and t.loc[2, "magt_max_degC"] == -1.5
    assert len(STABILITY_CLASSES) == 6 and len({c.color for c in STABILITY_CLASSES}) == 6


def test_lazy_maps_equal_eager_at_odd_chunks():
    gbox = grid_from_bbox((99.25, 38.05, 99.27, 38.065), 30.0)
    rng = np.random.default_rng(0)
    m = rng.normal(-1, 2, gbox.shape).astype("float32")
    m[3, 4] = np.nan
    se = rng.uniform(0.1, 0.6, gbox.shape).astype("float32")
    magt = wrap_on_grid(m, gbox, "magt", units="degC", long_name="MAGT")
    magt_se = wrap_on_grid(se, gbox, "magt_se", units="degC", long_name="SE")
    eager = permafrost_extent(magt, magt_se)
    lazy = permafrost_extent(magt.chunk(17), magt_se.chunk(17))
    assert lazy["permafrost"].chunks is not None
    for v in ("permafrost", "permafrost_probability"):
        np.testing.assert_array_equal(lazy[v].values, eager[v].values)
    assert eager["permafrost"].dtype == np.uint8 and eager["permafrost"].values[3, 4] == 255
    assert eager["permafrost_probability"].attrs["units"] == "1"
    st_eager = thermal_stability(magt)
    st_lazy = thermal_stability(magt.chunk(23))
    np.testing.assert_array_equal(st_lazy.values, st_eager.values)
    assert st_eager.attrs["units"] == "class" and st_eager.values[3, 4] == 255


def test_bad_inputs_name_the_field():
    with pytest.raises(InputError, match="field 'magt'"):
        thermal_stability(np.zeros((2, 2)))
    gbox = grid_from_bbox((99.25, 38.05, 99.27, 38.065), 30.0)
    magt = wrap_on_grid(np.zeros(gbox.shape, "float32"), gbox, "magt", units="degC", long_name="MAGT")
    with pytest.raises(InputError, match="field 'magt_se'"):
        permafrost_extent(magt, np.zeros((2, 2)))
