"""Trim-and-fill, Begg's rank test, PET-PEESE and the step-function selection model against R metafor 3.8.1
(tests/reference/bias_fixtures.json, made by tests/reference/make_bias_fixtures.R), closed forms and an
independent check of the selection model's optimum."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from bayesmeta.errors import InputError, ModelError
from bayesmeta.frequentist import pet_peese, rank_test, selection_model, trimfill
from bayesmeta.frequentist.ranktest import _pkendall
from bayesmeta.frequentist.selmodel import _Problem, check_steps

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "bias_fixtures.json").read_text())
DATA = FIX["datasets"]
TOL = 1e-6
# metafor's selmodel: optim BFGS on (mu, log tau^2, logit(delta/100)) with finite-difference gradients and
# reltol = sqrt(machine eps). At an interior optimum its estimates (and SEs, CIs, LRT) lie within
# SEL_DEFAULT_TOL of the exact optimum, and those of the fixture's tight run (reltol = 1e-15) within
# SEL_TIGHT_TOL (measured: 5.6e-5 and 2.5e-6 at most, both on a delta's upper CI bound). Where tau^2 sits at 0
# (dat.li2007), log tau^2 cannot reach it: metafor stops 1.9e-4 (default) and 2.7e-6 (tight) short in log L,
# and the *_BOUNDARY tolerances apply (measured: 3.8e-4 and 5.3e-6 at most).
SEL_DEFAULT_TOL, SEL_DEFAULT_TOL_BOUNDARY = 1e-4, 5e-4
SEL_TIGHT_TOL, SEL_TIGHT_TOL_BOUNDARY = 5e-6, 1e-5


def data(name):
    d = DATA[name]
    return np.asarray(d["yi"], float), np.asarray(d["vi"], float)


def vec(x) -> list:
    """A JSON vector (jsonlite writes length-1 vectors as scalars and empty ones as null)."""
    return [] if x is None else list(np.atleast_1d(x))


def _id(c):
    return "-".join(str(c[k]) for k in ("dataset", "method", "estimator", "side"))


# -- trim-and-fill ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", FIX["trimfill"], ids=_id)
def test_trimfill_matches_metafor(case):
    y, v = data(case["dataset"])
    side = None if case["side"] == "auto" else case["side"]
    r = trimfill(y, v, method=case["method"], estimator=case["estimator"], side=side)
    assert (r.side, r.k0) == (case["side_used"], case["k0"])
    if case["k0_se"] is None:  # metafor: NaN when L0's variance formula turns negative
        assert r.k0_se is None
    else:
        assert r.k0_se == pytest.approx(case["k0_se"], abs=TOL)
    if case["estimator"] == "R0":
        assert r.k0_pval == pytest.approx(case["k0_pval"], abs=TOL)
    assert list(r.filled_yi) == pytest.approx(vec(case["filled_yi"]), abs=TOL)
    assert list(r.filled_vi) == pytest.approx(vec(case["filled_vi"]), abs=TOL)
    fit = case["fit"]
    assert r.fit.k == fit["k"] == len(y) + r.k0
    for key in ("estimate", "se", "zval", "pval", "ci_lower", "ci_upper", "tau2", "q", "i2"):
        assert getattr(r.fit, key) == pytest.approx(fit[key], abs=TOL), key


def test_trimfill_fills_mirror_images_about_the_trimmed_estimate():
    """Filled studies are 2 b - y of the k0 most extreme studies on the side opposite the missing ones."""
    y, v = data("hackshaw1998")
    r = trimfill(y, v, method="FE")
    assert r.side == "left" and r.k0 == 7
    centre = (np.asarray(r.filled_yi) + np.sort(y)[::-1][: r.k0][::-1]) / 2
    assert np.ptp(centre) < 1e-12  # one centre b for all pairs
    assert max(r.filled_yi) < np.min(y)  # all filled on the left


def test_trimfill_refuses_too_few_studies_and_unknown_options():
    with pytest.raises(ModelError, match="at least 3"):
        trimfill([0.1, 0.2], [0.01, 0.02])
    with pytest.raises(InputError, match="estimator"):
        trimfill(*data("bcg"), estimator="Q9")
    with pytest.raises(InputError, match="side"):
        trimfill(*data("bcg"), side="up")
    with pytest.raises(ModelError, match="variances are equal"):
        trimfill([0.1, 0.5, 0.3, 0.9], [0.04] * 4)


# -- Begg's rank correlation -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", FIX["ranktest"], ids=lambda c: f"{c['dataset']}-exact{c['exact']}")
def test_ranktest_matches_metafor(case):
    y, v = data(case["dataset"])
    r = rank_test(y, v, exact=case["exact"])
    assert r.exact == case["exact"]
    assert r.tau == pytest.approx(case["tau"], abs=TOL)
    assert r.pval == pytest.approx(case["pval"], abs=TOL)


def test_baskerville_has_tied_variances_so_the_normal_approximation_is_used():
    y, v = data("baskerville2012")
    assert not rank_test(y, v).exact and len(np.unique(v)) < len(v)


@pytest.mark.parametrize("n", [4, 6])
def test_exact_kendall_distribution_equals_enumeration(n):
    inversions = [sum(p[i] > p[j] for i in range(n) for j in range(i + 1, n))
                  for p in itertools.permutations(range(n))]
    for q in range(-1, n * (n - 1) // 2 + 1):
        assert _pkendall(q, n) == pytest.approx(sum(t <= q for t in inversions) / math.factorial(n), abs=1e-14)


# -- PET-PEESE -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", FIX["petpeese"], ids=lambda c: f"{c['dataset']}-{c['test']}")
def test_pet_peese_matches_metafor(case):
    y, v = data(case["dataset"])
    r = pet_peese(y, v, test=case["test"])
    for fit, ref in ((r.pet, case["pet"]), (r.peese, case["peese"])):
        for key in ("estimate", "se", "stat", "pval", "ci_lower", "ci_upper"):
            assert [getattr(c, key) for c in fit.coefficients] == pytest.approx(ref[key], abs=TOL), key
    chosen = r.peese if r.pet.coefficients[0].pval < 0.10 else r.pet
    assert r.selected == ("PEESE" if chosen is r.peese else "PET")
    assert r.estimate == chosen.coefficients[0].estimate


def test_pet_with_knha_is_weighted_least_squares():
    """test='knha' is lm(yi ~ sei, weights = 1/vi): its coefficient covariance is s^2 (X'WX)^-1."""
    y, v = data("lehmann2018")
    r = pet_peese(y, v, test="knha")
    x = np.column_stack([np.ones_like(y), np.sqrt(v)])
    w = 1 / v
    xtwx = x.T @ (w[:, None] * x)
    b = np.linalg.solve(xtwx, x.T @ (w * y))
    s2 = np.sum(w * (y - x @ b) ** 2) / (len(y) - 2)
    assert r.pet.coefficients[0].estimate == pytest.approx(b[0], abs=1e-12)
    assert r.pet.coefficients[0].se == pytest.approx(np.sqrt(s2 * np.linalg.inv(xtwx)[0, 0]), rel=1e-10)


def test_pet_peese_refuses_equal_variances():
    with pytest.raises(ModelError, match="different precision"):
        pet_peese([0.1, 0.5, 0.3], [0.04] * 3)


# -- step-function selection model -----------------------------------------------------------------------------------
SEL_FITS = {}


def sel_fit(case):
    key = (case["dataset"], case["method"], tuple(np.atleast_1d(case["steps"])), case["alternative"])
    if key not in SEL_FITS:
        y, v = data(case["dataset"])
        SEL_FITS[key] = selection_model(y, v, steps=np.atleast_1d(case["steps"]), alternative=case["alternative"],
                                        common_effect=case["method"] == "FE")
    return SEL_FITS[key]


SEL_KEYS = ("estimate", "se", "ci_lower", "ci_upper", "tau2", "tau2_se", "lrt", "lrt_pval")


@pytest.mark.parametrize("case", FIX["selmodel"], ids=lambda c: f"{c['dataset']}-{c['method']}")
def test_selection_model_matches_metafor(case):
    r = sel_fit(case)
    tight, default = case["tight"], case["default"]
    assert list(r.steps) == pytest.approx(vec(tight["steps"]))
    assert list(r.k_per_interval) == vec(tight["k_per_interval"])
    assert r.loglik0 == pytest.approx(tight["loglik0"], abs=1e-10)
    boundary = r.tau2 == 0.0 and case["method"] == "ML"
    for ref, tol in ((tight, SEL_TIGHT_TOL_BOUNDARY if boundary else SEL_TIGHT_TOL),
                     (default, SEL_DEFAULT_TOL_BOUNDARY if boundary else SEL_DEFAULT_TOL)):
        # never a lower maximum than metafor's, and the same one to its tolerance
        assert r.loglik >= ref["loglik"] - 1e-12
        assert r.loglik == pytest.approx(ref["loglik"], abs=tol)
        for key in SEL_KEYS:
            if ref[key] is not None:
                assert getattr(r, key) == pytest.approx(ref[key], abs=tol), key
        assert list(r.delta) == pytest.approx(vec(ref["delta"]), abs=tol)
        assert list(r.delta_se[1:]) == pytest.approx(vec(ref["delta_se"])[1:], abs=tol)
        assert list(r.delta_ci_lower[1:]) == pytest.approx(vec(ref["delta_ci_lower"])[1:], abs=tol)
        assert list(r.delta_ci_upper[1:]) == pytest.approx(vec(ref["delta_ci_upper"])[1:], abs=tol)
    assert r.lrt_df == tight["lrt_df"] == len(r.steps) - 1


@pytest.mark.parametrize("case", [c for c in FIX["selmodel"] if c["dataset"] in ("hackshaw1998", "li2007")
                                  and c["method"] == "ML"],
                         ids=lambda c: f"{c['dataset']}-{c['method']}")
def test_selection_model_optimum_is_checked_independently(case):
    """Gradient ~ 0 at the optimum, and Nelder-Mead on metafor's scale from three other starts finds no higher
    likelihood."""
    r = sel_fit(case)
    assert r.gradient_norm < 1e-8
    y, v = data(case["dataset"])
    sign = 1.0 if case["alternative"] == "greater" else -1.0
    steps = np.asarray(r.steps)
    se = np.sqrt(v)
    bounds = se[:, None] * np.concatenate([[np.inf], stats.norm.isf(steps)])[None, :]
    bounds[:, -1] = -np.inf
    p = stats.norm.sf(y / se) if sign > 0 else stats.norm.cdf(y / se)
    group = np.array([np.flatnonzero(pi <= steps)[0] for pi in p])
    prob = _Problem(y=sign * y, v=v, sign=sign, bounds=bounds, group=group, n_steps=steps.size)

    def neg(z):
        return -prob.loglik(z[0], float(np.exp(z[1])), np.concatenate([[1.0], 100 * special.expit(z[2:])]))

    rng = np.random.default_rng(7)
    best = -np.inf
    for _ in range(3):
        z0 = np.concatenate([[rng.normal(r.estimate, 0.5)], [np.log(rng.uniform(0.001, 0.5))],
                             rng.normal(-2, 1.5, steps.size - 1)])
        res = optimize.minimize(neg, z0, method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20000, "maxfev": 20000})
        best = max(best, -res.fun)
    assert best <= r.loglik + 1e-10
    assert best == pytest.approx(r.loglik, abs=1e-6)


