"""PyMC models for the NUTS engine, built from a structure and fed data through ``pm.Data``.

Everything that changes between refits of the same model (effects, standard errors, covariates, arm counts,
prior locations and scales) is ``pm.Data``; the structure (likelihood, padded number of studies, number of
covariates, prior families) fixes the compiled graph. Studies are padded up to ``k_pad`` with a mask that
removes the padding from the likelihood, so leave-one-out and cumulative refits reuse one compiled model; in the
binomial model a padded study's latent ``z`` is a free standard normal that touches nothing else.

Normal-normal hierarchical model and meta-regression (Roever 2020, J Stat Softw 93(6)):
    y_i ~ N(theta_i, sei_i^2),  theta_i ~ N(mu + x_i' beta, tau^2).
NUTS samples mu, tau and beta from the likelihood with theta_i integrated out, y_i ~ N(mu + x_i' beta, sei_i^2 +
tau^2), as R bayesmeta integrates it: no funnel, whether the studies are weakly informative (the centred form's
funnel) or precise (the non-centred form's); the theta_i are then drawn from their conditional posterior
(:func:`bayesmeta.mcmc.fit.conditional_theta`). Under a normal or flat prior mu is sampled about its conditional
centre given tau (:func:`_conditional_mu`), which removes the funnel between mu and tau left when tau's posterior
reaches far beyond the studies' standard errors.
Coefficients with normal priors sit in slots, as studies do: beta = beta_loc + beta_scale * b, b ~ N(0, I), with
the design X, beta_loc and beta_scale as data, so the intercept-only model and meta-regressions of up to
:data:`BETA_BLOCK` such coefficients share one compiled model; an unused slot has a zero column in X, so its b is
a free standard normal that touches nothing else.

Binomial-normal model on arm counts (Smith, Spiegelhalter & Thomas 1995, Stat Med 14:2685; Stijnen, Hamza &
Ozdemir 2010, Stat Med 29:3046), with exchangeable study baselines and the +-1/2 coding of the treatment
effect discussed by Jackson, Law, Stijnen, Viechtbauer & White (2018, Stat Med 37:1059):
    events_ti ~ Bin(n_ti, expit(alpha_i + theta_i / 2)),  events_ci ~ Bin(n_ci, expit(alpha_i - theta_i / 2)),
    alpha_i ~ N(m_alpha, s_alpha^2),  theta_i = mu + tau * z_i,
so theta_i is exactly the log odds ratio of study i and both arms carry the same share of its heterogeneity;
each alpha_i is sampled centred or non-centred as its data suggest (see :func:`build_binomial_model`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayesmeta.mcmc.prior_forms import POSITIVE_FAMILIES, POSITIVE_UNIT, PriorForm
from bayesmeta.priors import parse_prior

PAD_BLOCK = 8
MIN_SLOTS = 32
"""Study slots compiled at least: every meta-analysis of up to 32 studies (most of them) shares one compiled model
per prior structure, so a machine compiles it once; the empty slots cost a few per cent of sampling time."""


BETA_BLOCK = 4
"""Coefficient slots compiled into every normal model whose coefficients (if any) have normal priors: at least
4, in blocks of 4."""


def coefficient_slots(p: int) -> int:
    """Number of coefficient slots compiled for ``p`` coefficients with normal priors (:data:`BETA_BLOCK`)."""
    return BETA_BLOCK * max(1, int(np.ceil(p / BETA_BLOCK)))


def padded_size(k: int, pad_to: int | None = None) -> int:
    """Number of study slots compiled for ``k`` studies: ``pad_to`` if given, else k rounded up to a multiple
    of 8 and at least :data:`MIN_SLOTS` (a leave-one-out or cumulative series of more studies can pass
    ``pad_to = k_full`` and compile once)."""
    if pad_to is not None:
        if pad_to < k:
            raise ValueError(
                f"pad_to = {pad_to} is smaller than the number of studies ({k})"
            )
        return int(pad_to)
    return max(MIN_SLOTS, int(PAD_BLOCK * np.ceil(k / PAD_BLOCK)))


@dataclass(frozen=True)
class ParamSpec:
    """A parameter's compiled prior: a unit prior scaled by data (``scaled``) or the prior as written."""

    text: str
    scaled: bool
    sei: tuple[float, ...] | None = None

    @classmethod
    def from_form(cls, form: PriorForm, sei: np.ndarray | None = None) -> ParamSpec:
        tied = (
            tuple(float(s) for s in sei)
            if form.depends_on_sei and sei is not None
            else None
        )
        return cls(text=form.compiled_text, scaled=form.unit is not None, sei=tied)


