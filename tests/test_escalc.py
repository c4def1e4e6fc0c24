"""bayesmeta.escalc against R metafor 3.8-1 ``escalc`` (fixtures written by tests/reference/make_metafor_fixtures.R)
and against closed forms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesmeta.escalc import (
    ZeroCellRule,
    adjusted_cells,
    double_zero,
    hedges_correction,
    log_hr_from_logrank,
    log_odds_ratio,
    log_ratio_from_p,
    log_risk_ratio,
    mean_difference,
    risk_difference,
    se_from_p,
    standardized_mean_difference,
)

FIXTURES = json.loads((Path(__file__).resolve().parent / "reference" / "metafor_fixtures.json").read_text())
RTOL, ATOL = 1e-8, 1e-12
MEANS = {"MD": mean_difference, "SMD": standardized_mean_difference}
COUNTS = {"RR": log_risk_ratio, "OR": log_odds_ratio, "RD": risk_difference}


def reference(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in np.atleast_1d(values)], dtype=float)


def case_id(case: dict) -> str:
    return f"{case['name']}-{case['measure']}-add{case['add']:g}-{case['to']}-drop00={case['drop00']}"


def compute(case: dict) -> tuple[np.ndarray, np.ndarray]:
    x = {k: reference(v) for k, v in case["inputs"].items()}
    if case["measure"] in MEANS:
        yi, vi = MEANS[case["measure"]](x["m1i"], x["sd1i"], x["n1i"], x["m2i"], x["sd2i"], x["n2i"])
    else:
        yi, vi = COUNTS[case["measure"]](x["ai"], x["n1i"], x["ci"], x["n2i"], add=case["add"], to=case["to"],
                                          drop00=case["drop00"])
    return np.asarray(yi), np.asarray(vi)


@pytest.mark.parametrize("case", FIXTURES["escalc"], ids=case_id)
def test_matches_metafor_escalc(case):
    yi, vi = compute(case)
    np.testing.assert_allclose(yi, reference(case["yi"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(vi, reference(case["vi"]), rtol=RTOL, atol=ATOL)


def test_the_fixture_covers_every_measure_and_zero_cell_rule():
    cases = FIXTURES["escalc"]
    assert {c["measure"] for c in cases} == {"MD", "SMD", "RR", "OR", "RD"}
    for measure in ("RR", "OR", "RD"):
        rules = {(c["to"], c["drop00"]) for c in cases if c["measure"] == measure and c["name"] == "zero_cells"}
        assert rules == {(to, drop) for to in ("only0", "all", "if0all", "none") for drop in (False, True)}
    # the fixtures hold missing values where escalc gives none: the NaN convention is under test too
    assert any(v is None for c in cases for v in c["yi"])


@pytest.mark.parametrize("case", FIXTURES["logrank"], ids=lambda c: c["name"])
def test_log_hr_from_logrank_matches_peto_and_survdiff(case):
    yi, vi = log_hr_from_logrank(reference(case["o_minus_e"]), reference(case["v"]))
    np.testing.assert_allclose(yi, reference(case["yi"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(vi, reference(case["vi"]), rtol=RTOL, atol=ATOL)


def test_ratio_with_exact_p_matches_r_qnorm():
    ref = FIXTURES["ratio_p"]
    yi, vi = log_ratio_from_p(ref["ratio"], ref["p"])
    np.testing.assert_allclose(yi, ref["yi"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(vi, ref["vi"], rtol=RTOL, atol=ATOL)


# --- closed forms ----------------------------------------------------------------------------------------------------


def test_hedges_correction_closed_forms():
    # J(2) = Gamma(1) / (1 * Gamma(1/2)) = 1/sqrt(pi); J(3) = Gamma(3/2) / (sqrt(3/2) Gamma(1)) = sqrt(pi/6)
    assert hedges_correction(2) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-14)
    assert hedges_correction(3) == pytest.approx(math.sqrt(math.pi / 6), rel=1e-14)
    # Hedges' approximation 1 - 3/(4m - 1) is within 0.04/m^2 (relative) of the exact factor
    m = np.array([10.0, 100.0, 1e3, 1e4])
    j = hedges_correction(m)
    assert np.all(np.abs(j - (1 - 3 / (4 * m - 1))) / j < 0.04 / m**2)
    assert np.all(np.abs(j - (1 - 3 / (4 * m - 1))) / j > 0.02 / m**2)  # and not equal to it
    assert np.isnan(hedges_correction(1)) and np.isnan(hedges_correction(0.5))


def test_smd_by_hand():
    # 12 and 3 patients: pooled SD sqrt((11*9 + 2*4)/13), d = 1.5 / SD, g = J(13) d
    g, v = standardized_mean_difference(7, 3, 12, 5.5, 2, 3)
    d = 1.5 / math.sqrt((11 * 9 + 2 * 4) / 13)
    j = math.gamma(6.5) / (math.sqrt(6.5) * math.gamma(6))
    assert g == pytest.approx(j * d, rel=1e-13)
    assert v == pytest.approx(1 / 12 + 1 / 3 + (j * d) ** 2 / 30, rel=1e-13)


def test_log_rr_zero_cell_by_hand():
    # a = 0 of 10, c = 5 of 10: cells + 0.5, arms + 1
    yi, vi = log_risk_ratio(0, 10, 5, 10)
    assert yi == pytest.approx(math.log(0.5 / 5.5), rel=1e-14)
    assert vi == pytest.approx(1 / 0.5 - 1 / 11 + 1 / 5.5 - 1 / 11, rel=1e-14)


def test_if0all_is_triggered_only_by_studies_that_are_kept():
    a, n1, c, n2 = [0, 5, 3], [10, 30, 20], [0, 7, 6], [12, 28, 22]
    assert adjusted_cells(a, n1, c, n2, to="if0all").added.all()
    cells = adjusted_cells(a, n1, c, n2, to="if0all", drop00=True)
    assert list(cells.dropped) == [True, False, False] and not cells.added.any()
    assert np.isnan(cells.a[0]) and list(cells.a[1:]) == [5, 3]


def test_double_zero_covers_no_events_and_only_events():
    assert list(double_zero([0, 10, 0, 3], [10, 10, 5, 9], [0, 8, 8, 0], [12, 8, 8, 9])) == [True, True, False,
                                                                                              False]


def test_logrank_and_p_closed_forms():
    yi, vi = log_hr_from_logrank(-8.0, 16.0)
    assert (yi, vi) == (-0.5, 1 / 16)
    assert se_from_p(math.log(0.5), 0.05) == pytest.approx(math.log(2) / 1.959963984540054, rel=1e-12)


def test_zero_cell_rule_defaults_and_validation():
    rule = ZeroCellRule()
    assert (rule.add, rule.to) == (0.5, "only0")
    assert rule.drops("RR") and rule.drops("OR") and not rule.drops("RD")
    assert not ZeroCellRule(drop00=False).drops("OR") and ZeroCellRule(drop00=True).drops("RD")
    for bad in (dict(add=-0.5), dict(add=float("nan")), dict(to="some0"), dict(drop00="yes")):
        with pytest.raises(ValueError):
            ZeroCellRule(**bad)


@pytest.mark.parametrize("call", [
    lambda: mean_difference(1, -1, 10, 0, 1, 10),
    lambda: standardized_mean_difference(1, 1, 0, 0, 1, 10),
    lambda: log_risk_ratio(11, 10, 3, 10),
    lambda: log_odds_ratio(-1, 10, 3, 10),
    lambda: risk_difference(1, 0, 3, 10),
    lambda: risk_difference(1, 10, 3, 10, to="sometimes"),
    lambda: log_hr_from_logrank(-3, 0),
    lambda: log_hr_from_logrank(np.nan, 4),
    lambda: log_ratio_from_p(0, 0.05),
    lambda: log_ratio_from_p(1, 0.05),
    lambda: log_ratio_from_p(2, 0),
])
def test_impossible_inputs_raise(call):
    with pytest.raises(ValueError):
        call()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 300), st.integers(1, 300), st.floats(0, 1), st.floats(0, 1)),
                min_size=1, max_size=10),
       st.sampled_from(["only0", "all", "if0all"]))
def test_corrected_counts_always_give_finite_effects_unless_dropped(tables, to):
    n1 = np.array([t[0] for t in tables], dtype=float)
    n2 = np.array([t[1] for t in tables], dtype=float)
    a, c = np.round(n1 * [t[2] for t in tables]), np.round(n2 * [t[3] for t in tables])
    for function in COUNTS.values():
        yi, vi = (np.atleast_1d(x) for x in function(a, n1, c, n2, to=to, drop00=True))
        kept = ~np.atleast_1d(double_zero(a, n1, c, n2))
        assert np.isfinite(yi[kept]).all() and (vi[kept] > 0).all()
        assert np.isnan(yi[~kept]).all() and np.isnan(vi[~kept]).all()
