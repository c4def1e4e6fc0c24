"""Posterior predictive p-values (R bayesmeta's pppvalue) against closed forms: with tau held near 0 and a nearly
flat mu prior, the refit's posterior median of mu is the inverse-variance weighted mean, so the two-sided p-value
for mu = v is the z-test's 2 Phi(-|m - v| sqrt(W)), and the one-sided one (null mu >= v, mu drawn from its posterior
N(m, 1/W) truncated there) is P(mu + e <= m), e ~ N(0, 1/W), by quadrature. Monte Carlo: within 4 standard
errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from bayesmeta.cli import main

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def crins():
    d = pd.read_csv(REF / "crins2014.csv")
    w = 1 / d.sei.to_numpy() ** 2
    return d, float(np.sum(w * d.yi) / w.sum()), float(w.sum())


def test_two_sided_and_one_sided_pppvalues_match_closed_forms(crins, capsys):
    d, m, W = crins
    argv = ["fit", str(REF / "crins2014.csv"), "--measure", "OR", "--mu-prior", "normal(0, 100)", "--tau-prior",
            "halfnormal(0.0001)", "--pppvalue", "mu = -1.2", "--pppvalue", "mu = -1.2, less", "--ppp-n", "1000",
            "--seed", "3", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)["pppvalue"]
    two = out["mu = -1.2"]
    assert two["observed"] == pytest.approx(m, abs=1e-4)
    assert two["p_value"] == pytest.approx(2 * stats.norm.sf(abs(m + 1.2) * np.sqrt(W)), abs=4 * two["mc_se"])
    sd = 1 / np.sqrt(W)
    a = (-1.2 - m) / sd
    density = lambda mu: stats.truncnorm.pdf(mu, a, np.inf, loc=m, scale=sd) * stats.norm.cdf((m - mu) / sd)
    want = integrate.quad(density, -1.2, m + 12 * sd)[0]
    one = out["mu = -1.2, less"]
    assert one["alternative"] == "less" and one["n"] == 1000
    assert one["p_value"] == pytest.approx(want, abs=4 * one["mc_se"])


def test_bad_pppvalue_text_exits_2(capsys):
    assert main(["fit", str(REF / "crins2014.csv"), "--pppvalue", "theta = 0"]) == 2
    assert "cannot read --pppvalue" in capsys.readouterr().err
