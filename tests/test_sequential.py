"""Sequential posterior monitoring and its operating characteristics.

References: each look against an independent exact fit on the first j studies; the rule's benefit stops under
the null against the exact repeated-significance-testing probability of the common-effect Z process (computed
with a multivariate normal CDF); the vectorised simulation against a per-sequence loop with the same draws.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta.errors import InputError
from bayesmeta.exact import fit_exact
from bayesmeta.sequential import (
    MonitoringRule,
    monitor,
    operating_characteristics,
    simulate_sequences,
)

MU_PRIOR = "normal(0, 4)"
TAU_PRIOR = "halfnormal(0.5)"


def _independent_look(y, s, j, measure="HR"):
    return fit_exact(np.asarray(y[:j]), np.asarray(s[:j]), mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure=measure)


# -- monitor: each look is the exact posterior of the first j studies --------------------------------------------


def test_each_look_equals_a_separate_exact_fit():
    rng = np.random.default_rng(11)
    k = 7
    y = np.log(0.75) + rng.normal(0, 0.2, k)
    s = rng.uniform(0.12, 0.4, k)
    sizes = rng.integers(50, 300, k)
    res = monitor(y, s, None, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, sample_sizes=sizes, measure="HR")
    tab = res.table
    assert list(tab["look"]) == list(range(1, k + 1))
    np.testing.assert_array_equal(tab["n_cum"], np.cumsum(sizes))
    for j in range(1, k + 1):
        post = _independent_look(y, s, j, measure="HR")
        row = tab.iloc[j - 1]
        mu, new, tau = post.marginal("mu"), post.marginal("predictive"), post.marginal("tau")
        lo, hi = mu.interval(0.95)
        plo, phi = new.interval(0.95)
        expected = {
            "median": np.exp(mu.ppf(0.5)),
            "ci_lower": np.exp(lo),
            "ci_upper": np.exp(hi),
            "pred_lower": np.exp(plo),
            "pred_upper": np.exp(phi),
            "tau_median": tau.ppf(0.5),
            "prob_below_1": post.prob_below(1.0),
            "prob_below_0.7": post.prob_below(0.7),
            "prob_below_0.8": post.prob_below(0.8),
        }
        for col, value in expected.items():
            assert row[col] == pytest.approx(float(value), rel=1e-8, abs=1e-8), (j, col)


def test_identical_effects_from_hr_half_stop_for_benefit_at_the_first_convincing_look():
    k = 20
    y = np.full(k, np.log(0.5))
    s = np.full(k, 0.9)  # imprecise enough that early looks do not convince
    res = monitor(y, s, None, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, futility_mcid=None, measure="HR")
    p_indep = [_independent_look(y, s, j).prob_below(1.0) for j in range(1, k + 1)]
    expected = next(j for j, p in enumerate(p_indep, start=1) if p > 0.975)
    assert expected > 1  # the test is about finding the look, not about look 1
    assert res.first_stop is not None
    assert res.first_stop.reason == "benefit"
    assert res.first_stop.look == expected
    assert res.table["decision"].iloc[expected - 1] == "benefit"
    assert (res.table["decision"].iloc[: expected - 1] == "continue").all()
    # The posterior median moves toward the true HR of 0.5 as the studies accumulate.
    assert res.table["median"].iloc[-1] == pytest.approx(0.5, rel=0.05)


def test_null_sequence_never_stops_for_benefit_and_ends_at_one_half():
    # Seeded pairs (e, -e): the data after every even look are symmetric about 0, as is the N(0, 4) prior, so
    # P(HR < 1) is exactly 1/2 there by symmetry.
    rng = np.random.default_rng(2024)
    e = rng.normal(0.0, 0.25, 15)
    y = np.column_stack([e, -e]).ravel()
    s = np.full(y.size, 0.25)
    res = monitor(y, s, None, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, futility_mcid=None, measure="HR")
    assert not res.table["benefit"].any()
    assert res.first_stop is None
    even = res.table.iloc[1::2]
    np.testing.assert_allclose(even["prob_below_1"], 0.5, atol=1e-8)
    np.testing.assert_allclose(even["median"], 1.0, atol=1e-8)


def test_precise_null_studies_stop_for_futility_when_an_mcid_benefit_becomes_improbable():
    y = np.array([0.02, -0.03, 0.01, 0.0, -0.01, 0.03, 0.0, -0.02])
    s = np.full(y.size, 0.15)
    res = monitor(y, s, None, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, futility_mcid=0.8, futility_prob=0.1,
                  measure="HR")
    p_mcid = [_independent_look(y, s, j).prob_below(0.8) for j in range(1, y.size + 1)]
    expected = next(j for j, p in enumerate(p_mcid, start=1) if p < 0.1)
    assert res.first_stop is not None
    assert (res.first_stop.look, res.first_stop.reason) == (expected, "futility")
    assert not res.table["benefit"].any()


def test_benefit_above_one_flips_every_probability():
    rng = np.random.default_rng(5)
    y = np.log(1.6) + rng.normal(0, 0.1, 6)
    s = np.full(6, 0.3)
    res = monitor(
        y,
        s,
        None,
        mu_prior=MU_PRIOR,
        tau_prior=TAU_PRIOR,
        measure="RR",
        benefit="above",
        thresholds=(1.0, 1.3),
        futility_mcid=1.25,
    )
    for j in range(1, 7):
        post = _independent_look(y, s, j, measure="RR")
        row = res.table.iloc[j - 1]
        assert row["prob_above_1"] == pytest.approx(post.prob_above(1.0), abs=1e-8)
        assert row["prob_above_1.25"] == pytest.approx(post.prob_above(1.25), abs=1e-8)
        assert row["benefit"] == (post.prob_above(1.0) > 0.975)
    assert res.first_stop is not None and res.first_stop.reason == "benefit"


def test_studies_are_ordered_by_year_then_study_id():
    ids = ["C", "A", "B", "D"]
    years = [2020, 2021, 2020, 2019]
    y = np.array([-0.1, -0.2, -0.3, -0.4])
    s = np.array([0.2, 0.3, 0.4, 0.5])
    res = monitor(y, s, years, study=ids, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure="HR")
    assert list(res.table["study"]) == ["D", "B", "C", "A"]
    assert list(res.table["order"]) == [2019, 2020, 2020, 2021]
    # Look 2 holds D and B: compare with an exact fit on exactly those two.
    post = fit_exact(np.array([-0.4, -0.3]), np.array([0.5, 0.4]), mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure="HR")
    assert res.table["prob_below_1"].iloc[1] == pytest.approx(post.prob_below(1.0), abs=1e-8)


def test_as_dict_is_json_ready_and_carries_the_first_stop():
    y = np.full(6, np.log(0.4))
    s = np.full(6, 0.3)
    res = monitor(y, s, None, study=list("abcdef"), mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure="HR")
    out = json.loads(json.dumps(res.as_dict(), allow_nan=False))
    assert out["first_stop"] == {"look": res.first_stop.look, "study": res.first_stop.study, "reason": "benefit"}
    assert len(out["looks"]) == 6
    assert out["rule"]["benefit_prob"] == 0.975
    assert out["looks"][0]["prob_below_1"] == pytest.approx(res.table["prob_below_1"].iloc[0])


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"futility_mcid": 1.25}, "benefit side"),
        ({"benefit_prob": 1.5}, "benefit_prob"),
        ({"thresholds": (0.0,)}, "positive"),
    ],
)
def test_bad_rule_settings_are_refused(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        monitor([-0.2, -0.1], [0.2, 0.2], None, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, **kwargs, measure="HR")


def test_bad_study_data_are_refused():
    with pytest.raises(InputError, match="sei"):
        monitor([-0.2, -0.1], [0.2, 0.0], None, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure="HR")
    with pytest.raises(InputError, match="yi"):
        monitor([-0.2, np.nan], [0.2, 0.2], None, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure="HR")
    with pytest.raises(InputError, match="year"):
        monitor([-0.2, -0.1], [0.2, 0.2], [2020.0, np.nan], mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure="HR")


# -- operating characteristics -----------------------------------------------------------------------------------


def _rst_probability(k: int, crit: float) -> float:
    """P(max_j Z_j > crit) for the common-effect cumulative Z with equal information per study:
    corr(Z_i, Z_j) = sqrt(i / j) for i <= j (Armitage, McPherson & Rowe 1969)."""
    i = np.arange(1, k + 1)
    cov = np.sqrt(np.minimum.outer(i, i) / np.maximum.outer(i, i))
    inside = stats.multivariate_normal.cdf(np.full(k, crit), mean=np.zeros(k), cov=cov, abseps=1e-5, releps=1e-5)
    return 1.0 - float(inside)


def _common_effect_crossings(k, pool, n_sim, seed):
    """Share of null sequences (the draws of operating_characteristics with this seed) whose common-effect
    cumulative Z falls below -1.96 at some look."""
    se, _, z_y = simulate_sequences(k, pool, n_sim, np.random.default_rng(seed))
    y = se * z_y
    z = np.cumsum(y / se**2, axis=1) / np.sqrt(np.cumsum(1 / se**2, axis=1))
    return float(np.mean((z < -stats.norm.ppf(0.975)).any(axis=1)))


def test_null_benefit_rate_is_bounded_by_the_repeated_significance_probability():
    # Equal SEs and a N(0, .) prior on mu: for every tau, |E(mu|tau,y)| / sd(mu|tau,y) <= |Z_common|, so
    # P(HR < 1 | y) > 0.975 implies Z_common < -1.96 at that look: sequence by sequence, a benefit stop implies a
    # crossing of the common-effect Z, whose probability is the repeated-significance probability.
    k, n_sim, seed, pool = 6, 200, 3, np.array([0.2])
    bound = _rst_probability(k, stats.norm.ppf(0.975))
    assert 0.06 < bound < 0.09  # 0.077 for 6 looks: three times the nominal 0.025 of one look
    crossings = _common_effect_crossings(k, pool, n_sim, seed)
    assert abs(crossings - bound) < 3 * np.sqrt(bound * (1 - bound) / n_sim)
    oc = operating_characteristics(
        k,
        pool,
        true_ratio=1.0,
        tau_values=(0.0,),
        n_sim=n_sim,
        seed=seed,
        mu_prior=MU_PRIOR,
        tau_prior=TAU_PRIOR,
        futility_mcid=None,
    )
    row = oc.iloc[0]
    assert row["p_benefit"] <= crossings
    assert row["p_futility"] == 0.0
    # With tau held near 0 and a vague effect prior the posterior rule is the common-effect test itself.
    near_fe = operating_characteristics(
        k,
        pool,
        true_ratio=1.0,
        tau_values=(0.0,),
        n_sim=n_sim,
        seed=seed,
        mu_prior="normal(0, 100)",
        tau_prior="halfnormal(0.001)",
        futility_mcid=None,
    )
    assert near_fe["p_benefit"].iloc[0] == pytest.approx(crossings, abs=1.01 / n_sim)


def _brute_force(k, pool, truths, taus, n_sim, seed, mcid):
    """Per sequence and per look, an exact fit on the first j studies; the draws follow the documented order of
    simulate_sequences (SE indices, then z_theta, then z_y)."""
    rng = np.random.default_rng(seed)
    se = pool[rng.integers(0, pool.size, size=(n_sim, k))]
    z_theta = rng.standard_normal((n_sim, k))
    z_y = rng.standard_normal((n_sim, k))
    rows = []
    for r in truths:
        for t in taus:
            y = np.log(r) + t * z_theta + se * z_y
            stops, reasons = [], []
            for i in range(n_sim):
                stop, reason = 0, ""
                for j in range(1, k + 1):
                    post = fit_exact(y[i, :j], se[i, :j], mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure="HR")
                    if post.prob_below(1.0) > 0.975:
                        stop, reason = j, "benefit"
                        break
                    if post.prob_below(mcid) < 0.1:
                        stop, reason = j, "futility"
                        break
                stops.append(stop)
                reasons.append(reason)
            stops, reasons = np.array(stops), np.array(reasons)
            rows.append(
                (
                    r,
                    t,
                    np.mean(reasons == "benefit"),
                    np.mean(reasons == "futility"),
                    stops[stops > 0].mean() if (stops > 0).any() else np.nan,
                )
            )
    return rows


def test_vectorised_simulation_matches_a_per_sequence_loop_with_the_same_seed():
    k, n_sim, seed = 5, 16, 7
    pool = np.array([0.15, 0.25, 0.4])
    oc = operating_characteristics(
        k,
        pool,
        true_ratio=(1.0, 0.7),
        tau_values=(0.0, 0.3),
        n_sim=n_sim,
        seed=seed,
        mu_prior=MU_PRIOR,
        tau_prior=TAU_PRIOR,
        futility_mcid=0.8,
        max_batch=37,
    )
    brute = _brute_force(k, pool, (1.0, 0.7), (0.0, 0.3), n_sim, seed, 0.8)
    assert len(oc) == len(brute) == 4
    for (_, row), (r, t, p_b, p_f, look) in zip(oc.iterrows(), brute):
        assert (row["true_ratio"], row["tau"]) == (r, t)
        assert row["p_benefit"] == p_b
        assert row["p_futility"] == p_f
        assert row["mean_look"] == pytest.approx(look, nan_ok=True)


def test_benefit_rate_is_higher_when_the_treatment_works():
    oc = operating_characteristics(
        5,
        np.array([0.2, 0.3]),
        true_ratio=(1.0, 0.7),
        tau_values=(0.0, 0.2),
        n_sim=100,
        seed=1,
        mu_prior=MU_PRIOR,
        tau_prior=TAU_PRIOR,
    )
    for tau in (0.0, 0.2):
        null = oc[(oc["true_ratio"] == 1.0) & (oc["tau"] == tau)].iloc[0]
        alt = oc[(oc["true_ratio"] == 0.7) & (oc["tau"] == tau)].iloc[0]
        assert alt["p_benefit"] > null["p_benefit"] + 0.2
        assert alt["p_futility"] < null["p_futility"]
        assert null["p_benefit"] + null["p_futility"] + null["p_no_stop"] == pytest.approx(1.0)


def test_simulated_sequences_follow_the_stated_model():
    rng = np.random.default_rng(0)
    pool = np.array([0.1, 0.5])
    se, z_theta, z_y = simulate_sequences(50, pool, 2000, rng)
    assert set(np.unique(se)) == {0.1, 0.5}
    assert abs(np.mean(se == 0.1) - 0.5) < 0.01
    # y = ln R + tau z_theta + se z_y has variance tau^2 + se^2 given se.
    tau = 0.3
    y = np.log(0.7) + tau * z_theta + se * z_y
    for value in pool:
        sel = y[se == value]
        assert sel.mean() == pytest.approx(np.log(0.7), abs=0.01)
        assert sel.var() == pytest.approx(tau**2 + value**2, rel=0.03)


def test_rule_rejects_probabilities_outside_the_unit_interval():
    with pytest.raises(InputError):
        MonitoringRule(futility_prob=0.0)


# -- figure and command line -------------------------------------------------------------------------------------


def test_monitoring_figure_draws_the_trajectory_and_the_tsa_panel():
    from matplotlib.figure import Figure

    from bayesmeta.plots.monitoring import plot_monitoring

    y = np.full(5, np.log(0.6))
    res = monitor(y, np.full(5, 0.3), None, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure="HR")
    tsa = pd.DataFrame(
        {"information_fraction": [0.2, 0.4, 0.6, 0.8, 1.0], "z": [1, 2, 2.5, 3, 3.5], "upper": [6, 4, 3.2, 2.8, 2.5]}
    )
    fig = plot_monitoring(res.table, measure="HR", tsa=tsa)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    ax_effect, _ax_prob, ax_tsa = fig.axes
    np.testing.assert_allclose(ax_effect.lines[0].get_ydata(), res.table["median"])
    np.testing.assert_allclose(ax_tsa.lines[0].get_ydata(), tsa["z"])
    assert len(plot_monitoring(res.table).axes) == 2
    with pytest.raises(ValueError, match="upper"):
        plot_monitoring(res.table, tsa={"information_fraction": [0.5], "z": [1.0]})


def _tsa_example():
    from bayesmeta.tsa import tsa

    ids = ["A", "B", "C", "D", "E"]
    y = np.log(np.array([0.8, 0.7, 0.75, 0.65, 0.7]))
    v = np.array([0.04, 0.03, 0.05, 0.02, 0.03])
    n = np.array([200, 250, 150, 400, 300])
    years = [2015, 2016, 2017, 2018, 2019]
    res = monitor(y, np.sqrt(v), years, study=ids, sample_sizes=n, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, measure="HR")
    t = tsa(y, v, n, p_control=0.4, relative_risk_reduction=0.2, order=years, study=ids)
    return res, t


def test_side_by_side_joins_the_tsa_curve_look_by_look():
    from bayesmeta.sequential import side_by_side

    res, t = _tsa_example()
    both = side_by_side(res, t)
    assert list(both["study"]) == ["A", "B", "C", "D", "E"]
    np.testing.assert_allclose(both["z"], t.curve["z"])
    np.testing.assert_allclose(both["prob_below_1"], res.table["prob_below_1"])
    np.testing.assert_array_equal(both["tsa_efficacy"], np.abs(t.curve["z"]) >= t.curve["efficacy"])
    # The first look where |Z| reaches the boundary is the TSA's own reading.
    crossed = np.flatnonzero(both["tsa_efficacy"].to_numpy())
    assert (int(crossed[0]) + 1 if crossed.size else None) == t.crossed_efficacy_at
    shuffled = monitor(
        res.table["median"].pipe(np.log),
        np.full(5, 0.2),
        None,
        study=list("EDCBA"),
        mu_prior=MU_PRIOR,
        tau_prior=TAU_PRIOR,
        measure="HR",
    )
    with pytest.raises(InputError, match="different orders"):
        side_by_side(shuffled, t)


def test_monitoring_figure_takes_a_tsa_curve():
    from bayesmeta.plots.monitoring import plot_monitoring

    res, t = _tsa_example()
    fig = plot_monitoring(res.table, tsa=t.curve)
    ax_tsa = fig.axes[2]
    np.testing.assert_allclose(ax_tsa.lines[0].get_xdata(), t.curve["fraction"])
    np.testing.assert_allclose(
        ax_tsa.lines[2].get_ydata(), -np.where(np.isfinite(t.curve["efficacy"]), t.curve["efficacy"], np.nan)
    )


def test_cli_monitor_json_matches_the_library(tmp_path, capsys):
    from bayesmeta.cli import main

    data = tmp_path / "seq.csv"
    data.write_text(
        "study,yi,sei,year,n_total\nLate,-0.7,0.2,2022,200\nEarly,-0.5,0.3,2018,100\nMid,-0.6,0.25,2020,150\n"
    )
    assert main(["monitor", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [look["study"] for look in out["looks"]] == ["Early", "Mid", "Late"]
    assert [look["n_cum"] for look in out["looks"]] == [100, 250, 450]
    res = monitor([-0.5, -0.6, -0.7], [0.3, 0.25, 0.2], None, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)",
                  measure="HR")
    np.testing.assert_allclose([lk["prob_below_1"] for lk in out["looks"]], res.table["prob_below_1"], atol=1e-12)
    assert out["measure"] == "HR"


def test_cli_monitor_benefit_above_level_and_figures(tmp_path, capsys):
    """--benefit above reads the upper tail with the mirrored default MCID (1.25); --level sets the interval;
    --figures writes the monitoring figure into the folder; arm counts give the cumulative participants."""
    from bayesmeta.cli import main
    from bayesmeta.tables import read_effect_table

    data = tmp_path / "seq.csv"
    data.write_text("study,events_treatment,total_treatment,events_control,total_control,year\n"
                    "A,30,100,20,100,2018\nB,40,110,28,105,2019\nC,35,90,25,95,2021\n")
    figures = tmp_path / "figures"
    assert main(["monitor", str(data), "--benefit", "above", "--level", "0.9", "--figures", str(figures),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rule"]["benefit"] == "above" and out["rule"]["futility_mcid"] == pytest.approx(1.25)
    assert out["measure"] == "RR" and out["level"] == 0.9
    assert [look["n_cum"] for look in out["looks"]] == [200, 415, 600]
    table = read_effect_table(data)
    res = monitor(table, order=[2018, 2019, 2021], mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, thresholds=(1.0, 1.25),
                  futility_mcid=1.25, benefit="above", level=0.9)
    np.testing.assert_allclose([lk["prob_above_1"] for lk in out["looks"]], res.table["prob_above_1"], atol=1e-12)
    np.testing.assert_allclose([lk["ci_lower"] for lk in out["looks"]], res.table["ci_lower"], atol=1e-12)
    assert (figures / "monitoring.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_monitor_prints_a_table_and_reports_a_missing_year(tmp_path, capsys):
    from bayesmeta.cli import main

    data = tmp_path / "seq.csv"
    data.write_text("study,yi,sei,year\nA,-0.5,0.3,2018\nB,-0.6,0.25,\n")
    assert main(["monitor", str(data)]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "year" in err
    data.write_text("study,yi,sei\nA,-0.5,0.3\nB,-0.6,0.25\n")
    assert main(["monitor", str(data), "--mcid", "0.8"]) == 0
    text = capsys.readouterr().out
    assert "file order" in text and "P(< 1)" in text