@dataclass(frozen=True)
class Structure:
    """What fixes a compiled model: the cache key.

    ``beta`` holds coefficients whose priors are compiled one by one; ``beta_slots`` the number of coefficient slots
    with normal priors whose locations and scales are data (by default :func:`coefficient_slots` of none for a
    normal model without ``beta``, 0 otherwise)."""

    likelihood: str
    k_pad: int
    mu: ParamSpec
    tau: ParamSpec
    beta: tuple[ParamSpec, ...] = ()
    baseline_mean: ParamSpec | None = None
    baseline_sd: ParamSpec | None = None
    beta_slots: int | None = None

    def __post_init__(self) -> None:
        if self.beta_slots is None:
            slots = coefficient_slots(0) if self.likelihood == "normal" and not self.beta else 0
            object.__setattr__(self, "beta_slots", slots)
        if self.beta and self.beta_slots:
            raise ValueError("coefficients are either compiled one by one (beta) or in slots (beta_slots)")

    @property
    def var_names(self) -> list[str]:
        names = ["mu", "tau"] + (["z"] if self.likelihood == "binomial" else [])
        if self.beta or self.beta_slots:
            names.append("beta")
        if self.likelihood == "binomial":
            names += ["baseline_mean", "baseline_sd", "a"]
        return names


def positive_unit_logp(t: pt.TensorVariable, family: pt.TensorVariable, shape: pt.TensorVariable
                       ) -> pt.TensorVariable:
    """Log-density, up to a constant, of the unit prior of family ``POSITIVE_FAMILIES[family]`` at t > 0, with
    shape parameters (a, b): half-normal -t^2/2; half-t(a) -(a + 1)/2 log(1 + t^2/a); exponential -t;
    log-normal(0, a) -log t - (log t)^2/(2 a^2); Lomax(a) -(a + 1) log(1 + t); inverse-gamma(a) -(a + 1) log t - 1/t;
    log-t on tau^2 with scale a and b degrees of freedom -(b + 1)/2 log(1 + z^2/b) - log t, z = 2 log t / a.
    The families not chosen are switched off (their value and gradient are not used)."""
    a, b = shape[0], shape[1]
    log_t = pt.log(t)
    terms = [
        -0.5 * t**2,
        -0.5 * (a + 1.0) * pt.log1p(t**2 / a),
        -t,
        -log_t - 0.5 * (log_t / a) ** 2,
        -(a + 1.0) * pt.log1p(t),
        -(a + 1.0) * log_t - 1.0 / t,
        -0.5 * (b + 1.0) * pt.log1p((2.0 * log_t / a) ** 2 / b) - log_t,
    ]
    out = terms[-1]
    for i in reversed(range(len(terms) - 1)):
        out = pt.switch(pt.eq(family, i), terms[i], out)
    return out


def _positive_unit(name: str, owner: str) -> pt.TensorVariable:
    """``name`` > 0 (sampled on the log scale) with the unit prior chosen by the data ``<owner>_family`` and
    ``<owner>_shape`` (:func:`positive_unit_logp`)."""
    unit = pm.HalfFlat(name)
    family = pm.Data(f"{owner}_family", 0.0)  # the index into POSITIVE_FAMILIES, as a float
    shape = pm.Data(f"{owner}_shape", np.ones(2))
    pm.Potential(f"{name}_prior", positive_unit_logp(unit, family, shape))
    return unit


