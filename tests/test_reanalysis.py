"""run_plan: the numbers of a reanalysis against external references (R metafor, R bayesmeta, closed forms) and
against the library functions called directly; the result cache. (The HAIC plan end to end, report and browser
included, is in test_report_browser.py.)"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta.exact import fit_exact
from bayesmeta.plan import load_plan
from bayesmeta.reanalysis import plan_steps, probability_words, run_plan

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
SYNTHETIC = REFERENCE / "reanalysis_synthetic" / "plan.toml"
METAFOR = json.loads((REFERENCE / "metafor_fixtures.json").read_text())
BAYESMETA_R = json.loads((REFERENCE / "bayesmeta_published.json").read_text())


def _metafor(kind: str, **match) -> dict:
    return next(f for f in METAFOR[kind] if all(f.get(k) == v for k, v in match.items()))


@pytest.fixture(scope="module")
def synthetic():
    plan = load_plan(SYNTHETIC)
    seen: list[str] = []
    result = run_plan(plan, seen.append, parallel=False)
    summary = json.loads(json.dumps(result.to_summary(), allow_nan=False))
    return plan, result, summary, seen


def test_progress_reports_every_step_in_order(synthetic):
    plan, _, _, seen = synthetic
    assert seen == plan_steps(plan)


def test_effects_are_the_log_ratios_of_the_inputs(synthetic):
    _, _, s, _ = synthetic
    bcg = pd.read_csv(REFERENCE / "bcg.csv")
    ae = pd.DataFrame(s["outcomes"]["AE"]["effects"])
    risk_t = bcg["events_treatment"] / bcg["total_treatment"]
    risk_c = bcg["events_control"] / bcg["total_control"]
    expected = np.log(risk_t / risk_c)
    assert np.allclose(np.sort(ae["yi"]), np.sort(expected), rtol=0, atol=1e-12)
    crins = pd.read_csv(REFERENCE / "crins2014.csv")
    pfs = pd.DataFrame(s["outcomes"]["PFS"]["effects"])
    assert np.allclose(np.sort(pfs["sei"]), np.sort(crins["sei"]), atol=1e-9)


def test_frequentist_numbers_match_metafor(synthetic):
    _, _, s, _ = synthetic
    freq = s["outcomes"]["AE"]["frequentist"]
    ref = _metafor("fits", dataset="bcg", method="REML", test="z", level=0.95)
    assert freq["reml"]["estimate"] == pytest.approx(ref["estimate"], abs=1e-7)
    assert freq["reml"]["tau2"] == pytest.approx(ref["tau2"], rel=1e-6)
    assert freq["reml"]["ci_lower"] == pytest.approx(ref["ci_lower"], abs=1e-7)
    egger = METAFOR["regtest"][0]
    assert freq["egger"]["pval"] == pytest.approx(egger["pval"], rel=1e-6)
    reg = next(m for m in s["outcomes"]["AE"]["metaregression"] if m["covariate"] == "ablat")
    ref_reg = _metafor("metareg", dataset="bcg", mods="ablat", method="REML", test="z")
    assert reg["frequentist"]["qm_p"] == pytest.approx(ref_reg["qm_p"], rel=1e-5)
    assert reg["frequentist"]["coefficients"][1]["estimate"] == pytest.approx(ref_reg["coefficients"]["estimate"][1],
                                                                             rel=1e-5)


def test_bayesian_numbers_match_r_bayesmeta(synthetic):
    """Crins et al. 2014 under normal(0, 4) / halfnormal(0.5): Roever 2020, J Stat Softw 93(6), section 3."""
    _, _, s, _ = synthetic
    ref = BAYESMETA_R["crins2014"]
    b = s["outcomes"]["PFS"]["bayes"]
    assert b["priors"] == {"mu": "normal(0, 4)", "tau": "halfnormal(0.5)"}
    assert b["mu"]["median"] == pytest.approx(ref["mu"]["median"], abs=2e-4)
    assert b["mu"]["sd"] == pytest.approx(ref["mu"]["sd"], abs=2e-3)
    assert b["reported"]["tau"]["median"] == pytest.approx(ref["tau"]["median"], abs=2e-4)
    assert b["prob_below"]["1.0"] == pytest.approx(1 - ref["p_mu_above_0"], abs=1e-5)


def test_summary_equals_the_library_called_directly(synthetic):
    _, result, s, _ = synthetic
    for name, threshold, above in (("AE", 0.7, False), ("ORR", 1.5, True)):
        e = result.outcomes[name].effects
        post = fit_exact(e["yi"].to_numpy(), e["sei"].to_numpy(), mu_prior="normal(0, 4)",
                         tau_prior="halfnormal(0.5)", measure="RR")
        expected = post.prob_above(threshold) if above else post.prob_below(threshold)
        row = next(p for p in s["outcomes"][name]["bayes"]["probabilities"]
                   if p["parameter"] == "mu" and p["threshold"] == threshold)
        assert row["probability"] == pytest.approx(expected, abs=1e-12)
        assert row["words"] == probability_words(expected)
        assert s["outcomes"][name]["bayes"]["reported"]["mu"]["median"] == pytest.approx(
            math.exp(post.marginal("mu").median()), rel=1e-10)
    comparison = pd.DataFrame(s["comparison"])
    pooled = comparison[(comparison["outcome"] == "AE") & (comparison["quantity"] == "pooled RR")].iloc[0]
    assert pooled["k_published"] == 13 and pooled["k_used"] == 13
    assert pooled["bayesian_value"] == pytest.approx(s["outcomes"]["AE"]["bayes"]["reported"]["mu"]["median"])


def test_benefit_above_reads_the_upper_tail(synthetic):
    """For response rates the statement is P(RR > t): it must equal 1 - CDF, not the CDF."""
    _, _, s, _ = synthetic
    b = s["outcomes"]["ORR"]["bayes"]
    p_above_1 = next(p["probability"] for p in b["probabilities"] if p["parameter"] == "mu" and p["threshold"] == 1.0)
    assert p_above_1 == pytest.approx(1 - b["prob_below"]["1.0"], abs=1e-12)
    assert p_above_1 > 0.99  # every study favours the treatment arm


def test_level_marginals_are_consistent_with_the_engine(synthetic):
    """The pooled effect per covariate level (Posterior.contrast): the reference level is mu itself; the other
    level's mean is E(mu) + E(beta) (linearity of expectation over the same tau nodes)."""
    plan, result, _, _ = synthetic
    from bayesmeta.design import design_matrix
    from bayesmeta.priors import load_prior_sets

    e = result.outcomes["AE"].effects
    prior = load_prior_sets(plan.priors_file)[plan.main_prior]
    X, names = design_matrix(e[["design"]].astype(str), ["design"])
    post = fit_exact(e["yi"].to_numpy(), e["sei"].to_numpy(), mu_prior=prior.mu, tau_prior=prior.tau,
                     beta_prior=prior.beta, X=X, covariate_names=names, measure="RR")
    ref = post.contrast({"mu": 1.0})
    assert ref.median() == pytest.approx(post.marginal("mu").median(), abs=1e-10)
    other = post.contrast({"mu": 1.0, f"beta[{names[0]}]": 1.0})
    assert other.mean() == pytest.approx(post.marginal("mu").mean() + post.marginal(f"beta[{names[0]}]").mean(),
                                         abs=1e-10)
    draws = post.get_draws(4000, 3)
    level_draws = np.ravel(draws["mu"]) + np.ravel(draws["beta"][..., 0])
    assert other.median() == pytest.approx(np.median(level_draws), abs=4 * np.std(level_draws) / np.sqrt(4000))


