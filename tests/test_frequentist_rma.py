"""rma() against R metafor 3.8 (tests/reference/metafor_fixtures.json) and closed forms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bayesmeta.frequentist import rma

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "metafor_fixtures.json").read_text())
DATA = FIX["datasets"]
# the reference bcg_metafor.json (metafor 3.8-1, default settings)
SHARED = json.loads((REF / "bcg_metafor.json").read_text())
TOL = 1e-6

FIT_KEYS = ("estimate", "se", "zval", "pval", "ci_lower", "ci_upper", "tau2", "tau2_se", "i2", "h2", "q", "q_p")


def _vec(x):
    return np.atleast_1d(np.asarray(x, dtype=float))


def _moderators(case):
    d = DATA[case["dataset"]]
    mods = case["mods"] if isinstance(case["mods"], list) else [case["mods"]]
    if mods == ["alloc"]:
        alloc = np.asarray(d["alloc"])
        return np.column_stack([alloc == "random", alloc == "systematic"]).astype(float), ["random", "systematic"]
    if mods == ["platinum_oxaliplatin"]:
        return (np.asarray(d["platinum"]) == "oxaliplatin").astype(float), ["oxaliplatin"]
    return np.column_stack([d[m] for m in mods]), mods


def _label(case):
    mods = case.get("mods")
    return f"{case['dataset']}-{case['method']}-{case['test']}-{case.get('level', '')}-{mods or ''}"


@pytest.mark.parametrize("case", FIX["fits"], ids=_label)
def test_rma_matches_metafor(case):
    d = DATA[case["dataset"]]
    res = rma(_vec(d["yi"]), _vec(d["vi"]), method=case["method"], test=case["test"], level=case["level"])
    assert res.k == case["k"]
    assert res.q_df == case["q_df"]
    for key in (*FIT_KEYS, "pi_lower", "pi_upper"):
        expected = case[key]
        got = getattr(res, key)
        if expected is None:
            assert got is None, key
        else:
            assert got == pytest.approx(expected, abs=TOL, rel=TOL), key


@pytest.mark.parametrize("case", FIX["metareg"], ids=_label)
def test_metaregression_matches_metafor(case):
    d = DATA[case["dataset"]]
    x, names = _moderators(case)
    res = rma(d["yi"], d["vi"], method=case["method"], test=case["test"], mods=x, mod_names=names)
    for key in ("tau2", "tau2_se", "i2", "h2", "q", "q_p", "qm", "qm_p", "r2"):
        expected = case[key]
        got = getattr(res, key)
        if expected is None:
            assert got is None, key
        else:
            assert got == pytest.approx(expected, abs=TOL, rel=TOL), key
    assert res.qm_df == case["qm_df"]
    assert res.pi_lower is None and res.pi_upper is None
    coefs = case["coefficients"]
    assert res.coefficients[0].name == "intrcpt"
    for j, c in enumerate(res.coefficients):
        for key in ("estimate", "se", "stat", "pval", "ci_lower", "ci_upper"):
            assert getattr(c, key) == pytest.approx(coefs[key][j], abs=TOL, rel=TOL), (c.name, key)


class TestSharedBcgReference:
    """bcg_metafor.json was made with metafor's default convergence settings, which stop early: REML when tau^2
    changes by < 1e-5 (Fisher scoring), PM at uniroot's tolerance eps^0.25 = 1.22e-4. So tau^2 is compared within
    those tolerances, and every other quantity is compared at metafor's own tau^2 (fixed), to 1e-9."""

    ref = SHARED
    y = np.asarray(DATA["bcg"]["yi"])
    v = np.asarray(DATA["bcg"]["vi"])

    @pytest.mark.parametrize("method,tau2_tol", [("FE", 1e-12), ("DL", 1e-9), ("REML", 1e-5), ("PM", 1.22e-4)])
    def test_estimators(self, method, tau2_tol):
        ref = self.ref[method]
        assert rma(self.y, self.v, method=method).tau2 == pytest.approx(ref["tau2"], abs=tau2_tol)
        fixed = rma(self.y, self.v, method=method, tau2=ref["tau2"])
        for key, expected in ref.items():
            assert getattr(fixed, key) == pytest.approx(expected, abs=1e-9, rel=1e-9), key

    def test_knha(self):
        ref = self.ref["REML_knha"]
        res = rma(self.y, self.v, method="REML", test="knha", tau2=self.ref["REML"]["tau2"])
        for key, expected in ref.items():
            assert getattr(res, key) == pytest.approx(expected, abs=1e-9), key
        assert res.df == 12

    def test_prediction_interval_dl(self):
        res = rma(self.y, self.v, method="DL")
        assert (res.pi_lower, res.pi_upper) == pytest.approx(self.ref["DL_prediction_interval"], abs=1e-9)

    def test_metaregression_ablat(self):
        ref = self.ref["REML_metareg_ablat"]
        ablat = np.asarray(DATA["bcg"]["ablat"], dtype=float)
        assert rma(self.y, self.v, mods=ablat).tau2 == pytest.approx(ref["tau2"], abs=1e-5)
        res = rma(self.y, self.v, mods=ablat, mod_names=["ablat"], tau2=ref["tau2"])
        assert res.coefficients[0].estimate == pytest.approx(ref["intercept"], abs=1e-9)
        assert res.coefficients[1].estimate == pytest.approx(ref["slope"], abs=1e-9)
        assert [c.se for c in res.coefficients] == pytest.approx(ref["se"], abs=1e-9)
        assert res.qm == pytest.approx(ref["qm"], abs=1e-8)
        assert res.qm_p == pytest.approx(ref["qm_p"], rel=1e-8)
        assert res.coefficients[1].name == "ablat"


