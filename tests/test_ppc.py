"""Posterior predictive checks: outlier detection, agreement with Monte Carlo and closed forms, the Q-discrepancy
ppp under known truths, the PSIS path against the exact LOO, CLI and figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from bayesmeta.cli import main
from bayesmeta.exact import fit_exact
from bayesmeta.posterior import Posterior
from bayesmeta.ppc import (
    loo_pit,
    q_discrepancy_ppp,
    q_statistic,
    study_predictive_pvalues,
    uniform_ecdf_band,
)

MU, TAU = "normal(0, 4)", "halfnormal(0.5)"


def _outlier_data():
    rng = np.random.default_rng(11)
    k = 8
    sei = rng.uniform(0.15, 0.25, k)
    y = -0.4 + rng.normal(0, 0.1, k) + rng.normal(0, 1, k) * sei
    y[5] = 0.9  # planted outlier
    return y, sei, [f"S{i}" for i in range(k)]


@pytest.fixture(scope="module")
def outlier_post():
    y, sei, ids = _outlier_data()
    return fit_exact(y, sei, mu_prior=MU, tau_prior=TAU, study=ids, measure="HR", seed=3)


@pytest.fixture(scope="module")
def outlier_table(outlier_post):
    return study_predictive_pvalues(outlier_post)


def test_planted_outlier_has_smallest_pvalues_and_most_extreme_loo_pit(outlier_table):
    t = outlier_table
    assert t["p_two_sided"].idxmin() == "S5"
    assert t["loo_p_two_sided"].idxmin() == "S5"
    assert (t["loo_pit"] - 0.5).abs().idxmax() == "S5"
    # The outlier lies above the others: its LOO-PIT is near 1 and it falls outside its LOO predictive interval.
    assert t.loc["S5", "loo_pit"] > 0.99
    assert t.loc["S5", "yi"] > t.loc["S5", "loo_upper"]
    # Leaving the study out makes it more surprising than the posterior predictive check (which used it).
    assert t.loc["S5", "loo_p_two_sided"] < t.loc["S5", "p_two_sided"]
    # Every other study lies inside its LOO predictive interval.
    others = t.drop(index="S5")
    assert ((others["yi"] > others["loo_lower"]) & (others["yi"] < others["loo_upper"])).all()


def test_exact_pvalues_agree_with_monte_carlo_from_the_sampler(outlier_post, outlier_table):
    n = 20_000
    draws = outlier_post.get_draws(n, seed=5)
    theta = np.asarray(draws["theta"]).reshape(-1, outlier_post.k)
    rng = np.random.default_rng(6)
    y_rep = theta + rng.standard_normal(theta.shape) * outlier_post.sei
    p_mc = np.mean(y_rep <= outlier_post.yi, axis=0)
    p = outlier_table["pit"].to_numpy()
    se = np.sqrt(np.maximum(p * (1 - p), 1e-4) / n)
    assert np.all(np.abs(p - p_mc) < 4.5 * se), (p, p_mc)
    # Interval endpoints are the 2.5% / 97.5% quantiles of the same predictive distribution.
    for col, q in (("pred_lower", 0.025), ("pred_upper", 0.975)):
        share = np.mean(y_rep <= outlier_table[col].to_numpy(), axis=0)
        assert np.all(np.abs(share - q) < 4.5 * np.sqrt(q * (1 - q) / n)), (col, share)


def test_exact_loo_pit_agrees_with_a_refit_and_monte_carlo(outlier_post, outlier_table):
    y, sei, ids = _outlier_data()
    n = 100_000
    rng = np.random.default_rng(8)
    for i in (0, 5):
        keep = np.arange(y.size) != i
        sub = fit_exact(y[keep], sei[keep], mu_prior=MU, tau_prior=TAU, seed=9)
        theta_new = sub.marginal("predictive").rvs(n, rng)
        y_rep = theta_new + rng.standard_normal(n) * sei[i]
        p_mc = np.mean(y_rep <= y[i])
        p = outlier_table.loc[ids[i], "loo_pit"]
        assert abs(p - p_mc) < 4.5 * np.sqrt(max(p * (1 - p), 1e-4) / n)
        # exact log predictive density against the Monte Carlo average of N(y_i; theta_new, s_i^2)
        dens = stats.norm.pdf(y[i], theta_new, sei[i])
        se = dens.std() / np.sqrt(n)
        assert abs(np.exp(outlier_table.loc[ids[i], "elpd_loo"]) - dens.mean()) < 4.5 * se


@pytest.mark.parametrize("mu_prior, tau_prior", [(MU, TAU), ("flat", "halfcauchy(1)"), ("normal(0, 1)", "uniform(0, 2)"),
                                                 (MU, "jeffreys")])
def test_exact_loo_matches_precise_refits_whichever_path_serves_it(mu_prior, tau_prior):
    """The exact LOO reweights the full fit's tau nodes where they resolve the leave-one-out posterior and refits
    otherwise (Jeffreys' prior depends on the studies' SEs, so it is always refitted): both must agree with a
    refit without the study at rtol 1e-12, for ordinary studies and a planted outlier."""
    from bayesmeta.exact.mixture import NormalMixture
    from bayesmeta.ppc import _loo_reweighted

    y, sei, ids = _outlier_data()
    post = fit_exact(y, sei, mu_prior=mu_prior, tau_prior=tau_prior, study=ids)
    served = [m is not None for m in _loo_reweighted(post)]
    assert not any(served) if tau_prior == "jeffreys" else sum(served) >= len(ids) - 1
    table = loo_pit(post)
    for i in (0, 3, 5):
        keep = np.arange(y.size) != i
        ref = fit_exact(y[keep], sei[keep], mu_prior=mu_prior, tau_prior=tau_prior, rtol=1e-12)
        m = ref.marginal("predictive")
        pred = NormalMixture(m.weights, m.means, np.sqrt(m.sds**2 + sei[i] ** 2))
        row = table.loc[ids[i]]
        assert row["loo_pit"] == pytest.approx(float(pred.cdf(y[i])), rel=1e-6, abs=1e-9)
        assert row["elpd_loo"] == pytest.approx(float(np.log(pred.pdf(y[i]))), rel=1e-6)
        lo, hi = pred.interval(0.95)
        assert row["loo_lower"] == pytest.approx(lo, rel=1e-6) and row["loo_upper"] == pytest.approx(hi, rel=1e-6)


def test_common_effect_closed_form():
    """tau prior concentrated at 0 and a flat mu prior: theta_i = mu ~ N(mu_hat, 1/sum w), so
    p_i = Phi((y_i - mu_hat) / sqrt(s_i^2 + 1/sum w)) and the LOO version uses the estimate without study i."""
    y = np.array([-0.5, -0.2, -0.35, 0.1, -0.6])
    sei = np.array([0.2, 0.3, 0.25, 0.4, 0.15])
    post = fit_exact(y, sei, mu_prior="flat", tau_prior="halfnormal(0.0001)", measure="HR")
    t = study_predictive_pvalues(post)
    w = 1 / sei**2
    mu_hat = np.sum(w * y) / w.sum()
    expected = stats.norm.cdf((y - mu_hat) / np.sqrt(sei**2 + 1 / w.sum()))
    assert np.allclose(t["pit"].to_numpy(), expected, atol=2e-5)
    loo_expected = []
    for i in range(y.size):
        keep = np.arange(y.size) != i
        m = np.sum(w[keep] * y[keep]) / w[keep].sum()
        loo_expected.append(stats.norm.cdf((y[i] - m) / np.sqrt(sei[i] ** 2 + 1 / w[keep].sum())))
    assert np.allclose(t["loo_pit"].to_numpy(), loo_expected, atol=2e-5)
    assert np.allclose(t["loo_p_two_sided"], 2 * np.minimum(t["loo_pit"], 1 - t["loo_pit"]))


def test_q_statistic_by_hand():
    assert q_statistic(np.array([1.0, 3.0]), np.array([1.0, 2.0]), np.array(0.0)) == pytest.approx(1 + 9 / 4)
    assert np.allclose(q_statistic(np.array([1.0, 3.0]), np.array([1.0, 2.0]), np.array([0.0, 1.0])), [3.25, 1.0])


def _simulate(k: int, tau: float, seed: int):
    rng = np.random.default_rng(seed)
    sei = rng.uniform(0.1, 0.3, k)
    theta = -0.3 + tau * rng.standard_normal(k)
    return theta + sei * rng.standard_normal(k), sei


def test_q_ppp_is_moderate_without_heterogeneity():
    y, sei = _simulate(10, 0.0, seed=21)
    post = fit_exact(y, sei, mu_prior=MU, tau_prior=TAU, seed=1)
    res = q_discrepancy_ppp(post, n_draws=4000, seed=2)
    assert 0.05 < res.ppp < 0.95
    assert res.n_draws == 4000 and res.seed == 2
    assert res.t_obs.shape == res.t_rep.shape == (4000,)


def test_q_ppp_is_near_zero_for_heterogeneous_data_under_a_near_zero_tau_prior():
    y, sei = _simulate(10, 0.6, seed=22)
    narrow = fit_exact(y, sei, mu_prior=MU, tau_prior="halfnormal(0.01)", seed=1)
    res = q_discrepancy_ppp(narrow, n_draws=4000, seed=3)
    assert res.ppp < 0.01
    # The same data under a prior that lets tau be estimated: the model accounts for the spread.
    wide = fit_exact(y, sei, mu_prior=MU, tau_prior="halfnormal(1)", seed=1)
    assert q_discrepancy_ppp(wide, n_draws=4000, seed=3).ppp > 0.05


def test_q_ppp_is_reproducible_and_records_its_mc_error(outlier_post):
    a = q_discrepancy_ppp(outlier_post, n_draws=2000, seed=4)
    b = q_discrepancy_ppp(outlier_post, n_draws=2000, seed=4)
    assert a.ppp == b.ppp
    assert a.mc_se == pytest.approx(np.sqrt(a.ppp * (1 - a.ppp) / 2000))
    assert set(a.to_dict()) >= {"ppp", "mc_se", "n_draws", "seed", "statistic", "replication"}


def _draws_posterior(post: Posterior, n: int, seed: int, chains: int = 2) -> Posterior:
    """The exact posterior represented by independent draws, as a sampling engine would return it."""
    draws = post.get_draws(n * chains, seed=seed)
    shaped = {
        name: np.asarray(v).reshape((chains, n) + np.asarray(v).shape[2:])
        for name, v in draws.items()
        if name in ("mu", "tau", "theta", "predictive")
    }
    return Posterior(
        engine="draws",
        measure=post.measure,
        study=post.study,
        yi=post.yi,
        sei=post.sei,
        marginals=post.marginals,
        priors=post.priors,
        draws=shaped,
        seed=seed,
    )


def test_psis_loo_from_draws_agrees_with_the_exact_refits(outlier_post, outlier_table):
    sampled = _draws_posterior(outlier_post, 4000, seed=12)
    t = loo_pit(sampled)
    assert np.all(np.isfinite(t["pareto_k"]))
    good = t["pareto_k"] < 0.7
    assert good.sum() >= outlier_post.k - 1
    bad = [str(s) for s in t.index[~good]]
    assert all(s in " ".join(t.attrs["warnings"]) for s in bad) and (bool(bad) == bool(t.attrs["warnings"]))
    assert np.allclose(t.loc[good, "loo_pit"], outlier_table.loc[good, "loo_pit"], atol=0.02)
    assert np.allclose(t.loc[good, "elpd_loo"], outlier_table.loc[good, "elpd_loo"], atol=0.05)
    # Per-study posterior predictive p-values from the draws (Rao-Blackwellised) agree with the exact ones.
    d = study_predictive_pvalues(sampled, loo=False)
    assert np.allclose(d["pit"], outlier_table["pit"], atol=0.02)
    assert "pareto_k" not in d.columns


def test_uniform_ecdf_band_covers_at_the_stated_level():
    band = uniform_ecdf_band(10, 0.95)
    mid = band.iloc[(band["u"] - 0.5).abs().argmin()]
    lo, hi = round(mid["ci_lower"] * 10), round(mid["ci_upper"] * 10)
    cover = stats.binom.cdf(hi, 10, 0.5) - stats.binom.cdf(lo - 1, 10, 0.5)
    assert cover >= 0.95
    assert np.all(band["ci_lower"] <= band["u"] + 1e-12) and np.all(band["ci_upper"] >= band["u"] - 1e-12)


def test_ppc_figures(outlier_table, outlier_post):
    from bayesmeta.plots.ppc import (
        plot_loo_pit,
        plot_predictive_intervals,
        plot_q_discrepancy,
    )

    fig = plot_predictive_intervals(outlier_table, measure="HR")
    assert isinstance(fig, Figure) and len(fig.axes[0].get_yticklabels()) == outlier_post.k
    assert isinstance(plot_loo_pit(outlier_table["loo_pit"], band=uniform_ecdf_band(8)), Figure)
    q = q_discrepancy_ppp(outlier_post, n_draws=500, seed=1)
    assert isinstance(plot_q_discrepancy(q.t_obs, q.t_rep, q.ppp), Figure)
    with pytest.raises(ValueError, match="pred_lower"):
        plot_predictive_intervals(outlier_table.drop(columns="pred_lower"))


def test_cli_ppc_json(tmp_path, capsys):
    y, sei, ids = _outlier_data()
    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei\n" + "".join(f"{s},{a},{b}\n" for s, a, b in zip(ids, y, sei)))
    figs = tmp_path / "figs"
    assert main(["ppc", str(data), "--measure", "HR", "--draws", "1000", "--json", "--figures", str(figs)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 8 and out["engine"] == "exact"
    worst = min(out["studies"], key=lambda r: r["loo_p_two_sided"])
    assert worst["study"] == "S5"
    assert 0 <= out["q_discrepancy"]["ppp"] <= 1
    assert sorted(p.name for p in figs.iterdir()) == ["ppc_loo_pit.png", "ppc_q_discrepancy.png", "ppc_studies.png"]


def test_cli_ppc_bad_prior_exits_2(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.1,0.3\n")
    assert main(["ppc", str(data), "--tau-prior", "halfnormal(-1)"]) == 2
    assert capsys.readouterr().err.startswith("error:")
