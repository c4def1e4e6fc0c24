"""Properties of the frequentist engine on random valid and invalid input (hypothesis).

Valid input: every result field finite (or None where the result type documents it), tau^2 >= 0,
0 <= I^2 <= 100, H^2 >= 1, CI around the estimate, Q >= 0 and 0 <= p <= 1; invariance under a shift of the
effects, a change of scale and a permutation of the studies; FE = RE with tau^2 fixed at 0; DerSimonian-Laird
tau^2 against its closed form (DerSimonian & Laird 1986). Invalid input: the documented InputError/ModelError
with a message naming the problem, never a NaN.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bayesmeta.errors import InputError, ModelError
from bayesmeta.frequentist import (
    cumulative,
    egger_test,
    leave_one_out,
    mantel_haenszel,
    paper_rule,
    rma,
    subgroup_analysis,
    tau2_ci_qprofile,
)

METHODS = ("FE", "DL", "REML", "PM", "ML")
RE_METHODS = ("DL", "REML", "PM", "ML")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def arms(events_treatment, total_treatment, events_control, total_control) -> dict:
    """The four arm-count columns as the Mantel-Haenszel verb takes them."""
    return {"events_treatment": events_treatment, "total_treatment": total_treatment,
            "events_control": events_control, "total_control": total_control}

# effects over six orders of magnitude, sampling variances over fourteen (mixed within one table)
Y_ABS_MAX = 1e3
LOG10_V = (-8.0, 6.0)


EFFECT = st.one_of(
    st.floats(-Y_ABS_MAX, Y_ABS_MAX, allow_nan=False, allow_subnormal=False),
    st.sampled_from([-Y_ABS_MAX, 0.0, Y_ABS_MAX]),
)
LOG_VARIANCE = st.one_of(st.floats(*LOG10_V), st.sampled_from(LOG10_V))


@st.composite
def tables(draw, min_k: int = 1, max_k: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Effects and sampling variances: either around one scale (the usual shape of a real table) or anywhere in
    1e-8..1e6 independently, with the extremes drawn often (one study can outweigh the others by 1e14)."""
    k = draw(st.integers(min_k, max_k))
    y = draw(st.lists(EFFECT, min_size=k, max_size=k))
    if draw(st.booleans()):
        centre = draw(st.floats(*LOG10_V))
        logv = [centre + draw(st.floats(-1.0, 1.0)) for _ in range(k)]
    else:
        logv = draw(st.lists(LOG_VARIANCE, min_size=k, max_size=k))
    return np.array(y, dtype=float), 10.0 ** np.array(logv)


def close(a: float, b: float, scale: float, rel: float = 1e-9) -> bool:
    """|a - b| within ``rel`` of the larger of |a|, |b| and a problem scale (absolute floor)."""
    return abs(a - b) <= rel * max(abs(a), abs(b), scale)


def tau2_scale(y: np.ndarray, v: np.ndarray) -> float:
    """The natural size of tau^2 for a table: the largest sampling variance plus the spread of the effects."""
    return float(np.max(v) + np.sum((y - np.mean(y)) ** 2))


# -- valid input: every field sane -------------------------------------------------------------------------------

OPTIONAL = {"tau2_se", "pi_lower", "pi_upper", "df", "qm", "qm_df", "qm_p", "r2"}