def test_selection_density_integrates_to_one():
    """A_i = sum_j delta_j P_ij, the selection model's normalising constant, equals the integral of
    w(p(y)) phi(y; mu, v + tau^2) over y (quadrature), so the density integrates to 1."""
    _, v = data("lehmann2018")
    steps = np.array([0.025, 0.5, 1.0])
    delta = np.array([1.0, 0.4, 0.15])
    mu, tau2 = 0.12, 0.05
    for vi in v[:3]:
        se = math.sqrt(vi)
        s = math.sqrt(vi + tau2)
        cuts = se * stats.norm.isf(steps[:-1])

        def dens(t):
            return delta[np.flatnonzero(stats.norm.sf(t / se) <= steps)[0]] * stats.norm.pdf(t, mu, s)

        total = sum(integrate.quad(dens, a, b, epsabs=1e-12)[0]
                    for a, b in zip(np.concatenate([[-np.inf], np.sort(cuts)]),
                                    np.concatenate([np.sort(cuts), [np.inf]])))
        bounds = np.concatenate([[np.inf], cuts, [-np.inf]])[None, :]
        prob = _Problem(y=np.zeros(1), v=np.array([vi]), sign=1.0, bounds=bounds, group=np.zeros(1, np.intp),
                        n_steps=3)
        assert total == pytest.approx(float(prob._interval_probs(mu, np.array([s]))[0] @ delta), rel=1e-9)


