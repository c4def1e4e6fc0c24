"""Tau's posterior piled up at 0: the flag (I^2 median below 1%, Higgins & Thompson 2002), checked against the
closed form and a dense quadrature of the exact posterior, and its reading in the warning and the report."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from bayesmeta.exact import fit_exact
from bayesmeta.reanalysis.outcome import POWER_SCALING_READING, TAU_NEAR_ZERO_READING, power_scaling_warnings
from bayesmeta.report.sections import _sensitivity
from bayesmeta.sensitivity import power_scaling, tau_near_zero


def test_the_limit_is_where_i2_reaches_one_percent():
    limit = 0.2 * math.sqrt(0.01 / 0.99)  # equal standard errors: s = 0.2
    assert tau_near_zero(limit * 0.999, [0.2] * 5) and not tau_near_zero(limit * 1.001, [0.2] * 5)
    sei = np.array([0.1, 0.2, 0.4])
    w = 1 / sei**2
    s2 = 2 * w.sum() / (w.sum() ** 2 - (w**2).sum())  # Higgins & Thompson's typical variance, eq. 9
    tau = math.sqrt(s2 * 0.01 / 0.99)
    assert tau_near_zero(tau * 0.999, sei) and not tau_near_zero(tau * 1.001, sei)
    assert not tau_near_zero(0.0, [0.2])  # one study: no typical variance, no flag


def tau_median_by_quadrature(k: int, se: float, mu_sd: float, cauchy_scale: float) -> float:
    """y_i = 0 for k studies with equal se, mu ~ N(0, mu_sd^2), tau ~ half-Cauchy(scale): y | tau is
    N(0, (se^2 + tau^2) I + mu_sd^2 J); the posterior of tau on a dense grid, its median by the trapezoid CDF."""
    tau = np.concatenate([np.linspace(0, 0.2, 200_001), np.linspace(0.2, 50, 50_000)[1:]])
    v = se**2 + tau**2
    # log N(0 | 0, v I + m J) = -0.5 [k log(2 pi) + (k - 1) log v + log(v + k m)] with y = 0
    loglik = -0.5 * ((k - 1) * np.log(v) + np.log(v + k * mu_sd**2))
    dens = np.exp(loglik - loglik.max()) * stats.halfcauchy.pdf(tau, scale=cauchy_scale)
    cdf = integrate.cumulative_trapezoid(dens, tau, initial=0.0)
    return float(np.interp(0.5, cdf / cdf[-1], tau))


def test_homogeneous_studies_pile_tau_up_at_zero_and_power_scaling_calls_it_a_conflict():
    post = fit_exact(np.zeros(5), np.full(5, 0.1), mu_prior="normal(0, 4)", tau_prior="halfcauchy(0.01)")
    median = post.marginal("tau").median()
    assert median == pytest.approx(tau_median_by_quadrature(5, 0.1, 4.0, 0.01), rel=1e-6)
    assert tau_near_zero(median, np.full(5, 0.1))  # about 0.008 < 0.1005 * 0.1
    power = power_scaling(post)
    assert power.set_index("parameter").loc["tau", "diagnosis"] == "prior-data conflict"
    warnings = power_scaling_warnings(power, tau_near_zero=True)
    tau_warning = next(w for w in warnings if w.startswith("power-scaling: tau"))
    assert TAU_NEAR_ZERO_READING in tau_warning and POWER_SCALING_READING["prior-data conflict"] not in tau_warning
    plain = next(w for w in power_scaling_warnings(power, tau_near_zero=False) if "tau" in w)
    assert POWER_SCALING_READING["prior-data conflict"] in plain


def test_the_report_adds_the_reading_only_for_a_flagged_tau_piled_at_zero():
    power = [{"parameter": "mu", "prior": 0.01, "likelihood": 0.07, "diagnosis": "-"},
             {"parameter": "tau", "prior": 0.47, "likelihood": 0.09, "diagnosis": "prior-data conflict"}]

    def text(near_zero: bool, rows: list[dict]) -> str:
        outcome = {"label": "Mortality", "measure": "OR", "k": 5, "bayes": {"k": 5},
                   "sensitivity": {"grid": [], "power_scaling": rows, "tau_near_zero": near_zero}}
        return repr(_sensitivity({"outcomes": {"mortality": outcome}}))

    assert "likelihood of tau is flat near 0" in text(True, power)
    assert "flat near 0" not in text(False, power)
    quiet = [power[0], {**power[1], "diagnosis": "-"}]
    assert "flat near 0" not in text(True, quiet)  # nothing flagged: nothing to read
