"""Within-trial interactions of within-trial strata (bayesmeta.interaction; Fisher et al. 2017, BMJ 356:j573):
the frequentist poolings against metafor 3.8.1's ``rma(yi = d, vi = v)`` (tests/reference/make_strata_fixtures.R,
strata_metafor.json) on the Zelniker et al. 2019 ASCVD strata (PMC8010211 Table 3) and on a heterogeneous set; the
exact posterior against dense quadrature and, with tau held near 0 and a flat prior, the closed-form GLS
(common-effect) estimate; and a simulation with known truth where the test of subgroup differences across levels is
confounded by a trial-level covariate while the within-trial interaction is null."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta.data import load_outcomes
from bayesmeta.effects import derive_effects
from bayesmeta.interaction import pair_levels, trial_names, within_trial_interactions
from bayesmeta.strata import across_level_test

REF = Path(__file__).parent / "reference"
FIXTURE = json.loads((REF / "strata_metafor.json").read_text())
FIELDS = ("estimate", "se", "ci_lower", "ci_upper", "pval", "tau2")


def _strata() -> pd.DataFrame:
    effects = derive_effects(load_outcomes(str(REF / "zelniker2019_outcomes.csv")), None)
    return effects[effects["outcome"] == "MACE_ASCVD"].reset_index(drop=True)


def _interactions(rows: pd.DataFrame, column: str = "ascvd", **kw):
    args = dict(outcome="MACE", strata="MACE_ASCVD", variable=column, measure="HR", benefit="below",
                mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)")
    return within_trial_interactions(rows, column, **{**args, **kw})


def _agree(record, ref: dict) -> float:
    """The largest absolute difference from metafor's fit over estimate, se, CI, p and tau^2 (asserted < 1e-6)."""
    worst = max(abs(getattr(record, f) - ref[f]) for f in FIELDS)
    assert worst < 1e-6
    return worst


def test_the_zelniker_interaction_equals_metafor_common_and_reml():
    (found,) = _interactions(_strata())
    ref = FIXTURE["interaction"]
    assert (found.level, found.reference) == (ref["level"], ref["reference"])  # reference: the most frequent level
    assert list(found.trials) == ref["trials"] and found.k == 2
    assert found.not_contributing == {"EMPA-REG OUTCOME": "only level yes"}
    assert list(found.not_contributing) == ref["not_contributing"]
    np.testing.assert_allclose(found.d, ref["d"], atol=1e-12)
    np.testing.assert_allclose(found.v, ref["v"], atol=1e-12)
    _agree(found.common, ref["common"])
    _agree(found.random, ref["random"])
    assert found.common.reported["estimate"] == pytest.approx(np.exp(ref["common"]["estimate"]), rel=1e-9)


def _rows_of(d, v, levels=("A", "B")) -> pd.DataFrame:
    """Two strata per trial whose difference is d and summed variance v (reference A at 0)."""
    out = []
    for i, (di, vi) in enumerate(zip(d, v)):
        out += [dict(study_id=f"T{i} (A)", yi=0.0, vi=vi / 2, g=levels[0]),
                dict(study_id=f"T{i} (B)", yi=di, vi=vi / 2, g=levels[1])]
    frame = pd.DataFrame(out)
    frame["sei"] = np.sqrt(frame["vi"])
    return frame


def test_a_heterogeneous_set_equals_metafor_reml_with_tau2_above_zero():
    ref = FIXTURE["interaction_heterogeneous"]
    rows = _rows_of(ref["d"], ref["v"])
    rows = pd.concat([rows, rows[rows["g"] == "A"].head(1).assign(study_id="T9 (A)")])  # A the most frequent
    (found,) = _interactions(rows, "g")
    assert (found.level, found.reference, found.k) == ("B", "A", 6) and found.not_contributing == {"T9": "only level A"}
    assert ref["random"]["tau2"] > 0.01
    _agree(found.common, ref["common"])
    _agree(found.random, ref["random"])


def test_the_posterior_equals_dense_quadrature():
    """p(mu, tau | d) on a dense grid: mu ~ normal(0, 4), tau ~ half-normal(0.5), d_i ~ N(mu, v_i + tau^2)."""
    (found,) = _interactions(_strata())
    d, v = np.array(found.d), np.array(found.v)
    mu = np.linspace(-2.5, 2.5, 5001)  # the posterior SD is about 0.25
    tau = np.linspace(0, 3, 601)[:, None, None]  # P(tau > 3) under half-normal(0.5): 2e-9
    like = stats.norm.pdf(d, mu[None, :, None], np.sqrt(v + tau ** 2)).prod(axis=2)
    joint = like * stats.norm.pdf(mu, 0, 4)[None, :] * stats.halfnorm.pdf(tau[:, :, 0], scale=0.5)
    marginal = np.trapezoid(joint, tau[:, 0, 0], axis=0)
    cdf = np.concatenate([[0.0], np.cumsum((marginal[1:] + marginal[:-1]) / 2 * np.diff(mu))])
    cdf /= cdf[-1]
    quantile = lambda q: float(np.interp(q, cdf, mu))  # noqa: E731
    post = found.posterior
    assert post["median"] == pytest.approx(quantile(0.5), abs=2e-3)
    assert (post["ci_lower"], post["ci_upper"]) == pytest.approx((quantile(0.025), quantile(0.975)), abs=2e-3)
    assert found.prob_level_better == pytest.approx(float(np.interp(0.0, mu, cdf)), abs=1e-3)
    assert found.reported["median"] == pytest.approx(np.exp(post["median"]), rel=1e-12)


