import math

import numpy as np

from bayesmeta.cli.options import Measure, measure_value, plain


def test_plain_turns_non_finite_numbers_into_none():
    assert plain(float("nan")) is None
    assert plain(math.inf) is None
    assert plain(np.float64(-np.inf)) is None


def test_plain_unwraps_numpy_scalars():
    out = plain(np.int64(3))
    assert out == 3 and type(out) is int
    out = plain(np.float32(0.5))
    assert out == 0.5 and type(out) is float
    assert plain(np.bool_(True)) is True
    assert plain("HR") == "HR"


def test_measure_value_is_the_name_or_none():
    assert measure_value(Measure.RR) == "RR"
    assert measure_value(None) is None
    assert [m.value for m in Measure] == ["HR", "RR", "OR", "MD", "SMD", "RD"]