def assert_sane(fit, k: int, method: str, test: str, fixed_tau2: bool = False) -> None:
    for field in dataclasses.fields(fit):
        value = getattr(fit, field.name)
        if value is None:
            assert field.name in OPTIONAL, f"{field.name} is None"
        elif isinstance(value, float):
            assert math.isfinite(value), f"{field.name} = {value}"
    # the documented None fields
    assert (fit.tau2_se is None) == (method == "FE" or k == 1 or fixed_tau2)
    assert (fit.df is None) == (test == "z")
    assert fit.pi_lower is not None and fit.pi_upper is not None  # no moderators
    assert fit.qm is None and fit.r2 is None
    assert fit.k == k and fit.q_df == k - 1
    assert fit.tau2 >= 0
    assert 0 <= fit.i2 <= 100
    # metafor's common-effect H^2 is Q/df, below 1 when Q < df; the random-effects H^2 is 1 + tau^2/s^2
    assert fit.h2 >= 1 if method != "FE" else fit.h2 >= 0
    assert fit.q >= 0
    assert 0 <= fit.q_p <= 1
    assert 0 <= fit.pval <= 1
    assert fit.se > 0
    assert fit.ci_lower <= fit.estimate <= fit.ci_upper
    assert fit.pi_lower <= fit.ci_lower and fit.ci_upper <= fit.pi_upper
    if fit.tau2_se is not None:
        assert math.isfinite(fit.tau2_se) and fit.tau2_se > 0
    c = fit.coefficients[0]
    assert (c.estimate, c.se, c.ci_lower, c.ci_upper) == (fit.estimate, fit.se, fit.ci_lower, fit.ci_upper)
    d = fit.as_dict()
    for name in ("estimate", "se", "ci_lower", "ci_upper", "tau2", "i2", "h2", "q", "q_p", "pval"):
        assert d[name] is not None


def knha_fit(y, v, method):
    """A Knapp-Hartung fit, or None when the documented ModelError applies (effects fitted exactly)."""
    try:
        return rma(y, v, method=method, test="knha")
    except ModelError as exc:
        assert "scale factor is zero" in str(exc)
        # only when the effects have no residual spread at all
        assert rma(y, v, method="FE").q <= 1e-12 * (y.size - 1)
        return None


@PROPERTY
@given(tables(), st.sampled_from(METHODS))
def test_valid_tables_give_sane_results(data, method):
    y, v = data
    assert_sane(rma(y, v, method=method), y.size, method, "z")
    if y.size > 1:
        fit = knha_fit(y, v, method)
        if fit is not None:
            assert_sane(fit, y.size, method, "knha")
            assert fit.df == y.size - 1


@PROPERTY
@given(tables(min_k=2))
def test_fe_heterogeneity_matches_higgins_thompson(data):
    y, v = data
    fit = rma(y, v, method="FE")
    df = y.size - 1
    assert fit.h2 == pytest.approx(fit.q / df, rel=1e-12)
    assert fit.i2 == pytest.approx(max(0.0, 100 * (fit.q - df) / fit.q) if fit.q > 0 else 0.0, rel=1e-12, abs=1e-12)


# -- invariances -------------------------------------------------------------------------------------------------
# Tolerances: estimates to 1e-12 of the effects' magnitude; tau^2 to 1e-9 of the larger of itself and the smallest
# sampling variance (a tau^2 that small changes no weight by more than 1e-9); Q to 1e-10 of max(Q, k).


def assert_same_fit(a, b, y: np.ndarray, v: np.ndarray, shift: float = 0.0, scale: float = 1.0) -> None:
    """``b`` is the fit of (scale * y + shift, scale^2 v) and ``a`` that of (y, v), up to rounding."""
    y_size = scale * float(np.max(np.abs(y))) + abs(shift)
    assert close(b.estimate, scale * a.estimate + shift, y_size, rel=1e-12), (b.estimate, a.estimate)
    assert close(b.se, scale * a.se, 0.0, rel=1e-9), (b.se, a.se)
    assert close(b.tau2, scale**2 * a.tau2, scale**2 * float(np.min(v)), rel=1e-9), (b.tau2, a.tau2)
    assert close(b.q, a.q, y.size, rel=1e-10), (b.q, a.q)
    assert close(b.i2, a.i2, 100.0, rel=1e-9), (b.i2, a.i2)
    assert close(b.h2, a.h2, 1.0, rel=1e-9), (b.h2, a.h2)


@PROPERTY
@given(tables(min_k=2), st.sampled_from(METHODS), st.floats(-1e3, 1e3, allow_subnormal=False))
def test_shift_moves_estimate_only(data, method, c):
    y, v = data
    assert_same_fit(rma(y, v, method=method), rma(y + c, v, method=method), y, v, shift=c)


