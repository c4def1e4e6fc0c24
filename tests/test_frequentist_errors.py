"""Bad input to the frequentist engine: clear InputError/ModelError, never a silent NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayesmeta.errors import InputError, ModelError
from bayesmeta.frequentist import (
    cumulative,
    egger_test,
    leave_one_out,
    mantel_haenszel,
    rma,
    spearman_correlation,
    subgroup_analysis,
    tau2_ci_qprofile,
)

Y = [0.1, 0.3, -0.2, 0.4]
V = [0.02, 0.03, 0.05, 0.04]


def arms(events_treatment, total_treatment, events_control, total_control) -> dict:
    """The four arm-count columns as the Mantel-Haenszel verb takes them."""
    return {"events_treatment": events_treatment, "total_treatment": total_treatment,
            "events_control": events_control, "total_control": total_control}


@pytest.mark.parametrize(
    "yi,vi,match",
    [
        ([], [], "at least 1 study"),
        ([0.1, np.nan], [0.1, 0.2], "study 2"),
        ([0.1, 0.2], [0.1, -0.2], "positive; study 2"),
        ([0.1, 0.2], [0.1, 0.0], "positive"),
        ([0.1, 0.2], [0.1], "must match"),
        ([0.1, np.inf], [0.1, 0.2], "infinite"),
        (["a", "b"], [0.1, 0.2], "numeric"),
    ],
)
def test_rma_rejects_bad_effects(yi, vi, match):
    with pytest.raises((InputError, ModelError), match=match):
        rma(yi, vi)


def test_rma_rejects_unknown_method_test_and_level():
    with pytest.raises(ModelError, match="unknown method"):
        rma(Y, V, method="SJ")
    with pytest.raises(ModelError, match="unknown test"):
        rma(Y, V, test="t")
    with pytest.raises(InputError, match="level"):
        rma(Y, V, level=95)


def test_too_few_studies():
    with pytest.raises(ModelError, match="Knapp-Hartung"):
        rma([0.1], [0.1], test="knha")
    with pytest.raises(ModelError, match="needs more studies"):
        rma([0.1, 0.2], [0.1, 0.1], method="REML", mods=[1.0, 2.0])
    with pytest.raises(ModelError, match="at least 3"):
        egger_test([0.1, 0.2], [0.1, 0.1])
    with pytest.raises(ModelError, match="at least 2"):
        tau2_ci_qprofile([0.1], [0.1])
    with pytest.raises(ModelError, match="at least 2"):
        leave_one_out([0.1], [0.1])


def test_bad_moderators():
    with pytest.raises(ModelError, match="collinear"):
        rma(Y, V, mods=[1.0, 1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="4 rows"):
        rma(Y, V, mods=[1.0, 2.0])
    with pytest.raises(InputError, match="names"):
        rma(Y, V, mods=[1.0, 2.0, 3.0, 5.0], mod_names=["a", "b"])
    with pytest.raises(InputError, match="study 3"):
        rma(Y, V, mods=[1.0, 2.0, np.nan, 5.0])


def test_knha_exact_fit_is_refused():
    with pytest.raises(ModelError, match="scale factor is zero"):
        rma([0.2, 0.2, 0.2], [0.1, 0.2, 0.3], method="FE", test="knha")


def test_mantel_haenszel_bad_counts():
    with pytest.raises(InputError, match="events out of"):
        mantel_haenszel(arms([12], [10], [3], [10]))
    with pytest.raises(InputError, match="negative"):
        mantel_haenszel(arms([-1], [10], [3], [10]))
    with pytest.raises(ModelError, match="unknown"):
        mantel_haenszel(arms([1], [10], [3], [10]), measure="RD")
    with pytest.raises(ModelError, match="undefined"):
        mantel_haenszel(arms([0, 0], [10, 12], [3, 2], [10, 11]))


def test_subgroup_and_order_inputs():
    with pytest.raises(ModelError, match="two levels"):
        subgroup_analysis(Y, V, ["a"] * 4)
    with pytest.raises(InputError, match="missing at study 2"):
        subgroup_analysis(Y, V, ["a", None, "b", "b"])
    with pytest.raises(InputError, match="4 studies"):
        cumulative(Y, V, order=[1, 2])
    with pytest.raises(InputError, match="more than once"):
        leave_one_out(Y, V, study=["a", "a", "b", "c"])


def test_spearman_inputs():
    with pytest.raises(ModelError, match="constant"):
        spearman_correlation([1, 1, 1], [1, 2, 3])
    with pytest.raises(InputError, match="paired"):
        spearman_correlation([1, 2, 3], [1, 2])


def test_no_nan_in_results_of_edge_cases():
    """Single studies, homogeneous sets and k = 2 give finite numbers (or None where metafor has none)."""
    fits = [
        rma([0.3], [0.02], method="DL"),
        rma([0.1, 0.1], [0.02, 0.03], method="REML"),
        rma([0.1, 0.12, 0.11], [0.5, 0.4, 0.6], method="PM", test="knha"),
    ]
    for fit in fits:
        for key, value in fit.as_dict().items():
            if isinstance(value, float):
                assert math.isfinite(value), key
    table = cumulative([0.1, 0.2, 0.5], [0.1, 0.2, 0.1], method="REML", test="knha")
    assert np.isfinite(table.to_numpy(dtype=float)).all()