def test_common_effect_closed_form():
    """Inverse-variance weighted mean, Var = 1/sum(w), Q and I^2 = (Q - df)/Q computed by hand."""
    y = np.array([0.2, -0.1, 0.5, 0.3])
    v = np.array([0.04, 0.09, 0.05, 0.02])
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2)
    res = rma(y, v, method="FE")
    assert res.estimate == pytest.approx(mu, rel=1e-12)
    assert res.se == pytest.approx(np.sqrt(1 / np.sum(w)), rel=1e-12)
    assert res.q == pytest.approx(q, rel=1e-12)
    assert res.i2 == pytest.approx(max(0.0, 100 * (q - 3) / q), abs=1e-10)
    dl = rma(y, v, method="DL")
    tau2 = max(0.0, (q - 3) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    assert dl.tau2 == pytest.approx(tau2, abs=1e-12)


def test_iterative_estimators_solve_their_equations():
    """PM: generalised Q equals k - 1; REML: the restricted score y'PPy - tr(P) vanishes (Viechtbauer 2005)."""
    y = np.asarray(DATA["normand1999"]["yi"])
    v = np.asarray(DATA["normand1999"]["vi"])
    pm = rma(y, v, method="PM")
    w = 1 / (v + pm.tau2)
    mu = np.sum(w * y) / np.sum(w)
    assert np.sum(w * (y - mu) ** 2) == pytest.approx(y.size - 1, rel=1e-10)
    reml = rma(y, v, method="REML")
    w = 1 / (v + reml.tau2)
    P = np.diag(w) - np.outer(w, w) / np.sum(w)
    assert (y @ P @ P @ y) == pytest.approx(np.trace(P), rel=1e-9)


def test_fixed_tau2_and_single_study():
    res = rma([0.3], [0.02], method="REML")
    assert (res.tau2, res.q, res.q_p, res.i2, res.h2) == (0.0, 0.0, 1.0, 0.0, 1.0)
    assert res.tau2_se is None
    fixed = rma([0.1, 0.4, 0.2], [0.02, 0.03, 0.05], method="DL", tau2=0.1)
    w = 1 / (np.array([0.02, 0.03, 0.05]) + 0.1)
    assert fixed.tau2 == 0.1 and fixed.tau2_se is None
    assert fixed.se == pytest.approx(np.sqrt(1 / w.sum()), rel=1e-12)


def test_as_dict_is_plain_json():
    d = DATA["bcg"]
    res = rma(d["yi"], d["vi"], mods=np.asarray(d["ablat"], dtype=float), mod_names=["ablat"])
    out = res.as_dict()
    text = json.dumps(out)
    back = json.loads(text)
    assert back["coefficients"][1]["name"] == "ablat"
    assert back["qe"] == pytest.approx(res.q)
    assert back["pi_lower"] is None
    assert isinstance(out["tau2"], float) and isinstance(out["k"], int)
    with pytest.raises(AttributeError):
        res.tau2 = 0.0  # frozen


def test_ee_alias_and_hksj_alias():
    d = DATA["bcg"]
    assert rma(d["yi"], d["vi"], method="EE").estimate == rma(d["yi"], d["vi"], method="FE").estimate
    assert rma(d["yi"], d["vi"], test="hksj").se == rma(d["yi"], d["vi"], test="knha").se
