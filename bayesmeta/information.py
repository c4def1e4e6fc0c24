"""Unit-information SD and the prior effective sample size of a posterior (predictive) distribution.

- :func:`uisd`: the unit-information standard deviation sigma_u = sqrt(sum n_i / sum sigma_i^-2) of studies with
  sample sizes n_i and standard errors sigma_i, assuming sigma_i = sigma_u / sqrt(n_i) (Roever et al. 2021, Res
  Synth Methods 12:448; R bayesmeta's ``uisd``).
- :func:`ess`: the effective sample size of a marginal p(theta) (by default the predictive distribution of a new
  study's effect, the meta-analytic-predictive prior of Schmidli et al. 2014) in units of sigma_u (R bayesmeta's
  ``ess``): 'elir', the expected local-information ratio E_p[i_p(theta) sigma_u(theta)^2] with
  i_p = -d^2/dtheta^2 log p (Neuenschwander et al. 2020, Biometrics 76:578), or 'vr', the variance ratio
  sigma_u^2 / Var_p(theta). For a normal N(m, s^2) both are sigma_u^2 / s^2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from bayesmeta.errors import InputError, ModelError

ESS_METHODS = ("elir", "vr")
TAIL = 1e-6
"""Probability left out in each tail of the ELIR integral."""


def uisd(n: Sequence[float] | np.ndarray, sei: Sequence[float] | np.ndarray, individual: bool = False):
    """sqrt(sum n_i / sum sei_i^-2), or with ``individual`` each study's sqrt(n_i sei_i^2)."""
    n_arr, s = np.asarray(n, dtype=float), np.asarray(sei, dtype=float)
    if n_arr.shape != s.shape or n_arr.size == 0:
        raise InputError("sample sizes and standard errors must be two arrays of one length", column="n")
    if not (np.all(np.isfinite(n_arr)) and np.all(n_arr > 0) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise InputError("sample sizes and standard errors must be positive finite numbers", column="n")
    if individual:
        return np.sqrt(n_arr * s * s)
    return float(math.sqrt(n_arr.sum() / np.sum(1.0 / (s * s))))


def ess(post, unit_sd: float | Callable[[np.ndarray], np.ndarray], param: str = "predictive",
        method: str = "elir") -> float:
    """The effective sample size of the marginal ``param`` of an exact posterior (a normal mixture over the tau
    nodes) for the unit-information SD ``unit_sd`` (a number, or a function of theta such as 2 cosh(theta/2)
    for log odds). 'elir' integrates (p'^2 / p - p'') sigma_u(theta)^2 over theta (adaptive quadrature)."""
    from scipy import integrate

    if method not in ESS_METHODS:
        raise ModelError(f"unknown ESS method {method!r} (valid: {', '.join(ESS_METHODS)})")
    m = post.marginal(param)
    if not all(hasattr(m, a) for a in ("weights", "means", "sds")):
        raise ModelError("the ESS needs the exact engine's normal-mixture marginal")
    su2: Callable[[np.ndarray], np.ndarray]
    if callable(unit_sd):
        su2 = lambda x: np.asarray(unit_sd(x), dtype=float) ** 2  # noqa: E731
    else:
        if not (math.isfinite(unit_sd) and unit_sd > 0):
            raise InputError(f"unit-information SD {unit_sd!r}", column="--ess-uisd", valid="a positive number")
        su2 = lambda x: np.full(np.shape(x), float(unit_sd) ** 2)  # noqa: E731
    if method == "vr":
        if callable(unit_sd):
            raise ModelError("the variance-ratio ESS needs a constant unit-information SD")
        return float(su2(np.array(0.0)) / m.std() ** 2)
    w, mu, sd = m.weights, m.means, m.sds

    def integrand(x: float) -> float:
        z = (x - mu) / sd
        phi = w * np.exp(-0.5 * z * z) / (sd * math.sqrt(2.0 * math.pi))
        p = phi.sum()
        if p <= 0:
            return 0.0
        d1 = np.sum(-phi * z / sd)
        d2 = np.sum(phi * (z * z - 1.0) / (sd * sd))
        return float((d1 * d1 / p - d2) * su2(np.array(x)))

    # over the central 1 - 2e-6 of p: for a constant sigma_u the tails beyond add about 2e-6 relative; for a
    # sigma_u growing exponentially (log odds) under a heavy-tailed predictive the full expectation may diverge,
    # and the truncated one is what a finite normal mixture (R bayesmeta's) gives
    lo, med, hi = (float(v) for v in m.ppf(np.array([TAIL, 0.5, 1 - TAIL])))
    parts = [integrate.quad(integrand, a, b, epsabs=0, epsrel=1e-10, limit=200)[0]
             for a, b in ((lo, med), (med, hi))]
    return float(sum(parts))
