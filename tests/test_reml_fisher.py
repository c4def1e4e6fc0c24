"""REML and ML tau^2 on a risk-difference scale against metafor (tests/reference/make_nielweise2007_rd.R):
the exact root agrees with rma() converged tightly, and metafor's default Fisher scoring (threshold 1e-5 on the
change of tau^2), reproduced step by step, agrees with a default rma() to 1e-6, where the two differ by 1.6e-5."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bayesmeta.cli import main
from bayesmeta.errors import InputError
from bayesmeta.escalc import risk_difference
from bayesmeta.frequentist import rma
from bayesmeta.frequentist.tau2 import estimate_tau2, tau2_fisher

FIXTURE = json.loads((Path(__file__).parent / "reference" / "nielweise2007_rd_metafor.json").read_text())
STUDIES = FIXTURE["studies"]
YI = np.array([s["yi"] for s in STUDIES])
VI = np.array([s["vi"] for s in STUDIES])


def test_our_escalc_gives_metafors_risk_differences():
    cells = [np.array([s[c] for s in STUDIES], dtype=float)
             for c in ("events_treatment", "total_treatment", "events_control", "total_control")]
    yi, vi = risk_difference(*cells)
    assert np.allclose(yi, YI, rtol=0, atol=1e-12) and np.allclose(vi, VI, rtol=1e-10, atol=0)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_exact_root_matches_tight_metafor_and_fisher_scoring_matches_default_metafor(method):
    tight, default = FIXTURE[f"{method}_tight"], FIXTURE[f"{method}_default"]
    root, fisher = rma(YI, VI, method=method), rma(YI, VI, method=method, solver="fisher")
    for fit, ref in ((root, tight), (fisher, default)):
        assert fit.tau2 == pytest.approx(ref["tau2"], abs=1e-6, rel=1e-6)
        assert (fit.estimate, fit.se) == pytest.approx((ref["estimate"], ref["se"]), abs=1e-6)
        assert (fit.ci_lower, fit.ci_upper) == pytest.approx((ref["ci_lower"], ref["ci_upper"]), abs=1e-6)
    assert abs(default["tau2"] - tight["tau2"]) > 1e-5  # the default stop is far from the root on this scale
    assert root.tau2 == pytest.approx(tight["tau2"], rel=1e-7)
    assert fisher.tau2 == pytest.approx(default["tau2"], rel=1e-10)  # the same steps, to rounding


def test_fisher_scoring_on_a_log_scale_ends_within_its_threshold_of_the_root_and_unknown_solvers_fail():
    y = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62, 0.01, -0.47, -1.37, -0.34, 0.45, -0.02])
    v = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.01, 0.22, 0.01, 0.06, 0.07, 0.11, 0.06, 0.07])
    x = np.ones((y.size, 1))
    assert tau2_fisher(y, v, x) == pytest.approx(estimate_tau2("REML", y, v, x), abs=1e-5)
    with pytest.raises(InputError, match="solver"):
        estimate_tau2("REML", y, v, x, solver="newton")


def test_cli_fisher_scoring_option(tmp_path, capsys):
    path = tmp_path / "rd.csv"
    path.write_text("study,yi,vi\n" + "".join(f"{s['study']},{s['yi']!r},{s['vi']!r}\n" for s in STUDIES))
    assert main(["frequentist", str(path), "--measure", "RD", "--fisher-scoring", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tau2"] == pytest.approx(FIXTURE["REML_default"]["tau2"], abs=1e-9)
