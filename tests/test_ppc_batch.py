"""The batched per-study predictive checks (all studies' mixture quantiles solved at once) against the per-study
computation they replace (one NormalMixture per study: its cdf, central interval and log density), to 1e-10, for
the exact engine and a draws-based posterior at k = 3, 17 and 300, and for mixtures with unequal component counts;
the reference quantiles are also checked against scipy quadrature of the mixture density."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, optimize, stats
from scipy.special import logsumexp

from bayesmeta.exact import fit_exact
from bayesmeta.exact.mixture import NormalMixture
from bayesmeta.posterior import Posterior
from bayesmeta.ppc import _evaluate, _listed, _loo_refit, loo_pit, study_predictive_pvalues

LEVEL = 0.9
TOL = dict(rel=1e-10, abs=1e-10)


def _data(k: int, seed: int):
    rng = np.random.default_rng(seed)
    sei = rng.uniform(0.1, 0.4, k)
    y = rng.normal(-0.2, np.sqrt(sei**2 + 0.15**2))
    if k > 3:
        y[1] = 1.5  # an outlier: its leave-one-out posterior is refitted, not reweighted
    return y, sei, [f"S{i}" for i in range(k)]


def _one(mixture: NormalMixture, y: float) -> tuple[float, float, float, float]:
    """The per-study computation: P(Y <= y), the central interval and log f(y) of one mixture."""
    lo, hi = mixture.interval(LEVEL)
    with np.errstate(divide="ignore"):
        logd = logsumexp(np.log(mixture.weights) + stats.norm.logpdf(y, mixture.means, mixture.sds))
    return float(mixture.cdf(y)), lo, hi, float(logd)


def _reference_loo_exact(post: Posterior) -> list[NormalMixture]:
    """Leave-one-out predictives one study at a time: the full fit's tau nodes reweighted by 1 / L_i(tau) where
    that rule serves (negligible end mass, at least half the effective nodes, no cancellation), else a refit."""
    ex = post.extras
    tau, log_w = np.asarray(ex["tau_nodes"]), np.log(np.asarray(ex["tau_weights"]))
    a = 1.0 / np.asarray(ex["mu_conditional_sd"]) ** 2
    am = a * np.asarray(ex["mu_conditional_mean"])
    n_eff = 1.0 / np.sum(np.exp(2.0 * log_w))
    out: list[NormalMixture | None] = []
    for y, s in zip(post.yi, post.sei):
        v = s**2 + tau**2
        a_out = a - 1.0 / v
        m_out = (am - y / v) / a_out
        sd = np.sqrt(v + 1.0 / a_out)
        lw = log_w - stats.norm.logpdf(y, m_out, sd)
        w = np.exp(lw - logsumexp(lw))
        ok = np.all(a_out > 1e-6 * a) and max(w[0], w[-1]) < 1e-12 and 1.0 / np.sum(w**2) >= 0.5 * n_eff
        out.append(NormalMixture(w, m_out, sd) if ok else None)
    refit = [i for i, m in enumerate(out) if m is None]
    for i, (w, m, s) in zip(refit, _loo_refit(post, refit)):
        out[i] = NormalMixture(w, m, s)
    return out  # type: ignore[return-value]


def _draws_posterior(post: Posterior, n: int, seed: int) -> Posterior:
    draws = post.get_draws(2 * n, seed=seed)
    shaped = {name: np.asarray(v).reshape((2, n) + np.asarray(v).shape[2:]) for name, v in draws.items()
              if name in ("mu", "tau", "theta", "predictive")}
    return Posterior(engine="draws", measure=post.measure, study=post.study, yi=post.yi, sei=post.sei,
                     marginals=post.marginals, priors=post.priors, draws=shaped, seed=seed)


def _assert_rows(table, cols, expected):
    for col, values in zip(cols, np.array(expected).T):
        assert table[col].to_numpy() == pytest.approx(values, **TOL), col


@pytest.mark.parametrize("k", [3, 17, 300])
def test_exact_engine_batched_checks_equal_the_per_study_computation(k):
    y, sei, ids = _data(k, seed=k)
    post = fit_exact(y, sei, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", study=ids, measure="HR")
    table = study_predictive_pvalues(post, level=LEVEL)
    posterior = []
    for i, sid in enumerate(ids):
        m = post.marginal(f"theta[{sid}]")
        posterior.append(_one(NormalMixture(m.weights, m.means, np.sqrt(m.sds**2 + sei[i] ** 2)), y[i])[:3])
    _assert_rows(table, ["pit", "pred_lower", "pred_upper"], posterior)
    loo = [_one(m, y[i]) for i, m in enumerate(_reference_loo_exact(post))]
    _assert_rows(table, ["loo_pit", "loo_lower", "loo_upper", "elpd_loo"], loo)


@pytest.mark.parametrize("k", [3, 17, 300])
def test_draws_batched_checks_equal_the_per_study_computation(k):
    import arviz as az

    from bayesmeta.ppc import _relative_ess

    y, sei, ids = _data(k, seed=100 + k)
    post = _draws_posterior(fit_exact(y, sei, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", study=ids),
                            n=100, seed=k)
    table = study_predictive_pvalues(post, level=LEVEL)
    theta = np.asarray(post.draws["theta"]).reshape(-1, k)
    ones = np.full(theta.shape[0], 1.0)
    posterior = [_one(NormalMixture(ones, theta[:, i], np.full_like(ones, sei[i])), y[i])[:3] for i in range(k)]
    _assert_rows(table, ["pit", "pred_lower", "pred_upper"], posterior)
    # PSIS weights as ArviZ gives them, each study's mixture of N(mu, s_i^2 + tau^2) over the draws
    mu, tau = np.asarray(post.draws["mu"]), np.asarray(post.draws["tau"])
    loglik = stats.norm.logpdf(y, mu[..., None], np.sqrt(sei**2 + tau[..., None] ** 2))
    idata = az.from_dict(posterior={"mu": mu, "tau": tau}, log_likelihood={"yi": loglik},
                         coords={"study": ids}, dims={"yi": ["study"]})
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pareto k above 0.7 for the outlier
        log_w, _ = az.psislw(-idata.log_likelihood["yi"].stack(__sample__=("chain", "draw")),
                             reff=_relative_ess(idata))
    w = np.exp(log_w.transpose("study", "__sample__").values)
    loo = [_one(NormalMixture(w[i], mu.ravel(), np.sqrt(sei[i] ** 2 + tau.ravel() ** 2)), y[i])[:3] for i in range(k)]
    _assert_rows(table, ["loo_pit", "loo_lower", "loo_upper"], loo)


@pytest.mark.parametrize("k", [3, 17, 300])
def test_unequal_component_counts_and_chunks_equal_one_mixture_at_a_time(k, monkeypatch):
    """Mixtures of 1 to 60 components (grouped by count and taken in chunks of a few studies): the batch equals
    the per-mixture results."""
    import bayesmeta.ppc as ppc

    rng = np.random.default_rng(k)
    sizes = rng.integers(1, 61, k)
    parts = [(rng.uniform(0.01, 1, n), rng.normal(0, 1, n), rng.uniform(0.05, 2, n)) for n in sizes]
    y = rng.normal(0, 1.5, k)
    y[0] = 9.0  # far in a tail
    monkeypatch.setattr(ppc, "_CHUNK_BYTES", 8 * ppc._PPF_ARRAYS * 2 * 60 * 4)  # at most 4 studies per chunk
    got = np.column_stack(_evaluate(_listed(parts), y, LEVEL, log_density=True))
    ref = [_one(NormalMixture(*p), y[i]) for i, p in enumerate(parts)]
    assert got == pytest.approx(np.array(ref), **TOL)


def test_reference_quantiles_agree_with_quadrature_of_the_density():
    """Independent check of the reference: the CDF by adaptive quadrature of the mixture density, and the interval
    ends as its roots."""
    rng = np.random.default_rng(5)
    for n in (1, 7, 40):
        w, m, s = rng.uniform(0.01, 1, n), rng.normal(0, 1, n), rng.uniform(0.05, 2, n)
        mix = NormalMixture(w, m, s)
        pdf = lambda x: float(mix.pdf(x))
        cdf = lambda x: integrate.quad(pdf, -np.inf, x, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
        pit, lo, hi, _ = _evaluate(_listed([(w, m, s)]), np.array([0.3]), LEVEL)
        assert pit[0] == pytest.approx(cdf(0.3), abs=1e-10)
        for end, q in ((lo[0], (1 - LEVEL) / 2), (hi[0], (1 + LEVEL) / 2)):
            root = optimize.brentq(lambda x: cdf(x) - q, end - 1.0, end + 1.0, xtol=1e-13)
            assert end == pytest.approx(root, abs=1e-9)