def test_a_flat_prior_with_tau_near_zero_gives_the_gls_estimate():
    """mu flat, tau ~ uniform(0, 1e-6): the posterior of the mean interaction is N(GLS estimate, its variance),
    the common-effect estimate sum(d/v)/sum(1/v) with variance 1/sum(1/v)."""
    ref = FIXTURE["interaction_heterogeneous"]
    (found,) = _interactions(_rows_of(ref["d"], ref["v"]), "g", mu_prior="flat", tau_prior="uniform(0, 1e-6)")
    w = 1 / np.array(ref["v"])
    gls, se = float(np.sum(w * np.array(ref["d"])) / w.sum()), float(1 / np.sqrt(w.sum()))
    assert gls == pytest.approx(ref["common"]["estimate"], abs=1e-12)
    assert found.posterior["mean"] == pytest.approx(gls, abs=1e-6)
    assert found.posterior["sd"] == pytest.approx(se, rel=1e-4)
    assert found.prob_level_better == pytest.approx(stats.norm.cdf(0, gls, se), abs=1e-5)


def _confounded_trials(rng: np.random.Generator, k: int = 30, events: float = 400.0) -> pd.DataFrame:
    """Known truth: trial i's log HR is -0.4 + 0.8 x_i in both levels (no within-trial interaction), x_i a
    trial-level covariate (e.g. baseline risk) that also sets the share of level B among its patients
    (0.1 + 0.8 x_i); each stratum's variance is 4 / its events."""
    x = rng.uniform(0, 1, k)
    share = 0.1 + 0.8 * x
    theta = -0.4 + 0.8 * x
    out = []
    for i in range(k):
        for g, p in (("A", 1 - share[i]), ("B", share[i])):
            v = 4 / (events * p)
            out.append(dict(study_id=f"trial {i} ({g})", yi=theta[i] + rng.normal(0, np.sqrt(v)), vi=v, g=g))
    frame = pd.DataFrame(out)
    frame["sei"] = np.sqrt(frame["vi"])
    return frame


def test_the_within_trial_interaction_recovers_a_null_the_across_level_test_misses():
    rows = _confounded_trials(np.random.default_rng(20170321))
    across = across_level_test(rows, "g", "FE")
    assert across["p_between"] < 1e-3  # the levels' pooled effects differ: B's come from high-x trials
    (found,) = _interactions(rows, "g", measure="HR")
    assert found.k == 30 and not found.not_contributing
    for pooled in (found.common, found.random):
        assert pooled.ci_lower < 0 < pooled.ci_upper
    assert found.posterior["ci_lower"] < 0 < found.posterior["ci_upper"]
    # over repeated trial sets: the within-trial common-effect estimate is unbiased for 0 and its 95% CI covers
    # 0 about 95% of the time; the difference of the levels' pooled effects is biased away from 0
    from bayesmeta.frequentist import rma

    rng = np.random.default_rng(1)
    within, covered, across_d = [], [], []
    for _ in range(40):
        rows = _confounded_trials(rng)
        _, d, v, _ = pair_levels(rows, "g", "B", "A")
        fit = rma(np.array(d), np.array(v), method="FE")
        within.append(fit.estimate)
        covered.append(fit.ci_lower < 0 < fit.ci_upper)
        a, b = (rma(rows.loc[rows["g"] == g, "yi"], rows.loc[rows["g"] == g, "vi"], method="FE").estimate
                for g in ("A", "B"))
        across_d.append(b - a)
    within, across_d = np.array(within), np.array(across_d)
    assert abs(within.mean()) < 3 * within.std(ddof=1) / np.sqrt(len(within))
    assert np.mean(covered) >= 0.85
    assert across_d.mean() > 10 * across_d.std(ddof=1) / np.sqrt(len(across_d)) and across_d.mean() > 0.1


