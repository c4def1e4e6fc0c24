"""Prior sensitivity: the cumulative Jensen-Shannon distance against ArviZ, power-scaling diagnoses with known
answers and against ``az.psens`` on draws, the prior grid against separate fits and a closed form, conclusion
bands, CLI and figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from arviz.stats.stats import _cjs_dist
from matplotlib.figure import Figure
from scipy import stats

from bayesmeta.cli import main
from bayesmeta.errors import InputError
from bayesmeta.exact import fit_exact
from bayesmeta.posterior import Posterior
from bayesmeta.priors import load_prior_sets
from bayesmeta.sensitivity import (
    cjs_distance,
    conclusion_changes,
    diagnose,
    power_scaling,
    power_scaling_distances,
    prior_grid,
)

Y = np.array([-0.51, 0.01, -1.05, -0.67, -0.65, -1.27, -0.84, -0.96, -0.41, -0.66])
SEI = np.array([0.24, 0.16, 0.16, 0.26, 0.19, 0.32, 0.26, 0.29, 0.20, 0.17])


# -- the distance ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift, scale", [(0.05, 1.0), (0.1, 0.9), (0.0, 1.1)])
def test_cjs_distance_matches_arviz_on_weighted_draws(shift, scale):
    """The grid version is the large-sample limit of ArviZ's draw-based distance over the span of S draws."""
    s = 4000
    rng = np.random.default_rng(7)
    values = []
    for _ in range(60):
        d = rng.standard_normal(s)
        w = stats.norm.pdf(d, shift, scale) / stats.norm.pdf(d)
        values.append(max(_cjs_dist(d, w), _cjs_dist(-d, w)))
    x = np.linspace(*stats.norm.ppf([1 / (s + 1), s / (s + 1)]), 2001)
    ours = float(cjs_distance(stats.norm.cdf(x), stats.norm.cdf(x, shift, scale), x))
    assert ours == pytest.approx(np.mean(values), rel=0.06)


def test_cjs_distance_is_zero_for_equal_distributions_and_symmetric():
    x = np.linspace(-5, 5, 1001)
    p, q = stats.norm.cdf(x), stats.norm.cdf(x, 0.3, 1.2)
    assert float(cjs_distance(p, p, x)) == 0.0
    assert float(cjs_distance(p, q, x)) == pytest.approx(float(cjs_distance(q, p, x)), rel=1e-12)
    assert float(cjs_distance(p, q, x)) > 0


# -- power-scaling -----------------------------------------------------------------------------------------
def test_power_scaling_at_alpha_one_leaves_the_posterior_unchanged():
    prior_d, lik_d = power_scaling_distances(
        Y, SEI, mu_prior="normal(0, 4)", tau_prior="halfcauchy(0.5)", alphas=(1.0,)
    )
    assert np.all(np.abs(prior_d) < 1e-10) and np.all(np.abs(lik_d) < 1e-10)
    # and the distance grows with the size of the perturbation
    d = power_scaling_distances(Y, SEI, mu_prior="normal(0, 1)", tau_prior="halfnormal(0.5)", alphas=(0.99, 0.9, 0.5))
    assert np.all(np.diff(d[0][:, 0]) > 0) and np.all(np.diff(d[1][:, 0]) > 0)


def test_prior_in_conflict_with_the_data_is_diagnosed():
    """Data around log HR -0.7 against a prior centred on +0.5, with little room for heterogeneity."""
    t = power_scaling((Y, SEI), mu_prior="normal(0.5, 0.2)", tau_prior="halfnormal(0.05)").set_index("parameter")
    assert t.loc["mu", "diagnosis"] == "prior-data conflict"
    assert t.loc["mu", "prior"] >= 0.1 and t.loc["mu", "likelihood"] >= 0.1


