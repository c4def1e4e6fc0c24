import math

import numpy as np
import pytest

from bayesmeta.benefit import Benefit
from bayesmeta.errors import InputError
from bayesmeta.scales import null_value, prob_column, to_analysis, to_reported


@pytest.mark.parametrize("measure", ["HR", "RR", "OR"])
def test_ratio_measures_use_the_log_scale(measure):
    assert null_value(measure) == 1.0
    assert to_analysis(0.7, measure) == pytest.approx(math.log(0.7), abs=1e-15)
    assert to_analysis(1.0, measure) == 0.0
    np.testing.assert_allclose(to_reported(np.array([-1.0, 0.0, 0.5]), measure), [math.exp(-1), 1.0, math.exp(0.5)])


@pytest.mark.parametrize("measure", ["MD", "SMD"])
def test_difference_measures_are_unchanged(measure):
    assert null_value(measure) == 0.0
    assert to_analysis(-0.3, measure) == -0.3
    out = to_reported([-1, 0, 2], measure)
    assert out.dtype == float
    np.testing.assert_array_equal(out, [-1.0, 0.0, 2.0])


def test_round_trip_on_a_ratio():
    values = np.array([0.25, 0.7, 1.0, 3.5])
    back = to_reported(np.array([to_analysis(v, "HR") for v in values]), "HR")
    np.testing.assert_allclose(back, values, rtol=1e-14)


@pytest.mark.parametrize("bad", [0.0, -0.5])
def test_a_non_positive_ratio_threshold_is_refused(bad):
    with pytest.raises(InputError, match="must be positive"):
        to_analysis(bad, "HR")


def test_a_negative_difference_threshold_is_accepted():
    assert to_analysis(-2.0, "MD") == -2.0


def test_probability_column_names():
    assert prob_column(1.0, Benefit.BELOW) == "prob_below_1"
    assert prob_column(0.7, "below") == "prob_below_0.7"
    assert prob_column(1.25, Benefit.ABOVE) == "prob_above_1.25"
    assert prob_column(0.0, "above") == "prob_above_0"
