"""Selection models beyond the tensor rule, by sequential Monte Carlo (bayesmeta.bias.smc): the particles' density is
the selection module's and their prior draws follow the cumulative Dirichlet prior; the SMC log marginal likelihood
agrees with the deterministic tensor rule where both apply (up to 5 dimensions) within 3 of its own standard errors;
a 7-dimensional model, which the rule refuses, runs through `bayesmeta bias --models FILE --json` and agrees with an
independent prior importance sampler within the combined Monte Carlo errors; the same seed gives the same numbers;
what SMC cannot do is refused; the gate's warnings reach the output and the report's warnings."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit, logsumexp

from bayesmeta.bias import ModelSpec, WeightFunction, default_priors, fit_bias
from bayesmeta.bias.selection import fit_selection, log_weight_prior, weighted_loglik
from bayesmeta.bias.smc import SE_GATE, SelectionTarget, fit_selection_smc
from bayesmeta.errors import ModelError

REFERENCE = Path(__file__).resolve().parent / "reference"


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(REFERENCE / f"{name}.csv")
    return frame["yi"].to_numpy(float), frame["sei"].to_numpy(float)


def test_the_particles_density_is_the_selection_modules_and_the_prior_draws_follow_it():
    """log p(y | theta) equals weighted_loglik and log p(theta) equals the module's cumulative Dirichlet density
    (log_weight_prior) times the Jacobians of log tau and of the logits; the prior draws of the weights follow the
    cumulative Dirichlet: omega_J = eta_1 ~ Beta(a_1, a_2 + a_3) and omega_2 = eta_1 + eta_2 ~ Beta(a_1 + a_2, a_3)
    (Kolmogorov-Smirnov)."""
    y, s = _data("bem2011")
    priors = default_priors("SMD")
    rng = np.random.default_rng(4)
    for wf in (WeightFunction("one", (0.05, 0.5), (2.0, 1.0, 3.0)), WeightFunction("two", (0.05, 0.1))):
        for effect, het in ((True, True), (False, True), (True, False)):
            target = SelectionTarget(ModelSpec(effect, het, "selection", wf), priors, y, s)
            theta = target.draw(300, rng)
            mu, tau, v = target.split(theta)
            x = [expit(v[:, j]) for j in range(v.shape[1])]
            np.testing.assert_allclose(target.log_likelihood(theta), weighted_loglik(wf, y, s, mu, tau, x),
                                       rtol=1e-12, atol=1e-9)
            expected = log_weight_prior(wf, x) + sum(np.log(xj * (1 - xj)) for xj in x)
            if effect:
                expected = expected + priors.mu.logpdf(mu)
            if het:
                expected = expected + priors.tau.logpdf(tau) + np.log(tau)
            np.testing.assert_allclose(target.log_prior(theta), expected, rtol=1e-12, atol=1e-9)
    wf = WeightFunction("one", (0.05, 0.5), (2.0, 1.0, 3.0))
    _, _, v = SelectionTarget(ModelSpec(False, False, "selection", wf), priors, y, s).split(
        SelectionTarget(ModelSpec(False, False, "selection", wf), priors, y, s).draw(4000, rng))
    x1, x2 = expit(v[:, 0]), expit(v[:, 1])
    assert stats.kstest(x1 * x2, stats.beta(2.0, 4.0).cdf).pvalue > 1e-3
    assert stats.kstest(x1, stats.beta(3.0, 3.0).cdf).pvalue > 1e-3
    assert stats.kstest(x1, stats.beta(2.0, 4.0).cdf).pvalue < 1e-6  # the check can fail


@pytest.mark.parametrize("name, spec, mu_prior", [
    ("bem2011", ModelSpec(True, True, "selection", WeightFunction("one", (0.025, 0.05, 0.5))), None),  # 5 dims
    ("power_pose", ModelSpec(True, True, "selection", WeightFunction("two", (0.05, 0.1))), "cauchy(0, 0.707)+"),
    ("poulsen2006", ModelSpec(False, False, "selection", WeightFunction("one", (0.05, 0.5), (2.0, 1.0, 3.0))), None),
])
def test_smc_agrees_with_the_tensor_rule_within_three_of_its_standard_errors(name, spec, mu_prior):
    """The log marginal likelihood, and the posterior summaries the ensemble takes from a selection model: mu and
    the new study's effect (median and interval within 0.15 posterior sd), tau's mean (10%), each weight's mean
    (0.03) and the funnel plot's curve (0.1 sd of mu): Monte Carlo tolerances for some 4000 correlated particles.
    The power-pose case has metaBMA's half-Cauchy effect prior (truncated t draws; mu's density reflected at 0)."""
    from bayesmeta.bias.curves import selection_curve
    from bayesmeta.bias.ensemble import grid_for
    from bayesmeta.bias.estimates import omega_component, tau_component
    from bayesmeta.bias.posteriors import selection_posteriors

    y, s = _data(name)
    priors = default_priors("SMD", mu=mu_prior)
    rule_fit = fit_selection(spec, priors, y, s)
    rule = rule_fit.integral
    smc = fit_selection_smc(spec, priors, y, s, seed=11)
    assert 0 < smc.log_error < SE_GATE and not smc.warnings
    assert abs(smc.log_value - rule.log_value) <= 3 * np.hypot(smc.log_error, rule.log_error)
    if not spec.effect:
        return
    grid = grid_for(y, s)
    for exact, approx in zip(selection_posteriors(rule_fit, grid), selection_posteriors(smc, grid)):
        a, b = exact.summary(), approx.summary()
        for key in ("median", "ci_lower", "ci_upper"):
            assert abs(a[key] - b[key]) <= 0.15 * a["sd"], key
    if mu_prior is not None:  # no density below the half-Cauchy's bound
        assert not np.any(selection_posteriors(smc, grid)[0].density[grid < 0])
    assert tau_component(smc).mean == pytest.approx(tau_component(rule_fit).mean, rel=0.1)
    for j in range(1, spec.weights.intervals):
        assert abs(omega_component(smc, j).mean - omega_component(rule_fit, j).mean) <= 0.03
    se = np.array([0.05, 0.2, 0.4])
    sd_mu = selection_posteriors(rule_fit, grid)[0].std()
    np.testing.assert_allclose(selection_curve(smc, spec.weights, se), selection_curve(rule_fit, spec.weights, se),
                               atol=0.1 * sd_mu)


def _prior_importance(spec: ModelSpec, y: np.ndarray, s: np.ndarray, draws: int, seed: int) -> tuple[float, float]:
    """log p(y) by importance sampling from the prior (numpy's normal, inverse-gamma and Dirichlet draws, the
    selection module's likelihood), and its standard error by the delta method: sd(w) / (sqrt(n) mean(w))."""
    g = np.random.default_rng(seed)
    priors = default_priors("SMD")
    wf = spec.weights
    mu = g.normal(0.0, priors.mu.scale, draws)
    tau = priors.tau.scale_ / g.gamma(priors.tau.shape, 1.0, draws)
    omega = np.cumsum(g.dirichlet(wf.alpha, draws), axis=1)[:, ::-1]  # omega_1 = 1, ..., omega_J = eta_1
    x = [omega[:, j + 1] / omega[:, j] for j in range(wf.intervals - 1)]
    ll = np.concatenate([weighted_loglik(wf, y, s, mu[i:i + 20000], tau[i:i + 20000], [xj[i:i + 20000] for xj in x])
                         for i in range(0, draws, 20000)])
    w = np.exp(ll - ll.max())
    return float(logsumexp(ll) - np.log(draws)), float(np.std(w) / np.sqrt(draws) / np.mean(w))


def test_a_seven_dimensional_model_runs_through_the_cli_and_agrees_with_importance_sampling(tmp_path, capsys):
    """Bem (2011), k = 9: five one-sided cut-offs with mu and tau (7 dimensions, refused by the tensor rule before)
    beside the no-bias models; the SMC log ML agrees with prior importance sampling (50,000 draws) within 3
    combined standard errors; the posterior model probabilities are finite and sum to 1; the JSON and the printed
    table say which error is a Monte Carlo standard error."""
    from bayesmeta.cli import main
    from bayesmeta.cli.bias import _print

    models = tmp_path / "models.toml"
    models.write_text('[[models]]\nbias = "selection"\ncutoffs = [0.01, 0.025, 0.05, 0.1, 0.5]\n'
                      "[[models]]\n[[models]]\neffect = false\n")
    assert main(["bias", str(REFERENCE / "bem2011.csv"), "--measure", "SMD", "--models", str(models), "--json",
                 "--benefit", "above", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    sel, plain, null = out["models"]
    assert [m["log_ml_error_kind"] for m in out["models"]] == ["monte carlo se", "rule", "rule"]
    assert set(out["log_ml_error_kinds"]) == {"monte carlo se", "rule"} and out["seed"] == 3
    assert sel["smc"]["particles"] * len(sel["smc"]["replicates"]) >= 4000 and not out["warnings"]
    y, s = _data("bem2011")
    ref, ref_se = _prior_importance(ModelSpec(True, True, "selection", WeightFunction(
        "one", (0.01, 0.025, 0.05, 0.1, 0.5))), y, s, 50_000, 5)
    assert 0 < sel["log_ml_error"] < SE_GATE
    assert abs(sel["log_ml"] - ref) <= 3 * np.hypot(sel["log_ml_error"], ref_se)
    post = np.array([m["post_prob"] for m in out["models"]])
    assert np.all(np.isfinite(post)) and np.all(post > 0) and post.sum() == pytest.approx(1.0, abs=1e-12)
    assert sel["mu"]["analysis"]["ci_lower"] < sel["mu"]["analysis"]["median"] < sel["mu"]["analysis"]["ci_upper"]
    assert any(k.startswith("omega[") for k in out["estimates_conditional"])
    _print(out, 0.95)
    printed = capsys.readouterr().out
    assert "MC SE" in printed and "rule" in printed and "sequential Monte Carlo" in printed


def test_the_same_seed_gives_the_same_numbers_and_another_seed_others():
    y, s = _data("poulsen2006")
    spec = ModelSpec(False, True, "selection", WeightFunction("one", (0.05,)))
    priors = default_priors("SMD")
    a, b = (fit_selection_smc(spec, priors, y, s, seed=7, particles=200, replicates=2) for _ in range(2))
    c = fit_selection_smc(spec, priors, y, s, seed=8, particles=200, replicates=2)
    assert a.replicates == b.replicates and a.seed == b.seed and np.array_equal(a.tau, b.tau)
    assert a.replicates != c.replicates


def test_what_sequential_monte_carlo_cannot_do_is_refused():
    """An improper tau prior: the particles start as draws from the prior."""
    y, s = _data("bem2011")
    six = {"bias": "selection", "cutoffs": [0.01, 0.025, 0.05, 0.5]}
    with pytest.raises(ModelError, match="proper tau prior"):
        fit_bias(y, s, measure="SMD", ensemble=[six], priors=default_priors("SMD", tau="halfflat"))


def test_a_failed_gate_is_a_warning_of_the_output_and_of_the_report(monkeypatch):
    """With the rule's limit lowered (so that a cheap 2-dimensional model goes to SMC) and the standard-error gate at
    0, the gate's warning reaches BiasResult.warnings, the report's outcome warnings (outcome._bias) and the model
    table marks the error as a Monte Carlo one."""
    import bayesmeta.bias.ensemble as ensemble
    import bayesmeta.bias.smc as smc
    from bayesmeta.benefit import Benefit
    from bayesmeta.effect_data import EffectData
    from bayesmeta.reanalysis.outcome import _bias as outcome_bias
    from bayesmeta.report.sections import _bias as report_bias

    monkeypatch.setattr(ensemble, "MAX_DIMENSIONS", 1)
    monkeypatch.setattr(smc, "SE_GATE", 0.0)
    monkeypatch.setattr(smc, "PARTICLES", 200)
    y, s = _data("poulsen2006")
    models = (ModelSpec(False, True, "selection", WeightFunction("one", (0.05,))), ModelSpec(True, True))
    data = EffectData(study=tuple(f"s{i}" for i in range(y.size)), yi=y, sei=s, measure="SMD",
                      benefit=Benefit.ABOVE)
    plan = SimpleNamespace(bias=SimpleNamespace(enabled=True, outcomes=("E",), min_k=3, ensemble="custom",
                                                models=models, informed=None), seed=5, level=0.95)
    a = SimpleNamespace(k=y.size, skipped={}, warnings=[], bias=None)
    seeds: dict[str, int] = {}
    outcome_bias(plan, SimpleNamespace(name="E"), a, data, seeds)
    assert "bias.E" in seeds and a.bias["seed"] == seeds["bias.E"]
    assert a.bias["warnings"] and all("exceeds 0" in w for w in a.bias["warnings"])
    assert any(w.startswith("publication bias: model H0 RE one-sided (0.05)") for w in a.warnings)
    blocks = report_bias({"level": 0.95, "outcomes": {"E": {"label": "E", "measure": "SMD", "skipped": {},
                                                            "bias": a.bias}}})
    assert "(MC SE)" in repr(blocks)
