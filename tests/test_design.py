"""Meta-regression design matrices: treatment coding, reference levels, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesmeta.design import design_matrix, reference_level
from bayesmeta.errors import InputError


def test_numeric_and_factor_columns():
    cov = pd.DataFrame(
        {
            "platinum": ["oxaliplatin", "cisplatin", "oxaliplatin", "other", "oxaliplatin", "cisplatin"],
            "year": [2019, 2020, 2021, 2022, 2023, 2024],
        }
    )
    x, names = design_matrix(cov, ["platinum", "year"])
    assert names == ("platinum[cisplatin]", "platinum[other]", "year")
    np.testing.assert_array_equal(x[:, 0], [0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(x[:, 1], [0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(x[:, 2], cov["year"].to_numpy(dtype=float))


def test_reference_level_is_most_frequent_with_alphabetical_ties():
    assert reference_level(pd.Series(["b", "a", "b", "a", "c"])) == "a"
    assert reference_level(pd.Series(["b", "c", "b", "a"])) == "b"
    x, names = design_matrix(pd.DataFrame({"f": ["z", "y", "z", "y"]}), ["f"])
    assert names == ("f[z]",)
    np.testing.assert_array_equal(x[:, 0], [1, 0, 1, 0])


def test_boolean_column_is_a_factor():
    x, names = design_matrix(pd.DataFrame({"tace": [True, False, False]}), ["tace"])
    assert names == ("tace[True]",)
    np.testing.assert_array_equal(x[:, 0], [1, 0, 0])


def test_no_columns_gives_an_empty_design():
    x, names = design_matrix(pd.DataFrame({"a": [1, 2]}), [])
    assert x.shape == (2, 0) and names == ()


def test_missing_column_names_the_valid_ones():
    with pytest.raises(InputError, match=r"column 'dose'.*valid: a, b"):
        design_matrix(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}), ["dose"])


def test_single_level_factor():
    with pytest.raises(InputError, match="single level"):
        design_matrix(pd.DataFrame({"f": ["x", "x", "x"]}), ["f"])


def test_rank_deficient_designs():
    with pytest.raises(InputError, match="rank-deficient"):
        design_matrix(pd.DataFrame({"a": [1.0, 1.0, 1.0]}), ["a"])
    with pytest.raises(InputError, match="rank-deficient"):
        design_matrix(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 4.0, 6.0]}), ["a", "b"])
    with pytest.raises(InputError, match="more coefficients than studies"):
        design_matrix(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 5.0]}), ["a", "b"])


def test_missing_value_gives_spreadsheet_row():
    err = pytest.raises(InputError, design_matrix, pd.DataFrame({"a": [1.0, np.nan, 2.0]}), ["a"])
    assert err.value.row == 3 and err.value.column == "a"
    err = pytest.raises(InputError, design_matrix, pd.DataFrame({"f": ["x", "y", None]}), ["f"])
    assert err.value.row == 4