def test_tsa_information_size_is_the_closed_form(synthetic):
    """Wetterslev 2008: RIS = 4 (z_{1-a/2} + z_{1-b})^2 p(1-p) / delta^2, p_e = p_c (1 - RRR)."""
    _, _, s, _ = synthetic
    tsa = s["outcomes"]["ORR"]["tsa"]
    pc = 0.25
    pe = pc * (1 + 0.30)
    pbar = (pc + pe) / 2
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.80)
    assert tsa["ris_fixed"] == pytest.approx(4 * z**2 * pbar * (1 - pbar) / (pc - pe) ** 2, rel=1e-10)
    assert s["outcomes"]["ORR"]["tsa_settings"]["control_rate"] == 0.25


def test_monitoring_equals_sequential_monitor(synthetic):
    from bayesmeta.sequential import monitor

    _, result, s, _ = synthetic
    e = result.outcomes["AE"].effects
    direct = monitor(e["yi"], e["sei"], e["year"].to_numpy(float), mu_prior="normal(0, 4)",
                     tau_prior="halfnormal(0.5)", study=e["study_id"].tolist(), thresholds=(0.7, 1.0),
                     futility_mcid=0.8, measure="RR")
    looks = s["outcomes"]["AE"]["monitoring"]["looks"]
    assert [lk["median"] for lk in looks] == pytest.approx(direct.table["median"].tolist(), rel=1e-12)
    assert s["outcomes"]["AE"]["monitoring"]["first_stop"] == (None if direct.first_stop is None
                                                               else direct.first_stop._asdict())
    oc = pd.DataFrame(s["outcomes"]["AE"]["operating_characteristics"])
    assert set(oc["true_ratio"]) == {1.0, 0.7} and (oc["n_sim"] == 20).all()


