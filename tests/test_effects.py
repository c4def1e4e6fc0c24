"""Effect derivations against closed forms, metafor escalc values and the HAIC coverage in data/README.md."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from bayesmeta.data import load_outcomes, load_studies
from bayesmeta.effects import (
    EFFECT_COLUMNS,
    derive_effects,
    effects_for,
    log_hr_from_medians,
    log_or_from_counts,
    log_ratio_from_ci,
    log_rr_from_counts,
    min_se_log_hr,
    se_from_p,
)
from bayesmeta.errors import InputError
from conftest import HAIC_LEVELS, HAIC_OUTCOMES, HAIC_STUDIES
from bayesmeta.escalc import double_zero
from bayesmeta.plausible import MAX_Z_FROM_MEDIAN, RANGES

REFERENCE = str(Path(__file__).resolve().parent / "reference")
Z975 = 1.959963984540054


@pytest.fixture(scope="module")
def studies() -> pd.DataFrame:
    return load_studies(HAIC_STUDIES, HAIC_LEVELS)


@pytest.fixture(scope="module")
def effects(studies) -> pd.DataFrame:
    return derive_effects(load_outcomes(HAIC_OUTCOMES, studies=studies), studies)


def row_of(effects: pd.DataFrame, study: str, outcome: str) -> pd.Series:
    match = effects[(effects.study_id == study) & (effects.outcome == outcome)]
    assert len(match) == 1
    return match.iloc[0]


# --- low-level functions -----------------------------------------------------------------------------------


def test_log_ratio_from_ci_closed_form():
    y, se = log_ratio_from_ci(0.35, 0.26, 0.48)
    assert y == pytest.approx(math.log(0.35), abs=1e-12)
    assert se == pytest.approx((math.log(0.48) - math.log(0.26)) / (2 * Z975), abs=1e-12)


def test_log_ratio_from_ci_recovers_a_symmetric_interval_at_any_level():
    y_true, se_true = np.array([-0.7, 0.2, 1.1]), np.array([0.1, 0.35, 0.8])
    for level in (0.9, 0.95, 0.99):
        z = stats.norm.ppf(0.5 + level / 2)
        y, se = log_ratio_from_ci(np.exp(y_true), np.exp(y_true - z * se_true), np.exp(y_true + z * se_true),
                                  level=level)
        np.testing.assert_allclose(y, y_true, atol=1e-12)
        np.testing.assert_allclose(se, se_true, atol=1e-12)


@pytest.mark.parametrize("args", [(0.0, 0.1, 0.5), (0.3, 0.5, 0.4), (0.3, -0.1, 0.5)])
def test_log_ratio_from_ci_rejects_impossible_input(args):
    with pytest.raises(ValueError):
        log_ratio_from_ci(*args)


def test_se_from_p_round_trip_of_a_wald_test():
    y = np.array([-1.2, -0.3, 0.05, 0.8])
    se = np.array([0.3, 0.2, 0.04, 0.5])
    p = 2 * stats.norm.sf(np.abs(y) / se)
    np.testing.assert_allclose(se_from_p(y, p), se, rtol=1e-10)


def test_se_from_p_by_hand():
    # Chang 2024 OS: HR 0.43, p < 0.001 -> z = 3.290527 (standard normal table)
    assert se_from_p(math.log(0.43), 0.001) == pytest.approx(0.8439701 / 3.2905267, rel=1e-6)


def test_se_from_p_bound_is_the_largest_se_consistent_with_the_report():
    y = math.log(0.5)
    bound = se_from_p(y, 0.001)
    for p_true in (0.0009, 0.0001, 1e-6):
        assert se_from_p(y, p_true) < bound


@pytest.mark.parametrize("y, p", [(0.0, 0.05), (0.3, 0.0), (0.3, 1.0), (0.3, 1.2), (np.nan, 0.05)])
def test_se_from_p_rejects_unidentifiable_cases(y, p):
    with pytest.raises(ValueError):
        se_from_p(y, p)


def test_log_hr_from_medians_closed_form():
    assert log_hr_from_medians(9.4, 4.8) == pytest.approx(math.log(4.8 / 9.4), abs=1e-12)
    with pytest.raises(ValueError):
        log_hr_from_medians(np.nan, 19.9)


def test_log_hr_from_medians_matches_exponential_simulation():
    """Exponential survival with given medians: the ratio of maximum-likelihood hazards estimates the HR."""
    rng = np.random.default_rng(20070607)
    m_t, m_c, n = 14.0, 7.0, 200_000
    t = rng.exponential(m_t / math.log(2), n)
    c = rng.exponential(m_c / math.log(2), n)
    log_hr_mle = math.log((n / t.sum()) / (n / c.sum()))
    assert log_hr_from_medians(m_t, m_c) == pytest.approx(log_hr_mle, abs=0.02)


def test_min_se_log_hr_is_attained_by_a_one_to_one_trial_with_all_events():
    assert min_se_log_hr(100) == pytest.approx(0.2)
    n = 70
    assert min_se_log_hr(n) ** 2 == pytest.approx(1 / (n / 2) + 1 / (n / 2))
    assert 1 / 45 + 1 / 25 > min_se_log_hr(n) ** 2  # unequal allocation can only increase the variance


def test_log_rr_from_counts_reproduces_metafor_bcg():
    bcg = pd.read_csv(f"{REFERENCE}/bcg.csv")
    y, v, corrected = log_rr_from_counts(bcg.events_treatment, bcg.total_treatment, bcg.events_control,
                                         bcg.total_control)
    np.testing.assert_allclose(y, bcg.yi, atol=1e-6)
    np.testing.assert_allclose(v, bcg.vi, atol=1e-6)
    assert not corrected.any()


def test_log_or_from_counts_reproduces_metafor_crins2014():
    crins = pd.read_csv(f"{REFERENCE}/crins2014.csv")
    y, v, corrected = log_or_from_counts(crins.events_treatment, crins.total_treatment, crins.events_control,
                                         crins.total_control)
    np.testing.assert_allclose(y, crins.yi, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(v), crins.sei, atol=1e-6)
    assert list(corrected) == [s.startswith("Gras") for s in crins.study]


def test_log_rr_zero_cell_correction_by_hand():
    # a=0 of 10, c=5 of 10: cells +0.5, arms +1 -> y = ln(0.5/11 / (5.5/11)), var = 2 - 1/11 + 1/5.5 - 1/11
    y, v, corrected = log_rr_from_counts(0, 10, 5, 10)
    assert corrected is True
    assert y == pytest.approx(math.log(0.5 / 5.5))
    assert v == pytest.approx(2 - 1 / 11 + 1 / 5.5 - 1 / 11)
    # a cell n1 - a = 0 (every treated patient responds) also triggers the correction
    y, v, corrected = log_rr_from_counts(10, 10, 5, 10)
    assert corrected is True
    assert y == pytest.approx(math.log((10.5 / 11) / (5.5 / 11)))


def test_counts_with_no_events_in_either_arm_are_excluded():
    y, v, corrected = log_rr_from_counts([0, 3], [10, 10], [0, 4], [12, 12])
    assert np.isnan(y[0]) and np.isnan(v[0]) and not corrected[0]
    assert np.isfinite(y[1]) and np.isfinite(v[1])
    assert list(double_zero([0, 3], [10, 10], [0, 4], [12, 12])) == [True, False]
    y, v, _ = log_or_from_counts(0, 10, 0, 12)
    assert np.isnan(y) and np.isnan(v)


def test_counts_reject_impossible_values():
    with pytest.raises(ValueError):
        log_rr_from_counts(11, 10, 3, 10)
    with pytest.raises(ValueError):
        log_or_from_counts(1, 0, 3, 10)


# --- the HAIC data --------------------------------------------------------------------------------------------


def test_effects_frame_has_one_row_per_outcome_row_with_the_contract_columns(effects, studies):
    """The contract columns, then every column of the study table (the covariates), nothing of the first paper's
    vocabulary built in."""
    study_columns = [c for c in studies.columns if c != "study_id"]
    assert list(effects.columns) == [*EFFECT_COLUMNS, *study_columns]
    assert effects.set_index("study_id").loc["He2019", "label"].iloc[0] == "He 2019"
    assert len(effects) == 33
    usable = effects[effects.usable]
    assert np.isfinite(usable[["yi", "sei", "vi"]].to_numpy()).all()
    assert (usable.reason == "").all() and (effects[~effects.usable].reason != "").all()
    assert set(effects.method) <= {"ci", "p_exact", "p_bound", "medians_p", "counts", "counts_cc", ""}


def test_methods_match_the_readme_coverage_table(effects):
    """data/README.md: OS 7 CI + 2 p-bound + 2 medians (Zuo not derivable); PFS 4 CI + 2 p-bound (Zuo not
    derivable; Chen medians without p); ORR 8, DCR 4, AE 1 with arm counts."""
    table = effects.groupby(["outcome", "method"]).size().to_dict()
    assert table == {
        ("OS", "ci"): 7, ("OS", "p_bound"): 2, ("OS", "medians_p"): 2, ("OS", ""): 1,
        ("PFS", "ci"): 4, ("PFS", "p_bound"): 2, ("PFS", "medians_p"): 1, ("PFS", ""): 1,
        ("ORR", "counts"): 8, ("DCR", "counts"): 4, ("AE", "counts"): 1,
    }
    assert set(effects[(effects.outcome == "OS") & (effects.method == "p_bound")].study_id) == {"Chang2024",
                                                                                                 "Guan2024"}
    assert set(effects[(effects.outcome == "OS") & (effects.method == "medians_p")].study_id) == {"Huang2024",
                                                                                                   "Zhao2019"}


def test_usable_counts_after_the_plausibility_check(effects):
    usable = effects[effects.usable].groupby("outcome").size().to_dict()
    assert usable == {"OS": 10, "PFS": 5, "ORR": 8, "DCR": 4, "AE": 1}


def test_mei2021_hazard_ratios_are_flagged_implausible(effects):
    """Mei 2021 (45 + 25 patients): the CI-derived SEs (0.168 OS, 0.147 PFS) are below sqrt(4/70) = 0.239,
    smaller than even a 1:1 trial in which every patient died could give (the source note: 'CI looks narrow')."""
    for outcome, se in (("OS", (math.log(0.83) - math.log(0.43)) / (2 * Z975)),
                        ("PFS", (math.log(0.98) - math.log(0.55)) / (2 * Z975))):
        row = row_of(effects, "Mei2021", outcome)
        assert not row.usable and row.method == "ci"
        assert row.sei == pytest.approx(se) and se < math.sqrt(4 / 70)
        assert "implausible" in row.reason and "0.239" in row.reason


def test_zuo2024_survival_rows(effects):
    os_row = row_of(effects, "Zuo2024", "OS")
    assert not os_row.usable and np.isnan(os_row.yi)
    assert "treatment median not reached" in os_row.reason
    pfs = row_of(effects, "Zuo2024", "PFS")
    # median-ratio HR 9.6/11.5 = 0.83 with p < 0.001 would need SE 0.055 < sqrt(4/416) = 0.098
    assert pfs.yi == pytest.approx(math.log(9.6 / 11.5))
    assert pfs.sei == pytest.approx(abs(math.log(9.6 / 11.5)) / stats.norm.isf(0.0005))
    assert not pfs.usable and "implausible" in pfs.reason


def test_haic_values_by_hand(effects):
    zhao = row_of(effects, "Zhao2019", "OS")
    assert zhao.yi == pytest.approx(math.log(4.8 / 9.4))
    assert zhao.sei == pytest.approx(abs(math.log(4.8 / 9.4)) / stats.norm.isf(0.005))
    he = row_of(effects, "He2019", "OS")  # a CI beats the p bound given on the same row
    assert he.method == "ci" and he.sei == pytest.approx((math.log(0.48) - math.log(0.26)) / (2 * Z975))
    zuo_ae = row_of(effects, "Zuo2024", "AE")
    assert zuo_ae.yi == pytest.approx(math.log((170 / 207) / (149 / 209)))
    assert zuo_ae.vi == pytest.approx(1 / 170 - 1 / 207 + 1 / 149 - 1 / 209)
    assert zuo_ae.n_total == 416 and zuo_ae.design == "retrospective" and zuo_ae.first_author == "Zuo M"


def test_effects_for_returns_usable_rows_sorted(studies):
    outcomes = load_outcomes(HAIC_OUTCOMES, studies=studies)
    os_effects = effects_for("OS", outcomes, studies)
    assert len(os_effects) == 10 and os_effects.usable.all()
    order = list(zip(os_effects.year, os_effects.study_id, strict=True))
    assert order == sorted(order)
    assert "Mei2021" not in set(os_effects.study_id)
    with pytest.raises(InputError, match="valid: "):
        effects_for("QOL", outcomes, studies)


def synthetic(**cells) -> pd.DataFrame:
    base = dict(study_id="S1", outcome="OS", measure="HR", estimate=np.nan, ci_lower=np.nan, ci_upper=np.nan,
                p_value=np.nan, p_relation="", median_treatment=np.nan, median_control=np.nan,
                events_treatment=np.nan, total_treatment=np.nan, events_control=np.nan, total_control=np.nan)
    base.update(cells)
    return pd.DataFrame([base])


LOG06_P01 = abs(math.log(0.6)) / stats.norm.isf(0.005)  # |ln 0.6| / z for two-sided p = 0.01


@pytest.mark.parametrize("cells, method, expected", [
    (dict(estimate=0.6, ci_lower=0.4, ci_upper=0.9, p_value=0.01, p_relation="=", median_treatment=10,
          median_control=6), "ci", (math.log(0.6), (math.log(0.9) - math.log(0.4)) / (2 * Z975))),
    (dict(estimate=0.6, p_value=0.01, p_relation="=", median_treatment=10, median_control=6), "p_exact",
     (math.log(0.6), LOG06_P01)),
    (dict(estimate=0.6, p_value=0.01, p_relation="", median_treatment=10, median_control=6), "p_exact",
     (math.log(0.6), LOG06_P01)),
    (dict(estimate=0.6, p_value=0.01, p_relation="<", median_treatment=10, median_control=6), "p_bound",
     (math.log(0.6), LOG06_P01)),
    (dict(p_value=0.01, p_relation="<", median_treatment=10, median_control=6), "medians_p",
     (math.log(6 / 10), LOG06_P01)),
    (dict(measure="RR", outcome="ORR", estimate=2.0, p_value=0.02, p_relation="=", events_treatment=20,
          total_treatment=50, events_control=10, total_control=50), "p_exact",
     (math.log(2.0), math.log(2.0) / stats.norm.isf(0.01))),
    (dict(measure="RR", outcome="ORR", events_treatment=20, total_treatment=50, events_control=0,
          total_control=50), "counts_cc",
     (math.log((20.5 / 51) / (0.5 / 51)), math.sqrt(1 / 20.5 - 1 / 51 + 1 / 0.5 - 1 / 51))),
    (dict(measure="OR", outcome="ORR", events_treatment=20, total_treatment=50, events_control=10,
          total_control=50), "counts",
     (math.log((20 * 40) / (30 * 10)), math.sqrt(1 / 20 + 1 / 30 + 1 / 10 + 1 / 40))),
])
def test_precedence(cells, method, expected):
    """CI > exact p > p bound > medians + p > counts, each checked against its closed form."""
    effect = derive_effects(synthetic(**cells)).iloc[0]
    assert effect.method == method and effect.usable
    assert (effect.yi, effect.sei) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("cells, reason", [
    (dict(), "nothing to derive from"),
    (dict(estimate=0.6), "nothing to derive from"),
    (dict(median_treatment=10, median_control=6), "without a p-value"),
    (dict(estimate=1.0, p_value=0.5, p_relation="="), "estimate is 0"),
    (dict(estimate=0.8, p_value=1.0, p_relation="="), "strictly between 0 and 1"),
    (dict(events_treatment=3, total_treatment=10, events_control=2, total_control=10), "not a HR"),
    (dict(measure="RR", outcome="AE", events_treatment=0, total_treatment=10, events_control=0,
          total_control=12), "no events in either arm"),
])
def test_rows_without_a_derivable_effect_keep_a_reason(cells, reason):
    effect = derive_effects(synthetic(**cells)).iloc[0]
    assert not effect.usable and reason in effect.reason
    assert np.isnan(effect.yi) and np.isnan(effect.sei)


def test_plausibility_without_a_study_table_uses_the_arm_totals_or_skips():
    outcomes = load_outcomes(HAIC_OUTCOMES)
    effects = derive_effects(outcomes)
    mei = row_of(effects, "Mei2021", "OS")
    assert mei.usable and np.isnan(mei.n_total)  # no patient count: the check cannot run
    # every row but Zuo 2024 OS (treatment median not reached) and Chen 2021 PFS (medians without a p-value)
    studies = load_studies(HAIC_STUDIES, HAIC_LEVELS)
    assert derive_effects(outcomes, studies, check_plausibility=False).usable.sum() == 33 - 2


def test_unknown_study_in_outcomes_is_an_input_error(studies):
    with pytest.raises(InputError, match="Nobody2020"):
        derive_effects(synthetic(study_id="Nobody2020", estimate=0.5, ci_lower=0.3, ci_upper=0.8), studies)


ratio = st.floats(0.05, 20, allow_nan=False)


@st.composite
def outcome_rows(draw):
    """A random valid outcome row in one of the reporting forms."""
    form = draw(st.sampled_from(["ci", "p", "medians", "counts"]))
    if form == "ci":
        est = draw(ratio)
        lo, hi = est / draw(st.floats(1.01, 5)), est * draw(st.floats(1.01, 5))
        return dict(estimate=est, ci_lower=lo, ci_upper=hi)
    if form == "p":
        est = draw(ratio.filter(lambda r: abs(math.log(r)) > 1e-6))
        return dict(estimate=est, p_value=draw(st.floats(1e-8, 0.999)), p_relation=draw(st.sampled_from("=<")))
    if form == "medians":
        m_t, m_c = draw(st.floats(0.5, 60)), draw(st.floats(0.5, 60))
        return dict(median_treatment=m_t, median_control=m_c, p_value=draw(st.floats(1e-8, 0.999)),
                    p_relation="=")
    n1, n2 = draw(st.integers(1, 500)), draw(st.integers(1, 500))
    return dict(measure=draw(st.sampled_from(["RR", "OR"])), outcome="ORR",
                events_treatment=draw(st.integers(0, n1)), total_treatment=n1,
                events_control=draw(st.integers(0, n2)), total_control=n2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(outcome_rows(), min_size=1, max_size=8))
def test_random_valid_rows_give_finite_usable_effects(rows):
    frame = pd.concat([synthetic(study_id=f"S{i}", **cells) for i, cells in enumerate(rows)], ignore_index=True)
    frame = frame[list(synthetic().columns)]
    effects = derive_effects(frame)
    usable = effects[effects.usable]
    assert np.isfinite(usable[["yi", "sei", "vi"]].to_numpy()).all() and (usable.sei > 0).all()
    bounds = RANGES["HR"]  # every measure drawn here is a ratio
    derived = effects.yi.to_numpy()[np.isfinite(effects.yi.to_numpy())]
    for (_, effect), cells in zip(effects.iterrows(), rows, strict=True):
        both_zero = "events_treatment" in cells and double_zero(*(cells[c] for c in (
            "events_treatment", "total_treatment", "events_control", "total_control")))
        medians_equal = "median_treatment" in cells and cells["median_treatment"] == cells["median_control"]
        if both_zero or medians_equal:
            assert not effect.usable, effect.reason
            continue
        in_range = bounds.min_sei <= effect.sei <= bounds.max_sei and abs(effect.yi) <= bounds.max_abs_yi
        # excluded only as implausible (a p near 1 gives a huge SE, a tiny p a tiny one): outside the range, or
        # more than 1e6 SEs from the median of the rest, hence from some other effect
        far = np.max(np.abs(derived - effect.yi)) > MAX_Z_FROM_MEDIAN * effect.sei
        assert effect.usable or (effect.reason.startswith("implausible:") and (not in_range or far)), effect.reason
        assert in_range or not effect.usable
