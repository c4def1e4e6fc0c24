"""Turner et al. (2015) heterogeneity priors for log odds ratios by outcome and comparison type (the tau prior
``turner_or(outcome, comparison)`` of bayesmeta/priors.py): parameters against values printed from R bayesmeta's
TurnerEtAlPrior, the marginal setting against the project's "empirical" prior set, the density against scipy's
log-normal (closed form) and bad names as one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from bayesmeta.errors import ModelError
from bayesmeta.priors import load_prior_sets, parse_prior, turner_or_prior

REF = json.loads((Path(__file__).parent / "reference" / "turner_published.json").read_text())


@pytest.mark.parametrize("case", REF["values"], ids=lambda c: c["outcome"])
def test_parameters_match_r_bayesmeta(case):
    prior = parse_prior(f"turner_or({case['outcome']}, {case['comparison']})", for_param="tau")
    assert prior.meanlog == pytest.approx(case["tau_meanlog"], abs=1e-12)
    assert prior.sdlog == pytest.approx(case["tau_sdlog"], abs=1e-12)


def test_marginal_setting_is_the_empirical_prior_set():
    general = parse_prior("turner_or", for_param="tau")
    assert (2 * general.meanlog, 2 * general.sdlog) == (REF["marginal"]["tau2_meanlog"], REF["marginal"]["tau2_sdlog"])
    assert general.text == load_prior_sets()["empirical"].tau.text  # lognormal_tau2(-2.56, 1.74)


def test_density_is_the_log_normal_of_tau_and_integrates_to_one():
    """log tau^2 ~ N(m, s^2) means tau ~ lognormal(m/2, s/2) (the density of tau, as R bayesmeta's dprior)."""
    prior = turner_or_prior("surgical", "pharma_vs_placebo")
    tau = np.array([0.01, 0.1, 0.34, 1.0, 2.5])
    want = stats.lognorm.logpdf(tau, s=prior.sdlog, scale=math.exp(prior.meanlog))
    assert prior.logpdf(tau) == pytest.approx(want, rel=1e-12)
    total, _ = integrate.quad(lambda t: float(np.exp(prior.logpdf(np.array([t]))[0])), 0, np.inf, limit=200)
    assert total == pytest.approx(1.0, abs=1e-8)


def test_every_setting_exists_and_bad_names_fail():
    for comparison in ("pharma_vs_placebo", "pharma_vs_pharma", "nonpharma_vs_placebo", "nonpharma_vs_pharma",
                       "nonpharma_vs_nonpharma"):
        priors = [turner_or_prior(o, comparison) for o in ("all_cause_mortality", "surgical", "subjective")]
        assert all(-2.5 < p.meanlog < 0 and 0.4 < p.sdlog < 1 for p in priors)
    with pytest.raises(ModelError, match="unknown outcome 'mortality'"):
        parse_prior("turner_or(mortality, pharma_vs_placebo)")
    with pytest.raises(ModelError, match="unknown comparison"):
        parse_prior("turner_or(pain, drug_vs_drug)")