def test_power_scaling_matches_the_conjugate_normal_closed_form():
    """tau prior concentrated at 0: mu | y is normal with precision a_p / s0^2 + a_l sum(w) when the prior is
    raised to a_p and the likelihood to a_l; the sensitivities follow from the closed-form CDFs."""
    m0, s0 = 0.5, 0.1
    w = 1 / SEI**2
    ybar, prec = np.sum(w * Y) / w.sum(), w.sum()

    def posterior(a_prior, a_lik):
        p = a_prior / s0**2 + a_lik * prec
        return (a_prior * m0 / s0**2 + a_lik * prec * ybar) / p, 1 / np.sqrt(p)

    m, s = posterior(1, 1)
    tail = 1 / 4001
    x = np.linspace(stats.norm.ppf(tail, m, s), stats.norm.ppf(1 - tail, m, s), 1001)
    base = stats.norm.cdf(x, m, s)
    expected = {}
    for comp, args in (("prior", lambda a: (a, 1)), ("likelihood", lambda a: (1, a))):
        d = [float(cjs_distance(base, stats.norm.cdf(x, *posterior(*args(a))), x)) for a in (0.99, 1.01)]
        expected[comp] = sum(d) / (np.log2(1.01) - np.log2(0.99))
    t = power_scaling((Y, SEI), mu_prior=f"normal({m0}, {s0})", tau_prior="halfnormal(0.0001)")
    t = t.set_index("parameter")
    assert t.loc["mu", "prior"] == pytest.approx(expected["prior"], rel=1e-4)
    assert t.loc["mu", "likelihood"] == pytest.approx(expected["likelihood"], rel=1e-4)
    assert t.loc["mu", "diagnosis"] == "prior-data conflict"
    # tau is fixed by its prior: prior-sensitive, not likelihood-sensitive
    assert t.loc["tau", "diagnosis"] == "strong prior / weak likelihood"


def test_vague_prior_shows_no_prior_sensitivity_for_mu():
    t = power_scaling((Y, SEI), mu_prior="normal(0, 100)", tau_prior="halfnormal(1)").set_index("parameter")
    assert t.loc["mu", "prior"] < 0.01
    assert t.loc["mu", "likelihood"] > 2 * t.loc["mu", "prior"]  # the data, not the prior, shape mu
    assert t.loc["mu", "diagnosis"] == "-"
    assert list(t.index) == ["mu", "tau", "predictive"]


def test_strong_prior_with_weak_data_is_diagnosed():
    y, sei = np.array([-0.2, 0.4, 0.1]), np.array([2.0, 2.5, 3.0])
    t = power_scaling((y, sei), mu_prior="normal(0, 0.1)", tau_prior="halfnormal(0.1)").set_index("parameter")
    assert t.loc["mu", "diagnosis"] == "strong prior / weak likelihood"


def test_diagnose_rules():
    assert diagnose(0.06, 0.06) == "prior-data conflict"
    assert diagnose(0.06, 0.01) == "strong prior / weak likelihood"
    assert diagnose(0.01, 0.2) == "-"
    assert diagnose(0.05, 0.05) == "prior-data conflict"


def _as_sampled(post: Posterior, draws: dict[str, np.ndarray], seed: int, **changes) -> Posterior:
    """The exact posterior ``post`` as a sampling engine would return it, carrying ``draws`` (chain, draw, ...)."""
    fields = {
        "engine": "draws",
        "measure": post.measure,
        "study": post.study,
        "yi": post.yi,
        "sei": post.sei,
        "marginals": post.marginals,
        "priors": post.priors,
        "draws": draws,
        "seed": seed,
    }
    return Posterior(**(fields | changes))


def test_exact_power_scaling_agrees_with_arviz_psens_on_exact_draws():
    """az.psens reweights posterior draws (PSIS) by the summed log prior / conditional log likelihood; the
    exact engine refits with p(mu, tau)^alpha and sei / sqrt(alpha). Same quantity, no sampling error."""
    post = fit_exact(Y, SEI, mu_prior="normal(-0.2, 0.3)", tau_prior="halfnormal(0.3)", measure="HR", seed=1)
    s = 4000
    exact = power_scaling(post, alphas=(1 / 1.01, 1.01), support_draws=s).set_index("parameter")
    reps = []
    for seed in range(4):
        draws = post.get_draws(s, seed=100 + seed)
        shaped = {
            n: np.asarray(draws[n]).reshape((1, s) + np.asarray(draws[n]).shape[2:])
            for n in ("mu", "tau", "theta", "predictive")
        }
        sampled = _as_sampled(post, shaped, seed)
        reps.append(power_scaling(sampled, params=("mu", "tau")).set_index("parameter"))
    for param in ("mu", "tau"):
        for comp in ("prior", "likelihood"):
            mc = np.array([r.loc[param, comp] for r in reps])
            assert exact.loc[param, comp] == pytest.approx(mc.mean(), rel=0.15, abs=3 * mc.std() / np.sqrt(len(mc)))


