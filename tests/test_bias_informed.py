"""Cochrane-informed priors by subfield (bayesmeta/bias/informed.py): parameters against the values RoBMA's
documents state, the subfield lists against the papers' counts, Bartos et al.'s (2021) Bayes factors for Poulsen et
al. (2006) (metaBMA's numerical integration, so both sides are exact up to printing) and the posterior of mu against
a brute-force two-dimensional quadrature."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from bayesmeta.bias import fit_bias
from bayesmeta.bias.informed import (informed_effect_prior, informed_priors, informed_tau_prior, known_subfield,
                                     subfields)
from bayesmeta.cli import main
from bayesmeta.errors import ModelError
from bayesmeta.priors import HalfNormalPrior, InverseGammaPrior

REF = Path(__file__).parent / "reference"


@pytest.mark.parametrize("case", json.loads((REF / "informed_priors_published.json").read_text())["values"],
                         ids=lambda c: f"{c['subfield']}-{c['measure']}")
def test_parameters_match_robmas_documents(case):
    mu = informed_effect_prior(case["subfield"], case["measure"])
    assert (mu.location, mu.scale, mu.df) == (case["mu"]["location"], case["mu"]["scale"], case["mu"]["df"])
    assert not mu.truncated
    tau = informed_tau_prior(case["subfield"], case["measure"])
    assert isinstance(tau, InverseGammaPrior)
    assert (tau.shape, tau.scale_) == (case["tau"]["shape"], case["tau"]["scale"])


def test_subfield_lists_have_the_papers_sizes():
    """46 subfields plus the whole database for SMD (Bartos et al. 2021); 53 plus the whole database for binary
    outcomes (2023); log HR has the whole-database prior only."""
    assert len(subfields("SMD")) == 47 and len(subfields("OR")) == len(subfields("RR")) == len(subfields("RD")) == 54
    assert subfields("HR") == ["Cochrane"]
    for m in ("SMD", "OR", "RR", "RD", "HR"):
        assert subfields(m)[-1] == "Cochrane"
        assert all(informed_effect_prior(s, m).df >= 1 for s in subfields(m))


def test_names_ignore_case_and_punctuation_and_bad_names_are_errors():
    assert informed_effect_prior("oral health", "SMD") == informed_effect_prior("Oral Health", "SMD")
    assert known_subfield("hiv aids") and not known_subfield("Dentistry")
    assert isinstance(informed_tau_prior("Cochrane", "RD"), HalfNormalPrior)
    with pytest.raises(ModelError, match="Oral Health"):
        informed_priors("Dentistry", "SMD")
    with pytest.raises(ModelError, match="heterogeneity"):
        informed_priors("Childhood Cancer", "OR")  # an effect prior but no heterogeneity prior
    with pytest.raises(ModelError):
        informed_priors("Heart", "HR")
    with pytest.raises(ModelError, match="measures"):
        informed_priors("Cochrane", "MD")


def poulsen2006() -> tuple[np.ndarray, np.ndarray]:
    with open(REF / "poulsen2006.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([float(r["yi"]) for r in rows]), np.array([float(r["sei"]) for r in rows])


@pytest.fixture(scope="module")
def poulsen_fit():
    d, se = poulsen2006()
    return fit_bias(d, se, measure="SMD", ensemble="metabma", priors=informed_priors("Oral Health", "SMD"))


def test_reproduces_bartos_2021_bayes_factors_for_poulsen2006(poulsen_fit):
    """BF10 = 218.53 and BFrf = 3.52 (Bartos et al. 2021, Oral Health priors, metaBMA's integration; ours 218.53,
    3.524): equal to the printed digits, |difference| <= half a unit in the last printed place."""
    ref = json.loads((REF / "bias_published.json").read_text())["bartos2021_poulsen2006_informed"]["paper"]
    assert abs(poulsen_fit.inclusion["effect"].bf - ref["effect_bf"]) <= 0.005
    assert abs(poulsen_fit.inclusion["heterogeneity"].bf - ref["heterogeneity_bf"]) <= 0.005


def test_conditional_posterior_of_mu_matches_brute_force_quadrature(poulsen_fit):
    """mu given an effect: the FE and RE models' posteriors (t_5(0, 0.51) effect prior, InvGamma(1.79, 0.28) on
    tau) on a dense (mu, tau) trapezoid grid, mixed by their marginal likelihoods; and tau's posterior mean and sd
    in the RE model."""
    d, se = poulsen2006()
    mu = np.linspace(-2.0, 4.0, 1201)
    # tau's posterior tail is heavy (InvGamma prior, about tau^-6.8 here): the grid runs to 20 (mean 0.29)
    tau = np.concatenate([np.linspace(1e-6, 3.0, 1501)[:-1], np.geomspace(3.0, 20.0, 400)])
    lp_mu = stats.t.logpdf(mu, 5, 0.0, 0.51)
    lp_tau = 1.79 * math.log(0.28) - special.gammaln(1.79) - 2.79 * np.log(tau) - 0.28 / tau
    sd = np.sqrt(se[None, None, :] ** 2 + tau[None, :, None] ** 2)
    ll = stats.norm.logpdf(d[None, None, :], mu[:, None, None], sd).sum(-1)
    joint = ll + lp_mu[:, None] + lp_tau[None, :]
    top = joint.max()
    re = np.trapezoid(np.exp(joint - top), tau, axis=1)
    ml_re = math.log(np.trapezoid(re, mu)) + top
    fe_log = stats.norm.logpdf(d[None, :], mu[:, None], se[None, :]).sum(-1) + lp_mu
    fe = np.exp(fe_log - fe_log.max())
    ml_fe = math.log(np.trapezoid(fe, mu)) + fe_log.max()
    w_re = 1.0 / (1.0 + math.exp(ml_fe - ml_re))
    dens = (1 - w_re) * fe / np.trapezoid(fe, mu) + w_re * re / np.trapezoid(re, mu)
    cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(mu))])
    cond = poulsen_fit.mu_conditional
    assert cond.mean() == pytest.approx(float(np.trapezoid(mu * dens, mu)), abs=1e-4)
    for p in (0.025, 0.5, 0.975):
        assert float(cond.ppf(p)) == pytest.approx(float(np.interp(p, cdf, mu)), abs=2e-3)
    h1re = next(m for m in poulsen_fit.models if m.spec.effect and m.spec.heterogeneity)
    h1fe = next(m for m in poulsen_fit.models if m.spec.effect and not m.spec.heterogeneity)
    assert h1re.post_prob / (h1re.post_prob + h1fe.post_prob) == pytest.approx(w_re, abs=1e-4)
    tau_dens = np.trapezoid(np.exp(joint - top), mu, axis=0)  # tau's posterior in H1 RE, unnormalised
    norm = np.trapezoid(tau_dens, tau)
    tau_mean = np.trapezoid(tau * tau_dens, tau) / norm
    tau_sd = math.sqrt(np.trapezoid((tau - tau_mean) ** 2 * tau_dens, tau) / norm)
    assert h1re.tau_mean == pytest.approx(tau_mean, abs=1e-4) and h1re.tau_sd == pytest.approx(tau_sd, abs=1e-4)


def test_cli_informed_option(capsys):
    path = str(REF / "poulsen2006.csv")
    assert main(["bias", path, "--measure", "SMD", "--ensemble", "metabma", "--informed", "oral health",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["priors"]["mu"] == "t(5, 0, 0.51)" and out["priors"]["tau"] == "invgamma(1.79, 0.28)"
    assert out["inclusion"]["effect"]["bf"] == pytest.approx(218.53, abs=0.005)
    # tau given heterogeneity against RoBMA's 0.297 (Cohen's d fit of the MedicineBMA vignette): 2 sd / sqrt(1000)
    tau = out["tau_conditional"]
    assert abs(tau["mean"] - 0.297) <= 2 * tau["sd"] / math.sqrt(1000) + 0.0005
    assert main(["bias", path, "--measure", "SMD", "--ensemble", "metabma", "--informed", "Oral Health",
                 "--tau-prior", "invgamma(1, 0.15)", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["priors"]["tau"] == "invgamma(1, 0.15)"
    assert main(["bias", path, "--measure", "SMD", "--informed", "Dentistry"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--informed" in err and "Traceback" not in err


def test_plan_informed_key(tmp_path):
    """[bias] informed = SUBFIELD: read into the plan (case and punctuation as written), an unknown subfield a
    one-line error naming the key, and the outcome's ensemble fitted with the subfield's priors for its measure."""
    from bayesmeta.benefit import Benefit
    from bayesmeta.effect_data import EffectData
    from bayesmeta.errors import InputError
    from bayesmeta.plan import load_plan
    from bayesmeta.reanalysis.bias import bias_analysis
    from tests.test_report_bias import BCG, small_plan

    plan = load_plan(small_plan(tmp_path, '[bias]\ninformed = "Acute Respiratory Infections"'))
    assert plan.bias.informed == "Acute Respiratory Infections"
    with pytest.raises(InputError, match="bias.informed"):
        load_plan(small_plan(tmp_path, '[bias]\ninformed = "Dentistry"'))
    data = EffectData(study=tuple(f"s{i}" for i in range(len(BCG))), yi=BCG[:, 0], sei=BCG[:, 1], measure="RR",
                      benefit=Benefit.BELOW)
    out = bias_analysis(data, plan.bias, 0.95)
    assert out["priors"]["mu"] == "t(3, 0, 0.27)" and out["priors"]["tau"] == "invgamma(1.58, 0.25)"