def _parameter(name: str, spec: ParamSpec, *, loc: bool = True) -> pt.TensorVariable:
    """``name = loc + scale * <unit prior>`` with loc/scale (and a positive unit's family) as data, or the prior as
    written."""
    sei = None if spec.sei is None else np.asarray(spec.sei)
    if not spec.scaled:
        return parse_prior(spec.text).to_pymc(name, sei=sei)
    if spec.text == POSITIVE_UNIT:
        unit = _positive_unit(f"{name}_std", name)
    else:
        unit = parse_prior(spec.text).to_pymc(f"{name}_std")
    value = pm.Data(f"{name}_scale", 1.0) * unit
    if loc:
        value = pm.Data(f"{name}_loc", 0.0) + value
    return value


def _location_scale(
    name: str, spec: ParamSpec, *, loc: bool = True
) -> pt.TensorVariable:
    value = _parameter(name, spec, loc=loc)
    if spec.scaled:
        return pm.Deterministic(name, value)
    return value


CONDITIONAL_MU = (("normal(0, 1)", True), ("flat", False))
"""(compiled text, scaled) of the mu priors under which mu is sampled about its conditional centre
(:func:`_conditional_mu`): a normal prior with its location and scale as data, or flat; other mu priors are sampled
as written."""


def _conditional_mu(spec: ParamSpec, residual: pt.TensorVariable, weight: pt.TensorVariable) -> pt.TensorVariable:
    """mu = m + u / sqrt(W) with u free: m = sum w_i r_i / W and W = sum w_i are the mean and precision of mu given
    tau (and the coefficients) from the likelihood (w_i = 1 / (sei_i^2 + tau^2), r_i = y_i - x_i' beta). Given tau,
    mu's posterior is then about as wide as u's whatever tau is, so the sampler meets no funnel between mu and tau
    (the posterior of mu widens with tau when the studies are precise). The density is p(mu, ...) times the
    Jacobian 1 / sqrt(W); the prior of mu (normal(loc, scale) with loc and scale as data, or flat) enters as a
    potential."""
    total = pt.sum(weight)
    centre = pt.sum(weight * residual) / total
    u = pm.Flat("mu_u")
    mu = pm.Deterministic("mu", centre + u / pt.sqrt(total))
    pm.Potential("mu_jacobian", -0.5 * pt.log(total))
    if spec.scaled:
        z = (mu - pm.Data("mu_loc", 0.0)) / pm.Data("mu_scale", 1.0)
        pm.Potential("mu_prior", -0.5 * z**2)
    return mu


def build_normal_model(structure: Structure) -> pm.Model:
    """The (masked, padded) normal-normal model or meta-regression for ``structure``."""
    k, p, slots = structure.k_pad, len(structure.beta), structure.beta_slots
    with pm.Model(check_bounds=False) as model:
        y = pm.Data("y", np.zeros(k))
        sei = pm.Data("sei", np.ones(k))
        mask = pm.Data("mask", np.zeros(k))
        tau = _location_scale("tau", structure.tau, loc=False)
        shift = pt.zeros(k)
        if slots:
            X = pm.Data("X", np.zeros((k, slots)))
            unit = pm.Normal("beta_std", 0.0, 1.0, shape=slots)
            beta = pm.Deterministic(
                "beta", pm.Data("beta_loc", np.zeros(slots)) + pm.Data("beta_scale", np.ones(slots)) * unit)
            shift = pt.sum(X * beta, axis=1)
        elif p:
            X = pm.Data("X", np.zeros((k, p)))
            coefs = [
                _parameter(f"beta{j}", spec) for j, spec in enumerate(structure.beta)
            ]
            beta = pm.Deterministic("beta", pt.stack(coefs))
            shift = pt.sum(X * beta, axis=1)
        var = sei**2 + tau**2
        if (structure.mu.text, structure.mu.scaled) in CONDITIONAL_MU:
            mu = _conditional_mu(structure.mu, y - shift, mask / var)
        else:
            mu = _location_scale("mu", structure.mu)
        mean = mu + shift
        # log N(y; mean, sei^2 + tau^2) without the constant -log(2 pi)/2
        pm.Potential("loglik", pt.sum(mask * -0.5 * (pt.log(var) + (y - mean) ** 2 / var)))
    return model