def test_more_levels_are_each_compared_with_the_most_frequent_within_the_same_trials():
    rows = pd.DataFrame([
        dict(study_id="S1 (a)", yi=0.1, vi=0.04, g="low"), dict(study_id="S1 (b)", yi=0.3, vi=0.05, g="mid"),
        dict(study_id="S1 (c)", yi=0.6, vi=0.06, g="high"),
        dict(study_id="S2 (a)", yi=-0.2, vi=0.03, g="mid"), dict(study_id="S2 (b)", yi=0.0, vi=0.02, g="high"),
        dict(study_id="x1", yi=0.5, vi=0.05, g="mid", trial="S3"), dict(study_id="x2", yi=0.2, vi=0.04, g="low",
                                                                       trial="S3"),
    ])
    rows["sei"] = np.sqrt(rows["vi"])
    assert trial_names(rows).tolist() == ["S1", "S1", "S1", "S2", "S2", "S3", "S3"]  # the trial column wins
    found = {f.level: f for f in _interactions(rows, "g")}
    assert set(found) == {"low", "high"} and {f.reference for f in found.values()} == {"mid"}
    assert found["low"].trials == ("S1", "S3") and found["low"].not_contributing == {"S2": "only level mid"}
    assert found["low"].d == pytest.approx((0.1 - 0.3, 0.2 - 0.5))
    assert found["low"].v == pytest.approx((0.09, 0.09))
    assert found["high"].trials == ("S1", "S2") and found["high"].d == pytest.approx((0.3, 0.2))
    assert found["high"].not_contributing == {"S3": "only level mid"}
    w = 1 / np.array([0.11, 0.05])
    assert found["high"].common.estimate == pytest.approx(float(np.sum(w * [0.3, 0.2]) / w.sum()), abs=1e-12)
    # a trial with two rows of one level is listed, not paired at random
    twice = pd.concat([rows, rows.iloc[[3]].assign(study_id="S2 (c)")], ignore_index=True)
    assert {f.level: f for f in _interactions(twice, "g")}["high"].not_contributing["S2"] == "2 rows of level mid"


def test_all_levels_pooled_jointly_equal_metafor_with_a_fixed_intercept_per_trial():
    """Three age levels in eight simulated trials, two of which lack the reference level (mid)
    (tests/reference/make_joint_interaction_fixtures.R): the joint common-effect model equals metafor's
    rma(yi, vi, mods = ~ factor(trial) + factor(level), method = "FE") in the level coefficients, their covariance
    and the QM test of no interaction to 1e-10; each per-level record carries its joint row, and the report's table
    shows it with the joint test."""
    from bayesmeta.interaction import joint_interactions
    from bayesmeta.report.interactions import JOINT_NOTE, interaction_blocks

    rows = pd.read_csv(REF / "joint_interaction_strata.csv")
    rows["sei"] = np.sqrt(rows["vi"])
    ref = json.loads((REF / "joint_interaction_metafor.json").read_text())
    joint = joint_interactions(rows, "age", ref["reference"])
    order = [joint.levels.index(lv) for lv in ref["levels"]]
    np.testing.assert_allclose(np.asarray(joint.estimate)[order], ref["estimate"], atol=1e-10)
    np.testing.assert_allclose(np.asarray(joint.vcov)[np.ix_(order, order)], ref["vcov"], atol=1e-10)
    assert joint.qm == pytest.approx(ref["qm"], abs=1e-9) and joint.qm_df == ref["qm_df"] == 2
    assert joint.qm_p == pytest.approx(ref["qm_p"], abs=1e-10)
    assert len(joint.trials) == 8  # T5 has low and high only: it informs their difference
    found = {f.level: f for f in _interactions(rows, "age", outcome="death", strata="death_by_age")}
    assert {f.reference for f in found.values()} == {"mid"}
    for lv, est, se, lo, hi, pv in zip(ref["levels"], ref["estimate"], ref["se"], ref["ci_lower"], ref["ci_upper"],
                                       ref["pval"]):
        j = found[lv].joint
        assert [j["estimate"], j["se"], j["ci_lower"], j["ci_upper"], j["pval"]] == pytest.approx(
            [est, se, lo, hi, pv], abs=1e-9)
        assert j["reported"]["estimate"] == pytest.approx(np.exp(est), rel=1e-12)
        assert found[lv].k < j["k"] == 8  # the pairwise pooling uses only the trials with lv and mid
    (paragraph, table, note) = interaction_blocks({"subgroup_interactions": [f.as_dict() for f in found.values()]})
    assert note.text == JOINT_NOTE and "All levels jointly" in table.columns[6]
    assert table.columns[4] == "Not contributing (to the pairwise pooling)"  # T5 (low, high) is in the joint model
    assert all(f"Q = {ref['qm']:.2f} on 2 df, p = {ref['qm_p']:.3f} (8 trials)" in row[6] for row in table.rows)
    from types import SimpleNamespace

    from bayesmeta.report.figures import interaction_panels

    for panel in interaction_panels(SimpleNamespace(interactions=list(found.values())))[("death", "age", "HR")]:
        label, est, lo, hi = panel.pooled[-1]
        level = panel.title.split(" / ")[0]
        assert label == "All levels jointly (common effect, 8 trials)" and est == found[level].joint["estimate"]
    # two levels: no joint model, no column
    (two,) = _interactions(_strata())
    assert two.joint is None and len(interaction_blocks({"subgroup_interactions": [two.as_dict()]})) == 2