@PROPERTY
@given(tables(min_k=2), st.sampled_from(METHODS), st.floats(-3.0, 3.0))
def test_rescaling_scales_estimate_and_tau2(data, method, log10_a):
    y, v = data
    a = 10.0**log10_a
    assert_same_fit(rma(y, v, method=method), rma(a * y, a * a * v, method=method), y, v, scale=a)


@PROPERTY
@given(tables(min_k=2), st.sampled_from(METHODS), st.randoms(use_true_random=False))
def test_permuting_studies_changes_nothing(data, method, rnd):
    y, v = data
    order = list(range(y.size))
    rnd.shuffle(order)
    assert_same_fit(rma(y, v, method=method), rma(y[order], v[order], method=method), y, v)


@PROPERTY
@given(tables(min_k=2), st.sampled_from(RE_METHODS))
def test_random_effects_with_tau2_zero_is_common_effect(data, method):
    y, v = data
    fe, forced = rma(y, v, method="FE"), rma(y, v, method=method, tau2=0.0)
    assert forced.tau2 == 0.0 and forced.tau2_se is None
    assert (forced.estimate, forced.se, forced.ci_lower, forced.ci_upper) == (fe.estimate, fe.se, fe.ci_lower,
                                                                              fe.ci_upper)  # fmt: skip
    estimated = rma(y, v, method=method)
    if estimated.tau2 == 0.0:
        assert estimated.estimate == fe.estimate and estimated.se == fe.se


# -- closed forms --------------------------------------------------------------------------------------------------


def weighted_mean(y: np.ndarray, v: np.ndarray, tau2: float) -> tuple[float, float]:
    """Inverse-variance mean and its SE with w = 1/(v + tau^2), summed exactly (math.fsum)."""
    w = 1.0 / (v + tau2)
    return math.fsum(w * y) / math.fsum(w), 1.0 / math.sqrt(math.fsum(w))


def dl_closed_form(y: np.ndarray, v: np.ndarray) -> float:
    """tau^2_DL = max(0, (Q - (k - 1)) / (S1 - S2/S1)), Q = sum w (y - ybar_w)^2, w = 1/v (DerSimonian & Laird
    1986; Viechtbauer 2005, eq. 9); S1 - S2/S1 written as sum_i w_i (S1 - w_i) / S1 so no term cancels."""
    w = 1.0 / v
    s1 = math.fsum(w)
    ybar = math.fsum(w * y) / s1
    q = math.fsum(w * (y - ybar) ** 2)
    others = np.array([math.fsum(np.delete(w, i)) for i in range(w.size)])
    denom = math.fsum(w * others) / s1
    return max(0.0, (q - (y.size - 1)) / denom)


@PROPERTY
@given(tables(min_k=2))
def test_dl_tau2_closed_form(data):
    y, v = data
    expected = dl_closed_form(y, v)
    assert close(rma(y, v, method="DL").tau2, expected, float(np.min(v)), rel=1e-9)


@PROPERTY
@given(tables(min_k=1), st.sampled_from(METHODS))
def test_estimate_is_the_inverse_variance_mean_at_its_tau2(data, method):
    y, v = data
    fit = rma(y, v, method=method)
    mean, se = weighted_mean(y, v, fit.tau2)
    assert close(fit.estimate, mean, float(np.max(np.abs(y))), rel=1e-12)
    assert close(fit.se, se, 0.0, rel=1e-12)


@PROPERTY
@given(tables(min_k=2), st.sampled_from(METHODS))
def test_knapp_hartung_scales_the_variance(data, method):
    """Var_knha = s^2 Var_z with s^2 = sum w (y - b)^2 / (k - 1), untruncated (Knapp & Hartung 2003)."""
    y, v = data
    z = rma(y, v, method=method)
    knha = knha_fit(y, v, method)
    if knha is None:
        return
    w = 1.0 / (v + z.tau2)
    s2 = math.fsum(w * (y - z.estimate) ** 2) / (y.size - 1)
    assert knha.tau2 == z.tau2 and knha.estimate == z.estimate
    assert close(knha.se, z.se * math.sqrt(s2), 0.0, rel=1e-9)