def test_coverage_names_the_studies_without_data(synthetic):
    _, _, s, _ = synthetic
    cov = {c["outcome"]: c for c in s["coverage"]}
    assert (cov["PFS"]["k_published"], cov["PFS"]["k_used"]) == (8, 6)
    reasons = {n["study"]: n["reason"] for n in cov["PFS"]["not_used"]}
    assert "X1Unread2009" in reasons and "not readable" in reasons["X1Unread2009"]
    assert [m["study"] for m in s["missing_studies"]] == ["X1Unread2009"]


def test_comparison_covers_every_published_number_it_can(synthetic):
    _, _, s, _ = synthetic
    comparison = pd.DataFrame(s["comparison"])
    assert (comparison["plain"].str.len() > 40).all()
    reg = comparison[(comparison["analysis"] == "meta_regression") & (comparison["variable"] == "ablat")].iloc[0]
    assert reg["recomputed_value"] < 1e-4 and reg["status"] == "agree"
    control = comparison[comparison["quantity"] == "event rate, control arm"].iloc[0]
    counts = pd.read_csv(REFERENCE / "reanalysis_synthetic" / "outcomes.csv").query("outcome == 'ORR'")
    assert control["recomputed_value"] == pytest.approx(counts["events_control"].sum() / counts["total_control"].sum())
    not_covered = pd.DataFrame(s["published_not_covered"])
    assert not_covered.to_dict("records") == [{"outcome": "AE", "analysis": "subgroup", "rows": 1,
                                               "reason": "the subgroup is not a study-level column of the data, "
                                                         "and no outcome of the plan holds its within-trial strata "
                                                         "(outcomes.<name>.strata_of and .subgroup)"}]


def test_seeds_and_versions_are_recorded(synthetic):
    _, _, s, _ = synthetic
    assert s["seeds"]["plan"] == 7
    assert s["seeds"]["exact.AE"] == s["outcomes"]["AE"]["bayes"]["seed"]
    assert {"bayesmeta", "numpy", "scipy", "pymc", "arviz"} <= set(s["versions"])


def test_parallel_run_gives_the_same_numbers(synthetic):
    plan, _, s, _ = synthetic
    again = json.loads(json.dumps(run_plan(plan, parallel=True).to_summary(), allow_nan=False))
    assert again["outcomes"] == s["outcomes"]


def test_a_worker_process_is_started_only_when_it_saves_time():
    """Simulations x true effects x tau values x looks (k) at 0.25 ms per look, against the worker's 5 s start-up."""
    from bayesmeta.reanalysis.crosscheck import simulation_seconds, worker_pays_off

    job = {"n_sim": 100, "true_ratio": [1.0, 0.8, 0.6], "tau_values": [0.0, 0.2], "k": 22}  # magnesium_mi
    assert simulation_seconds([job]) == pytest.approx(100 * 3 * 2 * 22 * 2.5e-4)
    assert not worker_pays_off([], [job, {**job, "k": 5}])
    assert worker_pays_off([], [{**job, "n_sim": 1000}])  # 33 s of simulations
    assert worker_pays_off([{"name": "OS"}], [])  # NUTS fits always go to the worker
    assert not worker_pays_off([], [])