def test_the_interaction_forest_plot_draws_each_trials_difference_and_the_three_poolings():
    """One figure per outcome and characteristic, one panel per level: a grey square per contributing trial at
    exp(d_i) with its 95% interval exp(d_i +- 1.96 sqrt(v_i)), square area by weight; diamonds at the common-effect,
    REML and Bayesian estimates with their intervals; a log axis with a line at a ratio of 1."""
    from types import SimpleNamespace

    from matplotlib.colors import same_color

    from bayesmeta.plots import style
    from bayesmeta.plots.interaction import MAX_SQUARE, plot_interactions
    from bayesmeta.report.figures import interaction_panels

    rows = _strata()
    (inter,) = _interactions(rows)
    grouped = interaction_panels(SimpleNamespace(interactions=[inter]))
    assert list(grouped) == [("MACE", "ascvd", "HR")]
    (panel,) = grouped[("MACE", "ascvd", "HR")]
    fig = plot_interactions([panel], measure="HR", title="MACE: within-trial interactions by ascvd")
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:inter.k] == list(inter.trials)
    assert labels[inter.k:] == ["Common effect", f"Random effects (REML, tau² = {inter.random.tau2:.3f})",
                                "Bayesian (posterior median)"]
    squares = [ln for ln in ax.get_lines() if ln.get_marker() == "s"]
    d, v = np.asarray(inter.d), np.asarray(inter.v)
    assert [ln.get_xdata()[0] for ln in squares] == pytest.approx(np.exp(d), rel=1e-12)
    assert max(ln.get_markersize() for ln in squares) == MAX_SQUARE
    sizes = np.array([ln.get_markersize() for ln in squares])
    assert sizes ** 2 == pytest.approx(MAX_SQUARE ** 2 * (1 / v) / (1 / v).max(), rel=1e-12)
    grey = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and same_color(ln.get_color(), "#999999")]
    np.testing.assert_allclose([ln.get_xdata() for ln in grey],
                               np.exp(np.column_stack([d - 1.959964 * np.sqrt(v), d + 1.959964 * np.sqrt(v)])),
                               rtol=1e-6)
    diamonds = [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_marker() == "D"]
    assert diamonds == pytest.approx(np.exp([inter.common.estimate, inter.random.estimate,
                                             inter.posterior["median"]]), rel=1e-12)
    assert ax.get_xscale() == "log" and "ratio of HRs, level / reference" in ax.get_xlabel()
    assert [ln for ln in ax.get_lines() if ln.get_xdata()[0] == 1.0 and ln.get_xdata()[-1] == 1.0
            and same_color(ln.get_color(), style.NULL_LINE)]
    assert ax.get_title(loc="left") == "no / yes"
    assert any(t.get_text().startswith("P(no better than yes)") for t in ax.texts)
    # a characteristic whose interactions have no contributing trial draws nothing
    lone = rows[rows["study_id"].str.startswith("EMPA")]
    assert interaction_panels(SimpleNamespace(interactions=_interactions(lone))) == {}
    with pytest.raises(ValueError, match="no within-trial interaction"):
        plot_interactions([], measure="HR")


@pytest.mark.parametrize("method, key", [("FE", "common"), ("REML", "random")])
def test_the_frequentist_command_pools_the_within_trial_interactions_as_metafor(capsys, method, key):
    from bayesmeta.cli import main

    assert main(["frequentist", str(REF / "zelniker2019_outcomes.csv"), "--outcome", "MACE_ASCVD", "--method", method,
                 "--subgroup", "ascvd", "--within-trial", "--json"]) == 0
    (w,) = json.loads(capsys.readouterr().out)["subgroup"]["within_trial"]
    ref = FIXTURE["interaction"]
    assert (w["level"], w["reference"], w["trials"]) == ("no", "yes", ref["trials"])
    assert w["not_contributing"] == {"EMPA-REG OUTCOME": "only level yes"}
    assert max(abs(w["fit"][f] - ref[key][f]) for f in FIELDS) < 1e-6
    assert w["reported"]["estimate"] == pytest.approx(np.exp(ref[key]["estimate"]), rel=1e-9)
    assert main(["frequentist", str(REF / "zelniker2019_outcomes.csv"), "--outcome", "MACE_ASCVD",
                 "--within-trial"]) == 2
    assert "add --subgroup" in capsys.readouterr().err