@PROPERTY
@given(st.floats(-Y_ABS_MAX, Y_ABS_MAX), st.floats(-Y_ABS_MAX, Y_ABS_MAX), LOG_VARIANCE, LOG_VARIANCE)
def test_two_studies_dl_pm_reml_closed_form(y1, y2, lv1, lv2):
    """With k = 2, DL, PM and REML all give max(0, ((y1 - y2)^2 - v1 - v2) / 2): Q = (y1 - y2)^2 / (v1 + v2 +
    2 tau^2) and the restricted likelihood depends on y1 - y2 ~ N(0, v1 + v2 + 2 tau^2) only."""
    y, v = np.array([y1, y2]), 10.0 ** np.array([lv1, lv2])
    d2, vsum = (y1 - y2) ** 2, float(v.sum())
    expected = max(0.0, (d2 - vsum) / 2)
    rounding = 1e-13 * (d2 + vsum)  # the closed form itself cancels d^2 against v1 + v2
    for method in ("DL", "PM", "REML"):
        tau2 = rma(y, v, method=method).tau2
        assert abs(tau2 - expected) <= rounding + 1e-9 * max(expected, float(np.min(v))), (method, tau2, expected)


@PROPERTY
@given(st.lists(EFFECT, min_size=2, max_size=30), st.floats(*LOG10_V))
def test_equal_variances_closed_forms(effects, log_v):
    """Equal sampling variances v: DL = PM = REML = max(0, SS/(k - 1) - v) and ML = max(0, SS/k - v), with
    SS = sum (y - mean y)^2 (all weights equal, so each estimating equation is solved in closed form)."""
    y = np.array(effects)
    k, v0 = y.size, 10.0**log_v
    v = np.full(k, v0)
    ss = math.fsum((y - math.fsum(y) / k) ** 2)
    expected = {"DL": ss / (k - 1) - v0, "PM": ss / (k - 1) - v0, "REML": ss / (k - 1) - v0, "ML": ss / k - v0}
    for method, value in expected.items():
        tau2 = rma(y, v, method=method).tau2
        rounding = 1e-13 * (ss / (k - 1) + v0)
        assert abs(tau2 - max(0.0, value)) <= rounding + 1e-9 * max(value, v0), (method, tau2, value)


@FEW
@given(tables(min_k=3, max_k=15), st.sampled_from(METHODS), st.data())
def test_meta_regression_is_equivariant(data, method, draw):
    """Adding c + b x to the effects moves the intercept by c and the slope by b and leaves tau^2, QE and the
    residual heterogeneity unchanged; every reported number is finite and in range."""
    y, v = data
    x = np.array(draw.draw(st.lists(st.floats(-10, 10, allow_subnormal=False), min_size=y.size, max_size=y.size)))
    assume(np.ptp(x) > 1e-3 * max(1.0, float(np.max(np.abs(x)))))
    c, b = draw.draw(st.floats(-1e3, 1e3)), draw.draw(st.floats(-1e2, 1e2))
    fit = rma(y, v, method=method, mods=x)
    moved = rma(y + c + b * x, v, method=method, mods=x)
    for f in (fit, moved):
        assert all(math.isfinite(getattr(coef, name)) for coef in f.coefficients for name in ("estimate", "se"))
        assert f.qm >= 0 and 0 <= f.qm_p <= 1 and 0 <= f.r2 <= 100 and f.pi_lower is None
        assert f.tau2 >= 0 and 0 <= f.i2 <= 100 and f.q >= 0 and f.q_df == y.size - 2
    size = float(np.max(np.abs(y))) + abs(c) + abs(b) * float(np.max(np.abs(x)))
    slope_size = size * (1.0 + float(np.max(np.abs(x)))) / float(np.ptp(x))
    assert close(moved.coefficients[0].estimate, fit.coefficients[0].estimate + c, slope_size, rel=1e-9)
    assert close(moved.coefficients[1].estimate, fit.coefficients[1].estimate + b, slope_size, rel=1e-9)
    assert close(moved.tau2, fit.tau2, float(np.min(v)), rel=1e-9)
    assert close(moved.q, fit.q, y.size, rel=1e-9)


