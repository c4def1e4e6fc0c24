"""Shared by the model-language tests: an independent dense-quadrature computation of the normal-normal
meta-regression (:class:`Dense`), a small data set with a factor and a covariate, and the CLI helpers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from bayesmeta.cli import main

REF = Path(__file__).parent / "reference"
PUBLISHED = json.loads((REF / "bayesmeta_published.json").read_text())


def digits(x: float) -> float:
    """Half a unit in the last printed digit of a published number."""
    text = repr(x)
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    return 0.5 * 10.0**-decimals + 1e-12


def run(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def plan_file(tmp_path: Path, data: Path, **keys) -> str:
    lines = ["[fit]", f'data = "{data}"']
    for key, value in keys.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "fit.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class Dense:
    """The normal-normal meta-regression with normal priors on every coefficient, by brute force: p(tau | y) on a
    fine grid from scipy's multivariate normal N(y; X b0, S_tau + X B0 X'), b | tau, y by the textbook conjugate
    update, and the marginal of c'b (+ a new study's u) as the grid-weighted normal mixture."""

    def __init__(self, y, s, X, b0, bsd, tau_logpdf, upper=6.0, n=2001):
        self.y, self.s, self.X = np.asarray(y), np.asarray(s), np.asarray(X, dtype=float)
        self.b0, self.B0 = np.asarray(b0, dtype=float), np.diag(np.asarray(bsd, dtype=float) ** 2)
        self.tau = np.linspace(0.0, upper, n)
        k = self.y.size
        t2 = self.tau[:, None] ** 2
        cov = (self.X @ self.B0 @ self.X.T)[None] + np.eye(k)[None] * (self.s**2 + t2)[:, None, :]
        r = self.y - self.X @ self.b0
        _, logdet = np.linalg.slogdet(cov)
        quad = np.einsum("i,mi->m", r, np.linalg.solve(cov, np.broadcast_to(r, (n, k))[..., None])[..., 0])
        lp = -0.5 * (k * math.log(2 * math.pi) + logdet + quad) + tau_logpdf(self.tau)
        w = np.exp(lp - lp.max())
        w[0] *= 0.5
        w[-1] *= 0.5
        self.w = w / w.sum()
        self.lp = lp
        P0 = np.linalg.inv(self.B0)
        W = 1.0 / (self.s**2 + t2)  # (n, k)
        A = np.einsum("ki,mk,kj->mij", self.X, W, self.X) + P0[None]
        self.V = np.linalg.inv(A)
        rhs = np.einsum("ki,mk->mi", self.X, W * self.y) + (P0 @ self.b0)[None]
        self.m = np.einsum("mij,mj->mi", self.V, rhs)

    def log_evidence(self) -> float:
        """log p(y) = log of the trapezoid integral of p(tau) p(y | tau) over the grid."""
        top = self.lp.max()
        f = np.exp(self.lp - top)
        return float(top + math.log((f.sum() - 0.5 * (f[0] + f[-1])) * (self.tau[1] - self.tau[0])))

    def mixture(self, c, new=False):
        c = np.asarray(c, dtype=float)
        mean = self.m @ c
        var = np.einsum("i,mij,j->m", c, self.V, c) + (self.tau**2 if new else 0.0)
        return mean, np.sqrt(var)

    def summary(self, c, new=False):
        mean, sd = self.mixture(c, new)
        cdf = lambda x: float(np.sum(self.w * stats.norm.cdf(x, mean, sd)))
        lo, hi = mean.min() - 10 * sd.max(), mean.max() + 10 * sd.max()
        q = lambda p: optimize.brentq(lambda x: cdf(x) - p, lo, hi, xtol=1e-12)
        m1 = float(np.sum(self.w * mean))
        m2 = float(np.sum(self.w * (sd**2 + mean**2)))
        pdf = lambda x: float(np.sum(self.w * stats.norm.pdf(x, mean, sd)))
        mode = optimize.minimize_scalar(lambda x: -pdf(x), bounds=(q(0.3), q(0.7)), method="bounded",
                                        options={"xatol": 1e-10}).x
        return {"median": q(0.5), "mean": m1, "sd": math.sqrt(m2 - m1 * m1), "ci_lower": q(0.025),
                "ci_upper": q(0.975), "mode": mode}


def agree(got: dict, want: dict, tol: float = 2e-5) -> None:
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=tol * max(1.0, abs(value))), (key, got[key], value)


GROUPS = pd.DataFrame({
    "study": list("abcdefgh"),
    "yi": [-0.52, -0.21, -0.93, -0.71, -0.12, -0.44, -0.30, -0.85],
    "sei": [0.30, 0.25, 0.40, 0.30, 0.20, 0.35, 0.28, 0.33],
    "group": ["A", "A", "B", "B", "C", "C", "A", "B"],
    "dose": [1.0, 2.0, 1.5, 3.0, 0.5, 1.0, 2.5, 2.0],
})




def halfnormal(scale):
    return lambda t: stats.halfnorm.logpdf(t, scale=scale)