def test_cache_key_follows_inputs_and_corrupt_entries_are_dropped(tmp_path):
    from bayesmeta.cache import ResultCache, cache_key

    plan = load_plan(SYNTHETIC)
    assert cache_key(plan) == cache_key(load_plan(SYNTHETIC))
    assert cache_key(plan) != cache_key(plan.with_mcmc(draws=201))
    copy = tmp_path / "synthetic"
    import shutil

    shutil.copytree(SYNTHETIC.parent, copy)
    changed = copy / "outcomes.csv"
    changed.write_text(changed.read_text().replace("B01Aronson1948,AE,RR,,,,,,,,4,", "B01Aronson1948,AE,RR,,,,,,,,5,"))
    assert cache_key(load_plan(copy / "plan.toml")) != cache_key(plan)

    cache = ResultCache(tmp_path / "cache", keep=2)
    for i in range(3):
        cache.store(f"k{i}", {"i": i})
        time.sleep(0.01)
    assert sorted(p.stem for p in cache.root.glob("*.npz")) == ["k1", "k2"]
    cache.path("k2").write_bytes(b"not an npz")
    assert cache.load("k2") is None and not cache.path("k2").exists()
    assert cache.load("k1") == {"i": 1}


def test_prior_sets_are_mirrored_for_benefit_above(synthetic):
    """An enthusiastic prior (centred on ratio 0.7 for HR-like outcomes) is centred on 1/0.7 for response rates,
    so it raises, not lowers, the probability of benefit."""
    _, _, s, _ = synthetic
    grids = {name: pd.DataFrame(s["outcomes"][name]["sensitivity"]["grid"]) for name in ("AE", "ORR")}
    enthusiastic = {name: g[g["prior_set"] == "enthusiastic"]["mu_prior"].iloc[0] for name, g in grids.items()}
    assert enthusiastic == {"AE": "normal(-0.35667, 0.21684)", "ORR": "normal(0.35667, 0.21684)"}
    orr = grids["ORR"].set_index(["prior_set", "tau_prior"])
    key = "halfnormal(0.5)"
    assert orr.loc[("enthusiastic", key), "prob_above_1"] > orr.loc[("skeptical", key), "prob_above_1"]


def test_comparison_adds_trimfill_and_pet_peese_beside_egger(synthetic):
    """The synthetic AE outcome is dat.bcg: metafor trimfill (REML, L0) fills 1 study on the right; PET-PEESE as
    rma(yi, vi, mods = ~ sqrt(vi) / ~ vi, method = "FE") (tests/reference/bias_fixtures.json)."""
    _, _, s, _ = synthetic
    fix = json.loads((REFERENCE / "bias_fixtures.json").read_text())
    comparison = pd.DataFrame(s["comparison"]).query("outcome == 'AE'")
    assert list(comparison["analysis"])[-3:] == ["egger", "trimfill", "pet_peese"]
    tf = next(c for c in fix["trimfill"] if (c["dataset"], c["method"], c["estimator"], c["side"])
              == ("bcg", "REML", "L0", "auto"))
    row = comparison.query("analysis == 'trimfill'").iloc[0]
    assert row["recomputed_value"] == pytest.approx(np.exp(tf["fit"]["estimate"]), rel=1e-6)
    assert "1 study filled on the right" in row["recomputed"] and row["status"] == "not reported by the paper"
    pp = next(c for c in fix["petpeese"] if c["dataset"] == "bcg" and c["test"] == "z")
    chosen = "peese" if pp["pet"]["pval"][0] < 0.10 else "pet"
    row = comparison.query("analysis == 'pet_peese'").iloc[0]
    assert row["recomputed_value"] == pytest.approx(np.exp(pp[chosen]["estimate"][0]), rel=1e-6)
    assert row["recomputed"].startswith(chosen.upper())