# -- the other verbs on valid input ------------------------------------------------------------------------------


@FEW
@given(tables(min_k=3, max_k=12), st.sampled_from(METHODS))
def test_other_verbs_finite(data, method):
    y, v = data
    loo = leave_one_out(y, v, method=method)
    assert loo.shape[0] == y.size and np.isfinite(loo.to_numpy(float)).all()
    cum = cumulative(y, v, method=method)
    assert cum.shape[0] == y.size and np.isfinite(cum.to_numpy(float)).all()
    # the last cumulative row is the full fit; each leave-one-out row the fit without that study
    full = rma(y, v, method=method)
    assert (cum["estimate"].iloc[-1], cum["tau2"].iloc[-1]) == (full.estimate, full.tau2)
    assert loo["estimate"].iloc[0] == rma(y[1:], v[1:], method=method).estimate
    rule = paper_rule(y, v)
    assert rule.method == ("FE" if rma(y, v, method="FE").i2 < 50 else "DL")
    lo, hi = tau2_ci_qprofile(y, v)
    assert 0 <= lo <= hi and math.isfinite(hi)
    groups = ["a" if i % 2 else "b" for i in range(y.size)]
    sub = subgroup_analysis(y, v, groups, method=method)
    assert math.isfinite(sub.q_between) and 0 <= sub.p_between <= 1
    try:
        egger = egger_test(y, v)
    except ModelError as exc:
        assert "fits the standardised effects exactly" in str(exc) or "different precision" in str(exc)
    else:
        assert all(math.isfinite(x) for x in dataclasses.astuple(egger))


@FEW
@given(tables(min_k=2, max_k=15))
def test_qprofile_interval_brackets_paule_mandel(data):
    """The Q-profile interval brackets the point where Q(tau^2) = k - 1, i.e. the Paule-Mandel estimate."""
    y, v = data
    lo, hi = tau2_ci_qprofile(y, v)
    pm = rma(y, v, method="PM").tau2
    assert lo <= pm * (1 + 1e-9) and pm <= hi * (1 + 1e-9)


# -- invalid input -----------------------------------------------------------------------------------------------

BAD_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf])


