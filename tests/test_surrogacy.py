"""Trial-level surrogacy (bivariate normal-normal model, NUTS): recovery of a known trial-level correlation and
slope in simulation, the new trial's prediction against its conditional-normal closed form, the LKJ prior interval,
the HAIC ORR-OS analysis through the command line, and bad input. One compiled model (32 study slots) serves
every fit here; the coverage study is benchmarks/bench_surrogacy.py."""

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
def recovered():
    return fit_surrogacy(_simulate(32, 7), draws=500, tune=500, chains=2, seed=3, new_x=2.0)


def test_a_known_trial_level_correlation_and_slope_are_recovered(recovered):
    r = recovered
    rho, slope = TRUTH["rho"], TRUTH["rho"] * TRUTH["tau"][1] / TRUTH["tau"][0]
    assert r.rho.ci_lower < rho < r.rho.ci_upper and abs(r.rho.median - rho) < 0.2
    assert r.slope.ci_lower < slope < r.slope.ci_upper
    assert r.prob_rho_negative > 0.99
    assert r.prior_vs_posterior.width_ratio < 0.4  # 32 precise trials say much more than the prior
    assert r.diagnostics["divergences"] == 0 and r.diagnostics["rhat_max"] < 1.02
    assert r.diagnostics["settings"]["k_padded"] == 32 and r.r_within is None


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


def test_the_prediction_and_its_benefit_probability_are_recorded(recovered):
    p = recovered.prediction
    assert p.x_reported == 2.0 and p.reported["median"] == pytest.approx(np.exp(p.summary.median))
    draws = recovered.draws
    # the posterior mean of the prediction is the mean of the conditional means
    c = draws["rho"] * draws["tau_x"] * draws["tau_y"]
    expected = np.mean(draws["mu_y"] + c * (np.log(2.0) - draws["mu_x"]) / draws["tau_x"] ** 2)
    assert p.summary.mean == pytest.approx(expected, abs=4 * p.summary.sd / np.sqrt(draws["rho"].size))
    assert 0 <= p.prob_benefit <= 1


def test_haic_orr_and_os_through_the_command_line(capsys):
    code = main(["surrogacy", str(HAIC_OUTCOMES), "--surrogate", "ORR", "--final", "OS", "--studies", str(HAIC_STUDIES),
                 "--published", str(HAIC_PUBLISHED), "--new-x", "2.2", "--draws", "500", "--chains", "2",
                 "--seed", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["k"] == 7 and out["x_measure"] == "RR" and out["y_measure"] == "HR"
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


def test_a_strict_fit_refuses_failed_diagnostics():
    with pytest.raises(ModelError, match="convergence checks"):
        fit_surrogacy(_simulate(8, 1), draws=20, tune=20, chains=2, seed=1, strict=True)