def test_selection_model_without_selection_is_the_normal_likelihood():
    """With one interval holding all p-values below the only step, delta_2's interval is empty: refused; and the
    log-likelihood at delta = 1 is the normal-normal one."""
    y, v = data("bcg")
    base = stats.norm.logpdf(y, -0.7, np.sqrt(v + 0.3)).sum()
    r = selection_model(y, v, steps=(0.025, 0.5), alternative="less")
    assert r.loglik0 <= r.loglik
    z = y / np.sqrt(v)
    se = np.sqrt(v)
    bounds = se[:, None] * np.concatenate([[np.inf], stats.norm.isf([0.025, 0.5, 1.0])])[None, :]
    bounds[:, -1] = -np.inf
    prob = _Problem(y=-y, v=v, sign=-1.0, bounds=bounds,
                    group=np.array([np.flatnonzero(p <= np.array([0.025, 0.5, 1]))[0] for p in stats.norm.cdf(z)]),
                    n_steps=3)
    assert prob.loglik(-0.7, 0.3, np.ones(3)) == pytest.approx(base, abs=1e-10)


def test_selection_model_refuses_bad_steps_and_empty_intervals():
    y, v = data("hackshaw1998")
    for bad in ((0.0, 0.5), (0.025, 1.5), (-0.1,)):
        with pytest.raises(InputError, match="outside"):
            selection_model(y, v, steps=bad)
    with pytest.raises(ModelError, match=r"interval\(s\) \(0.025, 0.05\]"):
        selection_model(y, v, steps=(0.025, 0.05, 0.5))
    with pytest.raises(ModelError, match="too few"):
        selection_model(y[:3], v[:3], steps=(0.025, 0.05, 0.5))
    assert check_steps([0.5, 0.025, 0.5]) == (0.025, 0.5, 1.0)