def test_psis_power_scaling_reads_the_engine_log_prior_group():
    """A sampling engine's InferenceData already carrying log_prior gives the same numbers as the priors."""
    post = fit_exact(Y, SEI, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", measure="HR", seed=1)
    d = post.get_draws(1000, seed=3)
    draws = {n: np.asarray(d[n]).reshape((2, 500) + np.asarray(d[n]).shape[2:]) for n in ("mu", "tau", "theta")}
    plain = _as_sampled(post, draws, 3)
    idata = plain.to_inference_data()
    idata.add_groups(
        {
            "log_prior": {
                "mu": stats.norm.logpdf(draws["mu"], 0, 4),
                "tau": stats.halfnorm.logpdf(draws["tau"], scale=0.5),
            }
        }
    )
    with_group = _as_sampled(post, draws, 3, priors={"mu": "flat", "tau": "halfflat"}, extras={"idata": idata})
    a = power_scaling(plain, params=("mu", "tau"))
    b = power_scaling(with_group, params=("mu", "tau"))
    assert np.allclose(a[["prior", "likelihood"]], b[["prior", "likelihood"]], rtol=1e-10)
    assert b.attrs["method"].startswith("psis")


def test_power_scaling_rejects_bad_alphas():
    with pytest.raises(ValueError, match="alphas"):
        power_scaling((Y, SEI), mu_prior="normal(0, 1)", tau_prior="halfnormal(0.5)", alphas=(1.01, 0.99))


# -- the prior grid ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grid():
    return prior_grid(Y, SEI, measure="HR")


def test_grid_member_equals_a_separate_fit(grid):
    assert len(grid) == len(grid.drop_duplicates(["prior_set", "tau_prior"]))
    row = grid[(grid["prior_set"] == "skeptical") & (grid["tau_prior"] == "halfnormal(1)")].iloc[0]
    sets = load_prior_sets()
    post = fit_exact(Y, SEI, mu_prior=sets["skeptical"].mu, tau_prior="halfnormal(1)", measure="HR")
    lo, hi = post.marginal("mu").interval(0.95)
    assert row["median"] == pytest.approx(np.exp(post.marginal("mu").median()), abs=1e-8)
    assert row["ci_lower"] == pytest.approx(np.exp(lo), abs=1e-8)
    assert row["ci_upper"] == pytest.approx(np.exp(hi), abs=1e-8)
    assert row["tau_median"] == pytest.approx(post.marginal("tau").median(), abs=1e-8)
    assert row["pred_upper"] == pytest.approx(np.exp(post.predictive_interval()[1]), abs=1e-8)
    for t in (1.0, 0.8, 0.7):
        assert row[f"prob_below_{t:g}"] == pytest.approx(post.prob_below(t), abs=1e-8)


def test_grid_has_every_set_and_scale(grid):
    sets = load_prior_sets()
    assert set(grid["prior_set"]) == set(sets)
    for name in sets:
        taus = set(grid.loc[grid["prior_set"] == name, "tau_prior"])
        assert {"halfnormal(0.25)", "halfnormal(0.5)", "halfnormal(1)", "halfnormal(2)"} <= taus
    assert (grid["ci_lower"] < grid["median"]).all() and (grid["median"] < grid["ci_upper"]).all()
    assert (grid["pred_lower"] <= grid["ci_lower"]).all() and (grid["pred_upper"] >= grid["ci_upper"]).all()
    assert (grid["prob_below_0.7"] <= grid["prob_below_0.8"]).all()
    assert (grid["prob_below_0.8"] <= grid["prob_below_1"]).all()


def test_grid_closed_form_common_effect():
    """tau prior concentrated at 0 with a flat mu prior: mu | y ~ N(mu_hat, 1 / sum w) (common effect)."""
    t = prior_grid(Y, SEI, {"flat": ("flat", "halfnormal(0.0001)")}, tau_scales=(), thresholds=(0.7, 1.0),
                   measure="HR")
    w = 1 / SEI**2
    mu_hat, se = np.sum(w * Y) / w.sum(), 1 / np.sqrt(w.sum())
    z = stats.norm.ppf(0.975)
    row = t.iloc[0]
    assert row["median"] == pytest.approx(np.exp(mu_hat), rel=1e-5)
    assert row["ci_lower"] == pytest.approx(np.exp(mu_hat - z * se), rel=1e-5)
    assert row["ci_upper"] == pytest.approx(np.exp(mu_hat + z * se), rel=1e-5)
    assert row["prob_below_0.7"] == pytest.approx(stats.norm.cdf((np.log(0.7) - mu_hat) / se), abs=1e-5)


def test_grid_benefit_above_reports_upper_tail():
    up = prior_grid(
        -Y,
        SEI,
        {"w": ("normal(0, 4)", "halfnormal(0.5)")},
        tau_scales=(),
        thresholds=(1.0,),
        measure="RR",
        benefit="above",
    )
    down = prior_grid(Y, SEI, {"w": ("normal(0, 4)", "halfnormal(0.5)")}, tau_scales=(), thresholds=(1.0,),
                      measure="HR")
    assert up["prob_above_1"].iloc[0] == pytest.approx(down["prob_below_1"].iloc[0], abs=1e-8)


def test_conclusion_changes_bands():
    table = pd.DataFrame(
        {
            "prior_set": ["a", "b", "c", "d"],
            "tau_prior": ["t"] * 4,
            "prob_below_0.7": [0.95, 0.91, 0.6, 0.3],
        }
    )
    out = conclusion_changes(table, threshold=0.7)
    assert list(out["band"]) == [">= 0.9", ">= 0.9", "0.5 to 0.9", "< 0.5"]
    assert list(out["changes"]) == [False, False, True, True]
    assert out.attrs["robust"] is False
    assert conclusion_changes(table.iloc[:2], threshold=0.7).attrs["robust"] is True
    with pytest.raises(InputError, match="0.8"):
        conclusion_changes(table, threshold=0.8)


def test_conclusion_changes_on_a_grid_where_the_prior_matters():
    """Three weak studies: the skeptical prior pulls P(HR < 0.7) below 0.5, the enthusiastic one above 0.5."""
    y, sei = np.array([-0.4, -0.3, -0.5]), np.array([0.4, 0.45, 0.5])
    g = prior_grid(y, sei, tau_scales=(0.5,), measure="HR")
    out = conclusion_changes(g, threshold=0.7)
    p = dict(zip(g["prior_set"], g["prob_below_0.7"]))
    assert p["skeptical"] < 0.5 < p["enthusiastic"]
    assert out.attrs["robust"] is False


# -- CLI and figures ---------------------------------------------------------------------------------------
def test_cli_sensitivity_json(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("study,yi,sei\n" + "".join(f"S{i},{a},{b}\n" for i, (a, b) in enumerate(zip(Y, SEI))))
    figs = tmp_path / "figs"
    assert main(["sensitivity", str(data), "--measure", "HR", "--json", "--figures", str(figs)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["parameter"] for r in out["power_scaling"]} == {"mu", "tau", "predictive"}
    assert len(out["influence"]["omitted"]) == len(Y)
    assert len(out["prior_grid"]) >= 5 * 4
    assert out["conclusion"]["column"] == "prob_below_0.7"
    assert len(list(figs.iterdir())) == 3


def test_sensitivity_figures(grid):
    from bayesmeta.plots.sensitivity import plot_power_scaling, plot_prior_grid

    assert isinstance(plot_prior_grid(grid, measure="HR"), Figure)
    ps = power_scaling((Y, SEI), mu_prior="normal(1, 0.1)", tau_prior="halfnormal(0.5)")
    assert isinstance(plot_power_scaling(ps), Figure)
    with pytest.raises(ValueError, match="diagnosis"):
        plot_power_scaling(ps.drop(columns="diagnosis"))


# -- the direction a prior set is written for ------------------------------------------------------------------
def _user_prior_file(tmp_path, header: str = "") -> str:
    """A user's prior sets for an SMD where benefit is above 0: the enthusiastic one centred on SMD 0.2."""
    path = tmp_path / "smd_priors.toml"
    path.write_text(header + '[weak]\nmu = "normal(0, 1)"\ntau = "halfnormal(0.3)"\n\n'
                    '[enthusiastic]\nmu = "normal(0.2, 0.122)"\ntau = "halfnormal(0.3)"\n')
    return str(path)


def _enthusiastic_mu(grid: pd.DataFrame) -> str:
    return grid[grid["prior_set"] == "enthusiastic"]["mu_prior"].iloc[0]


def test_a_users_prior_set_is_used_as_written_unless_it_says_which_direction_it_is_written_for(tmp_path):
    """A set written on the outcome's own scale for its own direction is fitted as written (it was mirrored onto
    the harm side before); a file that says `benefit = "below"` is mirrored for an outcome where benefit is above
    (as the packaged sets are), and the mirrored prior gives the higher probability of benefit."""
    as_written = prior_grid(-Y, SEI, measure="SMD", benefit="above", thresholds=(0.0,),
                            prior_sets=load_prior_sets(_user_prior_file(tmp_path)), tau_scales=())
    assert _enthusiastic_mu(as_written) == "normal(0.2, 0.122)"
    declared = prior_grid(-Y, SEI, measure="SMD", benefit="above", thresholds=(0.0,),
                          prior_sets=load_prior_sets(_user_prior_file(tmp_path, 'benefit = "below"\n')),
                          tau_scales=())
    assert _enthusiastic_mu(declared) == "normal(-0.2, 0.122)"
    assert (as_written.set_index("prior_set").loc["enthusiastic", "prob_above_0"]
            > declared.set_index("prior_set").loc["enthusiastic", "prob_above_0"])
    with pytest.raises(InputError, match="benefit.*valid: below, above"):
        load_prior_sets(_user_prior_file(tmp_path, 'benefit = "sideways"\n'))


def test_the_sensitivity_command_mirrors_the_packaged_sets_for_benefit_above(tmp_path, capsys):
    """The packaged sets are written for benefit below 1: `sensitivity --benefit above` centres the enthusiastic
    prior on ratio 1/0.7 (log 0.35667), as the reanalysis does, not on 0.7."""
    table = tmp_path / "effects.csv"
    pd.DataFrame({"study": [f"s{i}" for i in range(Y.size)], "yi": -Y, "sei": SEI}).to_csv(table, index=False)
    assert main(["sensitivity", str(table), "--measure", "RR", "--benefit", "above", "--json"]) == 0
    grid = pd.DataFrame(json.loads(capsys.readouterr().out)["prior_grid"])
    assert _enthusiastic_mu(grid) == "normal(0.35667, 0.21684)"
    assert main(["sensitivity", str(table), "--measure", "RR", "--json"]) == 0
    assert _enthusiastic_mu(pd.DataFrame(json.loads(capsys.readouterr().out)["prior_grid"])) == \
        "normal(-0.35667, 0.21684)"


def test_the_sensitivity_command_judges_the_conclusion_at_the_mcid(tmp_path, capsys):
    """`--mcid 0.8` joins the thresholds and the conclusion is read at P(RR < 0.8), not at the most demanding
    threshold; an MCID on the harm side is refused with the valid side (exit 2)."""
    table = tmp_path / "effects.csv"
    pd.DataFrame({"study": [f"s{i}" for i in range(Y.size)], "yi": Y, "sei": SEI}).to_csv(table, index=False)
    assert main(["sensitivity", str(table), "--measure", "RR", "--threshold", "0.7", "--threshold", "1",
                 "--mcid", "0.8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["conclusion"]["column"] == "prob_below_0.8" and "prob_below_0.8" in out["prior_grid"][0]
    assert main(["sensitivity", str(table), "--measure", "RR", "--mcid", "1.25"]) == 2
    assert "--mcid 1.25 is not on the benefit side of 1" in capsys.readouterr().err
