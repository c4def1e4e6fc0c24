"""bayesmeta.mcmc.shape_check: PyTensor's SpecifyShape compiled by numba without a formatted message still checks
the shape, and replaces PyTensor's implementation in the NUTS models' graphs."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def specify_shape_fn():
    import pytensor
    import pytensor.tensor as pt

    from bayesmeta.mcmc import shape_check

    shape_check.install()
    x = pt.matrix("x")
    y = pt.specify_shape(x, (3, None)) * 2.0
    return pytensor.function([x], y, mode="NUMBA")


def test_the_right_shape_passes_and_the_values_are_computed(specify_shape_fn):
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(specify_shape_fn(x), 2.0 * x)
    np.testing.assert_array_equal(specify_shape_fn(np.ones((3, 5))), np.full((3, 5), 2.0))


def test_a_wrong_shape_still_raises(specify_shape_fn):
    with pytest.raises(AssertionError, match="SpecifyShape"):
        specify_shape_fn(np.ones((4, 2)))


def test_the_registered_check_formats_no_text():
    import pytensor.tensor as pt
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    from bayesmeta.mcmc import shape_check

    shape_check.install()
    node = pt.specify_shape(pt.matrix("x"), (3, None)).owner
    func, key = numba_funcify_and_cache_key(node.op, node=node)
    source = func.py_func.__source__
    assert "assert x.shape[0] == shape_0" in source and "x.shape[1]" not in source
    assert "{" not in source  # no f-string: nothing for numba to format
    assert key is not None  # PyTensor still caches the compiled check