VERBS = {
    "rma": lambda y, v: rma(y, v),
    "rma knha": lambda y, v: rma(y, v, test="knha"),
    "paper_rule": lambda y, v: paper_rule(y, v),
    "leave_one_out": lambda y, v: leave_one_out(y, v),
    "cumulative": lambda y, v: cumulative(y, v),
    "subgroup_analysis": lambda y, v: subgroup_analysis(y, v, ["a", "b"] * (len(y) // 2) + ["a"] * (len(y) % 2)),
    "tau2_ci_qprofile": lambda y, v: tau2_ci_qprofile(y, v),
    "egger_test": lambda y, v: egger_test(y, v),
}


@PROPERTY
@given(tables(min_k=1, max_k=10), st.sampled_from(sorted(VERBS)), st.data())
def test_nan_or_inf_is_refused_with_its_position(data, verb, draw):
    y, v = data
    which = draw.draw(st.sampled_from(["yi", "vi"]))
    i = draw.draw(st.integers(0, y.size - 1))
    target = y.copy() if which == "yi" else v.copy()
    target[i] = draw.draw(BAD_NUMBERS)
    args = (target, v) if which == "yi" else (y, target)
    with pytest.raises(InputError, match=f"'{which}' has a missing or infinite value at study {i + 1}") as err:
        VERBS[verb](*args)
    assert err.value.column == which


@PROPERTY
@given(tables(min_k=1, max_k=10), st.sampled_from(sorted(VERBS)), st.data())
def test_nonpositive_variance_is_refused(data, verb, draw):
    y, v = data
    i = draw.draw(st.integers(0, y.size - 1))
    v = v.copy()
    v[i] = draw.draw(st.floats(-1e6, 0.0, allow_nan=False))
    with pytest.raises(InputError, match=rf"'vi' must be positive; study {i + 1}"):
        VERBS[verb](y, v)


@PROPERTY
@given(st.integers(0, 12), st.integers(0, 12))
def test_mismatched_lengths_are_refused(ky, kv):
    assume(ky != kv)
    y, v = np.zeros(ky), np.ones(kv)
    for verb in VERBS.values():
        with pytest.raises(InputError, match=f"'yi' has {ky} values but 'vi' has {kv}"):
            verb(y, v)


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_empty_input_is_refused(verb):
    with pytest.raises(ModelError, match=r"at least \d (study|studies); got k = 0"):
        VERBS[verb]([], [])


@pytest.mark.parametrize("method", METHODS)
def test_knha_with_one_study_is_refused(method):
    with pytest.raises(ModelError, match="Knapp-Hartung test needs k > p"):
        rma([0.3], [0.1], method=method, test="knha")


# any text: every code point but the surrogates, as st.text()'s default alphabet (the UTF-8 codec), here named by
# Unicode category, whose table Hypothesis builds in 0.3 s instead of the codec's 3 s in a fresh checkout
ANY_CHARACTER = st.characters(exclude_categories=("Cs",))


@PROPERTY
@given(st.text(ANY_CHARACTER, min_size=0, max_size=8))
def test_unknown_method_is_refused(name):
    assume(name.upper() not in (*METHODS, "EE", "CE"))
    with pytest.raises(ModelError, match="unknown method"):
        rma([0.1, 0.2], [0.1, 0.1], method=name)


@st.composite
def two_by_two(draw, min_k: int = 1, max_k: int = 10):
    k = draw(st.integers(min_k, max_k))
    n1 = np.array(draw(st.lists(st.integers(1, 500), min_size=k, max_size=k)), dtype=float)
    n2 = np.array(draw(st.lists(st.integers(1, 500), min_size=k, max_size=k)), dtype=float)
    a = np.array([draw(st.integers(0, int(n))) for n in n1], dtype=float)
    c = np.array([draw(st.integers(0, int(n))) for n in n2], dtype=float)
    return a, n1, c, n2


@PROPERTY
@given(two_by_two(), st.data())
def test_mantel_haenszel_refuses_impossible_counts(counts, draw):
    a, n1, c, n2 = (x.copy() for x in counts)
    i = draw.draw(st.integers(0, a.size - 1))
    kind = draw.draw(st.sampled_from(["events_above_total", "negative_events", "negative_total", "missing"]))
    arm = draw.draw(st.sampled_from(["treatment", "control"]))
    events, total = (a, n1) if arm == "treatment" else (c, n2)
    if kind == "events_above_total":
        events[i] = total[i] + draw.draw(st.integers(1, 50))
        match = f"study {i + 1}: events_{arm} = "
    elif kind == "negative_events":
        events[i] = -draw.draw(st.integers(1, 50))
        match = f"'events_{arm}' is negative at study {i + 1}"
    elif kind == "negative_total":
        total[i] = -draw.draw(st.integers(1, 50))
        match = f"'total_{arm}' is negative at study {i + 1}"
    else:
        events[i] = draw.draw(BAD_NUMBERS)
        match = f"'events_{arm}' has a missing or infinite value at study {i + 1}"
    with pytest.raises(InputError, match=match):
        mantel_haenszel(arms(a, n1, c, n2), measure=draw.draw(st.sampled_from(["RR", "OR"])))


@PROPERTY
@given(two_by_two(), st.sampled_from(["RR", "OR"]))
def test_mantel_haenszel_valid_counts_are_finite_or_refused(counts, measure):
    a, n1, c, n2 = counts
    try:
        res = mantel_haenszel(arms(a, n1, c, n2), measure=measure)
    except ModelError as exc:
        if "zero variance" in str(exc):
            assert measure == "RR" and np.all(a == n1) and np.all(c == n2)
        else:
            assert "undefined" in str(exc)
        return
    for field in dataclasses.fields(res):
        value = getattr(res, field.name)
        if isinstance(value, float):
            assert math.isfinite(value), f"{field.name} = {value}"
    assert res.ci_lower <= res.estimate <= res.ci_upper
    assert 0 <= res.i2 <= 100 and res.q >= 0 and 0 <= res.q_p <= 1 and 0 <= res.pval <= 1
