"""Simulation-based calibration of the exact engine with known truth (Talts et al. 2018): data drawn from the prior
give posterior CDFs at the true values that are uniform; a posterior under the wrong prior is caught."""

from __future__ import annotations

import numpy as np

from bayesmeta.batch.calibration import coverage, headline, sbc_exact


def test_exact_engine_sbc_ranks_are_uniform():
    for k in (2, 5):
        for row in sbc_exact(600, k, seed=11).table():
            assert row["ks_p"] > 0.001 and row["chi2_p"] > 0.001, row


def test_sbc_detects_a_posterior_under_the_wrong_prior():
    rows = sbc_exact(600, 3, fit_tau_prior="halfnormal(0.1)", seed=11).table()
    assert all(row["ks_p"] < 1e-6 for row in rows), rows


def test_coverage_table_has_every_method_and_cell():
    table = coverage(200, ks=(3,), taus=(0.0, 0.3), seed=5)
    assert set(table.method) == {"Bayes halfnormal(0.5)", "Bayes halfnormal(1)", "DL", "REML", "HK (REML)"}
    # averaged over k = 3 data sets with tau = 0.3 the Bayesian 95% intervals of mu are not below nominal beyond
    # Monte Carlo error (Friede et al. 2017: Bayesian intervals near or above nominal for few studies)
    bayes = table[(table.tau == 0.3) & table.method.str.startswith("Bayes")]
    assert np.all(bayes.coverage >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / 200))
    assert "| DL |" in headline(table)