def build_binomial_model(structure: Structure) -> pm.Model:
    """The (masked, padded) binomial-normal model on arm counts for ``structure``.

    Each baseline is centred (w_i = 1) or non-centred (w_i = 0) according to the data vector ``centred``:
    raw_i ~ N(w_i m_alpha, w_i s_alpha + 1 - w_i) and alpha_i = (1 - w_i) (m_alpha + s_alpha raw_i) + w_i raw_i
    (Papaspiliopoulos, Roberts & Skold 2007), so well-informed baselines avoid the non-centred form's poor mixing
    and weakly informed ones (and the padding) avoid the funnel. The likelihood omits the binomial coefficients,
    which hold no parameter.
    """
    k = structure.k_pad
    assert structure.baseline_mean is not None and structure.baseline_sd is not None
    with pm.Model(check_bounds=False) as model:
        events_t = pm.Data("events_t", np.zeros(k))
        total_t = pm.Data("total_t", np.ones(k))
        events_c = pm.Data("events_c", np.zeros(k))
        total_c = pm.Data("total_c", np.ones(k))
        mask = pm.Data("mask", np.zeros(k))
        w = pm.Data("centred", np.zeros(k))
        mu = _location_scale("mu", structure.mu)
        tau = _location_scale("tau", structure.tau, loc=False)
        m_alpha = _location_scale("baseline_mean", structure.baseline_mean)
        s_alpha = _location_scale("baseline_sd", structure.baseline_sd, loc=False)
        z = pm.Normal("z", 0.0, 1.0, shape=k)
        raw = pm.Normal("a", mu=w * m_alpha, sigma=w * s_alpha + (1.0 - w), shape=k)
        alpha = (1.0 - w) * (m_alpha + s_alpha * raw) + w * raw
        theta = mu + tau * z
        eta_t, eta_c = alpha + theta / 2, alpha - theta / 2
        # e log expit(eta) + (n - e) log(1 - expit(eta)) = -n softplus(-eta) - (n - e) eta
        loglik = -total_t * pt.softplus(-eta_t) - (total_t - events_t) * eta_t
        loglik += -total_c * pt.softplus(-eta_c) - (total_c - events_c) * eta_c
        pm.Potential("loglik", pt.sum(mask * loglik))
    return model


def build_model(structure: Structure) -> pm.Model:
    if structure.likelihood == "normal":
        return build_normal_model(structure)
    if structure.likelihood == "binomial":
        return build_binomial_model(structure)
    raise ValueError(
        f"unknown likelihood {structure.likelihood!r} (valid: 'normal', 'binomial')"
    )


def prior_data(
    name: str, spec: ParamSpec, form: PriorForm, *, loc: bool = True
) -> dict[str, np.ndarray]:
    """The data entries that set a scaled prior's location and scale (and a positive unit's family and shape)."""
    if not spec.scaled:
        return {}
    out = {f"{name}_scale": np.asarray(form.scale, dtype=float)}
    if spec.text == POSITIVE_UNIT:
        out[f"{name}_family"] = np.asarray(form.family, dtype=float)
        out[f"{name}_shape"] = np.asarray(form.shape, dtype=float)
    if loc:
        out[f"{name}_loc"] = np.asarray(form.loc, dtype=float)
    return out


def coefficient_data(forms: list[PriorForm], X: np.ndarray | None, k_pad: int, slots: int) -> dict[str, np.ndarray]:
    """The data of ``slots`` coefficient slots holding the coefficients of normal priors ``forms``: the design
    ``X`` padded with zero rows to ``k_pad`` and zero columns to ``slots``, and each slot's prior location and scale
    (0 and 1 where unused)."""
    p = len(forms)
    design = np.zeros((k_pad, slots))
    if p:
        design[: X.shape[0], :p] = X
    loc, scale = np.zeros(slots), np.ones(slots)
    loc[:p] = [form.loc for form in forms]
    scale[:p] = [form.scale for form in forms]
    return {"X": design, "beta_loc": loc, "beta_scale": scale}


def pad(values: np.ndarray, k_pad: int, fill: float) -> np.ndarray:
    """``values`` (first axis: study) followed by ``fill`` up to ``k_pad`` rows."""
    values = np.asarray(values)
    extra = np.full(
        (k_pad - values.shape[0],) + values.shape[1:], fill, dtype=values.dtype
    )
    return np.concatenate([values, extra], axis=0)
