"""Monte Carlo error of the monitoring rule's operating characteristics: an MCSE for both stopping probabilities
and, where no simulation stopped that way, the exact one-sided 95% Clopper-Pearson upper limit instead of 0."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayesmeta.report.sections import _monitoring
from bayesmeta.sequential import clopper_pearson_95, operating_characteristics


@pytest.mark.parametrize(("x", "n"), [(0, 20), (0, 100), (3, 40), (17, 50), (50, 50)])
def test_clopper_pearson_limits_solve_the_binomial_tail_equations(x, n):
    lower, upper = clopper_pearson_95(x, n)
    if x < n:
        assert stats.binom.cdf(x, n, upper) == pytest.approx(0.05, abs=1e-10)  # P(X <= x | upper) = 5%
    else:
        assert upper == 1.0
    if x > 0:
        assert stats.binom.sf(x - 1, n, lower) == pytest.approx(0.05, abs=1e-10)  # P(X >= x | lower) = 5%
    else:
        assert lower == 0.0
        assert upper == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-12)
        assert upper == pytest.approx(3 / n, rel=0.03 + 1.5 / n)  # the rule of three approximates it
    if x == n:
        assert lower == pytest.approx(0.05 ** (1 / n), rel=1e-12)


def test_operating_characteristics_give_both_mcses_and_a_bound_where_none_stopped():
    n_sim = 40
    oc = operating_characteristics(3, np.array([0.4, 0.6]), true_ratio=(1.1,), tau_values=(0.0,), n_sim=n_sim,
                                   seed=5, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", futility_mcid=0.8)
    row = oc.iloc[0]
    assert row["p_benefit"] == 0.0 and row["mcse_benefit"] == 0.0  # a harmful truth, 3 small studies: no benefit stop
    assert row["benefit_upper95"] == pytest.approx(1 - 0.05 ** (1 / n_sim), rel=1e-12)
    p = row["p_futility"]
    assert 0 < p < 1
    assert row["mcse_futility"] == pytest.approx(np.sqrt(p * (1 - p) / n_sim), rel=1e-12)
    assert (row["futility_lower95"], row["futility_upper95"]) == pytest.approx(
        clopper_pearson_95(round(p * n_sim), n_sim), rel=1e-12)

    summary = {"monitoring_settings": {"order": "year", "benefit_probability": 0.975, "futility_probability": 0.1,
                                       "outcomes": ["m"], "futility_mcid": {"m": 0.8}, "simulations": n_sim},
               "outcomes": {"m": {"label": "Mortality", "measure": "HR", "k": 3, "bayes": {"k": 3},
                                  "monitoring": None, "tsa": None,
                                  "operating_characteristics": oc.to_dict(orient="records")}}}
    table = next(b for b in _monitoring(summary) if "operating characteristics" in getattr(b, "caption", ""))
    assert table.columns[-2:] == ["MCSE of P(stop for benefit)", "MCSE of P(stop for futility)"]
    assert table.rows[0][-2:] == [f"< {row['benefit_upper95']:.3f}", f"{row['mcse_futility']:.3f}"]
    assert "Clopper-Pearson" in repr(_monitoring(summary))