# -- CLI: bayesmeta frequentist --bias -------------------------------------------------------------------------------
def csv_of(name: str, folder: Path) -> Path:
    import pandas as pd

    y, v = data(name)
    path = folder / f"{name}.csv"
    pd.DataFrame({"study": [f"s{i}" for i in range(len(y))], "yi": y, "vi": v}).to_csv(path, index=False)
    return path


@pytest.fixture()
def haic_os_csv(tmp_path: Path) -> Path:
    return csv_of("haic_os", tmp_path)


def test_cli_bias_json_matches_metafor(haic_os_csv, capsys):
    """HR data, benefit below: selection on p-values one-sided 'less' with the default step 0.025."""
    from bayesmeta.cli import main

    assert main(["frequentist", str(haic_os_csv), "--measure", "HR", "--bias", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["bias"]
    tf = next(c for c in FIX["trimfill"] if (c["dataset"], c["method"], c["estimator"], c["side"])
              == ("haic_os", "REML", "L0", "auto"))
    assert out["trimfill"]["k0"] == tf["k0"] and out["trimfill"]["side"] == tf["side_used"]
    assert out["trimfill"]["fit"]["estimate"] == pytest.approx(tf["fit"]["estimate"], abs=TOL)
    assert out["trimfill"]["reported"]["estimate"] == pytest.approx(np.exp(tf["fit"]["estimate"]), rel=TOL)
    rt = next(c for c in FIX["ranktest"] if c["dataset"] == "haic_os" and c["exact"])
    assert (out["rank_test"]["tau"], out["rank_test"]["pval"]) == pytest.approx((rt["tau"], rt["pval"]), abs=TOL)
    pp = next(c for c in FIX["petpeese"] if c["dataset"] == "haic_os" and c["test"] == "z")
    assert out["pet_peese"]["pet"]["coefficients"][0]["estimate"] == pytest.approx(pp["pet"]["estimate"][0], abs=TOL)
    assert out["pet_peese"]["peese"]["coefficients"][1]["pval"] == pytest.approx(pp["peese"]["pval"][1], abs=TOL)
    sm = next(c for c in FIX["selmodel"] if c["dataset"] == "haic_os")["tight"]
    assert out["selection_model"]["alternative"] == "less" and out["selection_model"]["steps"] == [0.025, 1.0]
    assert out["selection_model"]["estimate"] == pytest.approx(sm["estimate"], abs=SEL_TIGHT_TOL)
    assert out["selection_model"]["delta"][1] == pytest.approx(sm["delta"][1], abs=SEL_TIGHT_TOL)
    assert out["egger"]["k"] == 7


def test_cli_bias_prints_every_method(tmp_path, capsys):
    from bayesmeta.cli import main

    assert main(["frequentist", str(csv_of("bcg", tmp_path)), "--measure", "RR", "--bias", "--steps", "0.025,0.5"]) == 0
    text = capsys.readouterr().out
    for label in ("Egger", "Begg", "Trim-and-fill L0", "PET intercept", "PEESE intercept",
                  "Selection model, p less", "0.025 < p <= 0.5, k = 3", "LRT, df 2"):
        assert label in text, label


@pytest.mark.parametrize("args,message", [
    (["--bias", "--steps", "0.025,1.5"], "step 1.5 lies outside"),
    (["--bias", "--steps", "0.025,abc"], "not a comma-separated list"),
    (["--steps", "0.05"], "add --bias"),
    (["--figures", "somewhere"], "add --bias"),
    (["--bias", "--steps", "1e-15"], "no observed one-sided p-value"),
])
def test_cli_bias_refuses_impossible_inputs(haic_os_csv, capsys, args, message):
    from bayesmeta.cli import main

    assert main(["frequentist", str(haic_os_csv), "--measure", "HR", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_bias_refuses_two_studies(tmp_path, capsys):
    from bayesmeta.cli import main

    path = tmp_path / "two.csv"
    path.write_text("study,yi,sei\nA,0.1,0.2\nB,0.3,0.25\n")
    assert main(["frequentist", str(path), "--bias"]) == 2
    err = capsys.readouterr().err.strip()
    assert "at least 3 studies" in err and len(err.splitlines()) == 1


def test_panel_follows_the_method_as_metafor_selmodel_does():
    """selmodel of an FE fit keeps tau^2 = 0 (fixture: hackshaw1998 FE); the other fits are refitted by ML (the
    CLI test above: REML data, ML fixture)."""
    from bayesmeta.frequentist import publication_bias

    y, v = data("hackshaw1998")
    case = next(c for c in FIX["selmodel"] if c["dataset"] == "hackshaw1998" and c["method"] == "FE")
    pb = publication_bias(y, v, method="FE", steps=(0.025, 0.5), benefit="above")
    assert pb.selection_model.tau2 == 0.0 and pb.selection_model.tau2_se is None
    assert pb.selection_model.estimate == pytest.approx(case["tight"]["estimate"], abs=SEL_TIGHT_TOL)
    assert pb.trimfill.fit.method == "FE" and pb.k == len(y) and pb.selection_model.alternative == "greater"


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_selection_gradient_equals_central_differences(sign):
    y, v = data("lehmann2018")
    steps = np.array([0.025, 0.05, 0.5, 1.0])
    se = np.sqrt(v)
    bounds = se[:, None] * np.concatenate([[np.inf], stats.norm.isf(steps)])[None, :]
    bounds[:, -1] = -np.inf
    p = stats.norm.sf(sign * y / se)
    group = np.array([np.flatnonzero(pi <= steps)[0] for pi in p])
    prob = _Problem(y=sign * y, v=v, sign=sign, bounds=bounds, group=group, n_steps=4)
    theta = np.array([0.13, 0.07, 0.6, 0.35, 0.2])

    def ll(t):
        return prob.loglik(t[0], t[1], np.concatenate([[1.0], t[2:]]))

    numeric = [(ll(theta + h) - ll(theta - h)) / 2e-6 for h in 1e-6 * np.eye(theta.size)]
    assert prob.gradient(theta[0], theta[1], np.concatenate([[1.0], theta[2:]])) == pytest.approx(numeric, rel=1e-6)
