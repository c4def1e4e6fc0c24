"""Trial-level surrogacy (bivariate normal-normal model): the exact engine against the NUTS engine on one simulated
data set within Monte Carlo error (the only NUTS fit here; its truncated draws test the diagnostics gate),
recovery of a known trial-level correlation and slope, the NUTS prediction against its conditional-normal closed
form, the LKJ prior interval, the HAIC ORR-OS analysis through the command line, and bad input. The exact engine's
own references (adaptive quadrature, calibration in simulation) are in tests/test_surrogacy_exact.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from conftest import HAIC_OUTCOMES, HAIC_PUBLISHED, HAIC_STUDIES
from bayesmeta.cli import main
from bayesmeta.errors import ModelError
from bayesmeta.surrogacy import EffectPairs, fit_surrogacy, predict, rho_prior_interval

pytestmark = pytest.mark.slow

TRUTH = {"mu": (0.8, -0.5), "tau": (0.5, 0.4), "rho": -0.7}


def _simulate(k: int, seed: int) -> EffectPairs:
    rng = np.random.default_rng(seed)
    (tx, ty), rho = TRUTH["tau"], TRUTH["rho"]
    true = rng.multivariate_normal(TRUTH["mu"], [[tx * tx, rho * tx * ty], [rho * tx * ty, ty * ty]], size=k)
    sx, sy = rng.uniform(0.05, 0.15, k), rng.uniform(0.05, 0.15, k)
    x, y = true[:, 0] + sx * rng.standard_normal(k), true[:, 1] + sy * rng.standard_normal(k)
    return EffectPairs("X", "Y", "RR", "HR", tuple(f"s{i}" for i in range(k)), x, sx, y, sy)


@pytest.fixture(scope="module")
def both():
    pairs = _simulate(12, 7)
    kw = dict(new_x=2.0, new_x_se=0.1)
    return fit_surrogacy(pairs, **kw), fit_surrogacy(pairs, engine="nuts", draws=1000, tune=1000, chains=2, seed=3,
                                                     **kw)


def _mcse(draws: np.ndarray, what: str, prob: float | None = None) -> float:
    import arviz as az

    data = az.convert_to_dataset({"v": np.asarray(draws)})  # (chain, draw)
    if what == "mean":
        return float(az.mcse(data, method="mean")["v"])
    return float(az.mcse(data, method="quantile", prob=prob)["v"])


def test_the_exact_engine_agrees_with_nuts_within_monte_carlo_error(both):
    ex, nuts = both
    assert ex.engine == "exact" and nuts.engine == "nuts" and not nuts.warnings
    d = nuts.draws
    for name in ("rho", "tau_x", "tau_y", "mu_x", "mu_y", "conditional_sd"):
        e, n = getattr(ex, name), getattr(nuts, name)
        assert abs(e.mean - n.mean) <= 4 * _mcse(d[name], "mean"), name
        for field, prob in (("median", 0.5), ("ci_lower", 0.025), ("ci_upper", 0.975)):
            assert abs(getattr(e, field) - getattr(n, field)) <= 4 * _mcse(d[name], "quantile", prob), (name, field)
    for field, prob in (("median", 0.5), ("ci_lower", 0.025), ("ci_upper", 0.975)):
        assert abs(getattr(ex.slope, field) - getattr(nuts.slope, field)) <= 4 * _mcse(d["slope"], "q", prob)
    p_neg = float(np.mean(d["rho"] < 0))
    assert abs(ex.prob_rho_negative - p_neg) <= 4 * _mcse((d["rho"] < 0).astype(float), "mean") + 1e-3
    # the prediction: NUTS draws one eta* per parameter draw, so its MC error is at most that of iid draws / ESS
    ess = nuts.diagnostics["ess_bulk_min"]
    pe, pn = ex.prediction.summary, nuts.prediction.summary
    assert abs(pe.mean - pn.mean) <= 4 * pn.sd / np.sqrt(ess)
    assert abs(ex.prediction.prob_benefit - nuts.prediction.prob_benefit) <= 4 * np.sqrt(0.25 / ess)


def test_a_known_trial_level_correlation_and_slope_are_recovered(both):
    r = both[0]
    rho, slope = TRUTH["rho"], TRUTH["rho"] * TRUTH["tau"][1] / TRUTH["tau"][0]
    assert r.rho.ci_lower < rho < r.rho.ci_upper and r.slope.ci_lower < slope < r.slope.ci_upper
    assert r.prob_rho_negative > 0.95
    assert r.diagnostics["quadrature_error"]["rho"] < 1e-4 and r.r_within is None
    # no mean: the slope grows like 1 / tau_x where tau_x's posterior density is positive
    assert np.isnan(r.slope.mean) and np.isinf(r.slope.sd)


def test_the_nuts_diagnostics_gate_refuses_short_chains(both):
    import arviz as az

    from bayesmeta.surrogacy.analysis import nuts_gate

    draws = both[1].draws
    short = az.from_dict(posterior={n: draws[n][:, :20] for n in ("mu_x", "mu_y", "tau_x", "tau_y", "rho")})
    with pytest.raises(ModelError, match="convergence checks"):
        nuts_gate(short, ["mu_x", "mu_y", "tau_x", "tau_y", "rho"], strict=True)
    diagnostics, failed = nuts_gate(short, ["rho"], strict=False)
    assert failed and diagnostics["ess_bulk_min"] < 400


def test_the_prediction_is_the_conditional_normal_of_the_draws():
    # one parameter value repeated: eta* | x* ~ N(mu_y + c (x* - mu_x) / v, tau_y^2 - c^2 / v)
    n = 200_000
    draws = {"mu_x": np.full(n, 0.8), "mu_y": np.full(n, -0.5), "tau_x": np.full(n, 0.5), "tau_y": np.full(n, 0.4),
             "rho": np.full(n, -0.7)}
    c, v = -0.7 * 0.5 * 0.4, 0.5**2 + 0.2**2
    eta = predict(draws, np.log(2.0), 0.2, seed=1)
    mean, sd = -0.5 + c * (np.log(2.0) - 0.8) / v, np.sqrt(0.4**2 - c * c / v)
    assert eta.mean() == pytest.approx(mean, abs=4 * sd / np.sqrt(n))
    assert eta.std() == pytest.approx(sd, rel=0.01)
    assert stats.kstest(eta, stats.norm(mean, sd).cdf).pvalue > 0.001


def test_the_lkj_prior_interval_of_rho():
    assert rho_prior_interval(1.0, 0.95) == pytest.approx((-0.95, 0.95), abs=1e-12)
    lo, hi = rho_prior_interval(3.0, 0.9)
    assert stats.beta.cdf((hi + 1) / 2, 3, 3) == pytest.approx(0.95, abs=1e-12) and lo == pytest.approx(-hi)


def test_the_exact_prediction_is_the_mixture_of_conditional_normals(both):
    ex = both[0]
    grid = ex.grid
    p = ex.prediction
    assert p.x_reported == 2.0 and p.reported["median"] == pytest.approx(np.exp(p.summary.median))
    # the mean of the mixture: the node masses times m_y + g (x* - m_x), g = c / (tau_x^2 + s*^2)
    c = grid.coord("rho") * grid.coord("tau_x") * grid.coord("tau_y")
    g = c / (grid.coord("tau_x") ** 2 + 0.1**2)
    mean = np.sum(grid.mass * (grid.mu_mean[..., 1] + g * (np.log(2.0) - grid.mu_mean[..., 0])))
    assert p.summary.mean == pytest.approx(mean, abs=1e-12)
    assert p.prob_benefit == pytest.approx(1 - stats.norm.sf(0, p.summary.mean, p.summary.sd), abs=0.05)


def test_haic_orr_and_os_through_the_command_line(capsys):
    code = main(["surrogacy", str(HAIC_OUTCOMES), "--surrogate", "ORR", "--final", "OS", "--studies", str(HAIC_STUDIES),
                 "--published", str(HAIC_PUBLISHED), "--new-x", "2.2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["k"] == 7 and out["x_measure"] == "RR" and out["y_measure"] == "HR" and out["engine"] == "exact"
    assert out["diagnostics"]["quadrature_error"]["rho"] < 1e-4
    rc = out["rank_correlation"]
    assert (rc["published"], rc["published_p"]) == (-0.54, 0.031)
    assert rc["recomputed"] == pytest.approx(stats.spearmanr(*_haic_pairs()).statistic, abs=1e-12)
    # seven trials: rho is probably negative but its interval still reaches far past 0 towards the prior's ends
    assert out["rho"]["median"] < 0 and out["rho"]["ci_upper"] > 0
    assert out["prior_vs_posterior"]["width_ratio"] > 0.5
    assert out["prediction"]["reported"]["ci_upper"] > 1.0


def _haic_pairs():
    from conftest import haic_tables
    from bayesmeta.surrogacy import effect_pairs

    studies, outcomes = haic_tables()
    p = effect_pairs(outcomes, "ORR", "OS", studies)
    return p.x, p.y


def test_an_unknown_engine_is_a_usage_error(capsys):
    assert main(["surrogacy", str(HAIC_OUTCOMES), "--surrogate", "ORR", "--final", "OS", "--engine", "gibbs"]) == 2
    assert "'gibbs' is not one of 'exact', 'nuts'" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--surrogate", "ORR", "--final", "ORR"], "the surrogate and the final outcome are both 'ORR'"),
    (["--surrogate", "ORR", "--final", "QOL"], "no rows for outcome 'QOL'"),
    (["--surrogate", "AE", "--final", "OS"], "only 0 studies report both AE and OS"),
    (["--surrogate", "ORR", "--final", "OS", "--within", "strong"], "neither a number nor uniform"),
    (["--surrogate", "ORR", "--final", "OS", "--within", "1.5"], "must lie in (-1, 1)"),
    (["--surrogate", "ORR", "--final", "OS", "--within", "uniform(-0.5, 1.5)"], "needs -1 < lower < upper < 1"),
    (["--surrogate", "ORR", "--final", "OS", "--eta", "0"], "eta must be a positive number"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    assert main(["surrogacy", str(HAIC_OUTCOMES), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
