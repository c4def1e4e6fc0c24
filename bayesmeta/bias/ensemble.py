"""Bayesian model averaging over effect, heterogeneity and publication bias: fit every model of an ensemble,
posterior model probabilities p(M | y) = p(y | M) p(M) / sum_M' p(y | M') p(M'), inclusion Bayes factors
(posterior odds of the models with a component over those without, divided by the prior odds; Hoeting et al.
1999, Gronau et al. 2017) and the model-averaged posteriors of mu and of the effect in a new study."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from bayesmeta.asymmetry import MIN_K, below_min_k
from bayesmeta.bias.estimates import Estimate, ensemble_estimates
from bayesmeta.bias.gaussian import fit_gaussian
from bayesmeta.bias.marginals import GridMarginal, mix
from bayesmeta.bias.models import Ensemble, ModelSpec, WeightFunction, get_ensemble
from bayesmeta.bias.posteriors import gaussian_posteriors, selection_posteriors
from bayesmeta.bias.priors import BiasPriors, default_priors
from bayesmeta.bias.selection import MAX_DIMENSIONS, fit_selection
from bayesmeta.bias.smc import SmcFit, fit_selection_smc
from bayesmeta.errors import InputError, ModelError
from bayesmeta.scales import is_ratio, to_reported

GRID_POINTS = 2001
ERROR_GATE = 0.05
"""A model whose log marginal likelihood error estimate (of a deterministic rule) exceeds this gets a note: its
posterior probability is uncertain by a factor of about exp(error). Models estimated by sequential Monte Carlo have
their own gate (:data:`bayesmeta.bias.smc.SE_GATE`), whose failures are warnings."""
ERROR_KINDS = {"rule": "deterministic rule's error estimate (|I_n - I_2n/3|)",
               "monte carlo se": "Monte Carlo standard error of sequential Monte Carlo (spread of independent runs)"}
"""What a model's ``log_ml_error`` is: ``rule`` for the deterministic integrals, ``monte carlo se`` for the selection
models with more dimensions than the tensor rule takes (:mod:`bayesmeta.bias.smc`)."""


@dataclass(frozen=True)
class ModelResult:
    """One model: prior and posterior probability, log marginal likelihood with its error (log scale), and the
    conditional posteriors of mu and of the new-study effect."""

    spec: ModelSpec
    prior_prob: float
    post_prob: float
    log_ml: float
    log_ml_error: float
    mu: GridMarginal = field(repr=False)
    predictive: GridMarginal = field(repr=False)
    tau_mean: float = 0.0
    """Posterior mean of tau given the model (0 without heterogeneity)."""
    tau_sd: float = 0.0
    """Posterior sd of tau given the model."""
    fit: object = field(default=None, repr=False, compare=False)
    """The fitted model (:class:`~bayesmeta.bias.gaussian.GaussianFit`,
    :class:`~bayesmeta.bias.selection.SelectionFit` or :class:`~bayesmeta.bias.smc.SmcFit`), for
    :mod:`bayesmeta.bias.curves`."""

    @property
    def log_ml_error_kind(self) -> str:
        """A key of :data:`ERROR_KINDS`."""
        return "monte carlo se" if isinstance(self.fit, SmcFit) else "rule"

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class Inclusion:
    """Inclusion Bayes factor of one component (effect, heterogeneity, bias)."""

    component: str
    prior_prob: float
    post_prob: float
    bf: float


@dataclass
class BiasResult:
    """The averaged result of an ensemble (see the module docstring)."""

    ensemble: str
    measure: str | None
    k: int
    priors: BiasPriors
    models: list[ModelResult]
    inclusion: dict[str, Inclusion]
    mu: GridMarginal
    predictive: GridMarginal
    mu_conditional: GridMarginal | None
    mu_unadjusted: GridMarginal | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Failures of a Monte Carlo gate (:mod:`bayesmeta.bias.smc`): results to be read with caution."""
    seed: int = 0
    """The seed of the Monte Carlo estimates (recorded whether or not a model needed one)."""
    estimate_scale: dict[str, float] = field(default_factory=dict)
    """Factors carrying an estimate to the reported scale (e.g. tau and PEESE from Fisher's z to Cohen's d)."""
    _estimates: dict[float, tuple] = field(default_factory=dict, init=False, repr=False, compare=False)

    def estimates(self, level: float = 0.95) -> tuple[dict[str, Estimate], dict[str, Estimate]]:
        """(model-averaged, conditional) posterior estimates of tau, omega[a,b] per one-sided p-value interval,
        PET and PEESE as RoBMA's ``summary(fit)`` prints them (:mod:`bayesmeta.bias.estimates`), on the analysis
        scale (log scale for ratio measures) times ``estimate_scale``; computed on first use."""
        if level not in self._estimates:
            both = ensemble_estimates([(m.spec, m.post_prob, m.fit) for m in self.models], level)
            self._estimates[level] = tuple({k: e.scaled(self.estimate_scale.get(k, 1.0)) for k, e in d.items()}
                                           for d in both)
        return self._estimates[level]  # type: ignore[return-value]

    def tau_moments(self, conditional: bool = False) -> tuple[float, float] | None:
        """Posterior mean and sd of tau, model-averaged (the models without heterogeneity put tau at 0) or,
        ``conditional``, over the models with heterogeneity only (None if they have no posterior mass)."""
        used = [m for m in self.models if m.spec.heterogeneity or not conditional]
        total = sum(m.post_prob for m in used)
        if not used or total <= 0:
            return None
        mean = sum(m.post_prob * m.tau_mean for m in used) / total
        second = sum(m.post_prob * (m.tau_sd**2 + m.tau_mean**2) for m in used) / total
        return float(mean), float(np.sqrt(max(second - mean * mean, 0.0)))

    def _tau_dict(self, conditional: bool) -> dict[str, float] | None:
        moments = self.tau_moments(conditional)
        return None if moments is None else {"mean": moments[0], "sd": moments[1]}

    def _scale(self, summary: dict[str, float]) -> dict[str, float]:
        if self.measure is None or not is_ratio(self.measure):
            return summary
        return {key: float(to_reported(v, self.measure)) for key, v in summary.items() if key != "sd"}

    def to_dict(self, level: float = 0.95) -> dict[str, object]:
        def summ(m: GridMarginal | None) -> dict[str, object] | None:
            if m is None:
                return None
            s = m.summary(level)
            return {"analysis": s, "reported": self._scale({k: v for k, v in s.items() if k != "mean"})}

        return {
            "ensemble": self.ensemble,
            "measure": self.measure,
            "k": self.k,
            "level": level,
            "priors": self.priors.as_dict(),
            "models": [
                {"model": m.name, "effect": m.spec.effect, "heterogeneity": m.spec.heterogeneity,
                 "bias": m.spec.bias_label, "prior_prob": m.prior_prob, "post_prob": m.post_prob,
                 "log_ml": m.log_ml, "log_ml_error": m.log_ml_error, "log_ml_error_kind": m.log_ml_error_kind,
                 "smc": m.fit.as_dict() if isinstance(m.fit, SmcFit) else None,
                 "mu": summ(m.mu) if m.spec.effect else None}
                for m in self.models
            ],
            "log_ml_error_kinds": {k: v for k, v in ERROR_KINDS.items()
                                   if any(m.log_ml_error_kind == k for m in self.models)},
            "seed": self.seed,
            "inclusion": {c: {"prior_prob": i.prior_prob, "post_prob": i.post_prob, "bf": i.bf}
                          for c, i in self.inclusion.items()},
            "mu": summ(self.mu),
            "mu_atom_at_0": self.mu.atom,
            "mu_conditional": summ(self.mu_conditional),
            "mu_unadjusted": summ(self.mu_unadjusted),
            "predictive": summ(self.predictive),
            "tau": self._tau_dict(False),
            "tau_conditional": self._tau_dict(True),
            "estimates": {k: e.as_dict() for k, e in self.estimates(level)[0].items()},
            "estimates_conditional": {k: e.as_dict() for k, e in self.estimates(level)[1].items()},
            "max_log_ml_error": max(m.log_ml_error for m in self.models),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "min_k": MIN_K,
            "below_min_k": below_min_k(self.k),
        }


def grid_for(yi: np.ndarray, sei: np.ndarray) -> np.ndarray:
    """An even grid wide enough for mu and the new-study effect: the data's reach plus 3 SDs of the effects."""
    spread = float(np.std(yi)) + float(np.max(sei))
    lo = min(float(np.min(yi - 4 * sei)), 0.0) - 3 * spread
    hi = max(float(np.max(yi + 4 * sei)), 0.0) + 3 * spread
    return np.linspace(lo, hi, GRID_POINTS)


Thresholds = Callable[[WeightFunction], np.ndarray]
"""Maps a weight function to the studies' (k, cut-offs) thresholds on the effect scale (see
:func:`bayesmeta.bias.selection.effect_thresholds`, the default, and :func:`bayesmeta.bias.robma.t_thresholds`)."""


def selection_dimensions(spec: ModelSpec) -> int:
    """The dimension of a selection model's integral: mu, log tau (those it has) and one weight per cut-off."""
    assert spec.weights is not None
    return int(spec.effect) + int(spec.heterogeneity) + len(spec.weights.cutoffs)


def fit_model(spec: ModelSpec, priors: BiasPriors, yi: np.ndarray, sei: np.ndarray, grid: np.ndarray,
              thresholds: Thresholds | None = None, seed: int = 0):
    """(log ML, its error, mu posterior, predictive, posterior mean and sd of tau, the fit) of one model; a selection
    model with more dimensions than the tensor rule takes by sequential Monte Carlo seeded from ``seed``."""
    if spec.bias == "selection":
        crit = thresholds(spec.weights) if thresholds is not None and spec.weights is not None else None
        if selection_dimensions(spec) > MAX_DIMENSIONS:
            smc = fit_selection_smc(spec, priors, yi, sei, thresholds=crit, seed=seed)
            mu, pred = selection_posteriors(smc, grid)
            tau = (float(np.mean(smc.tau)), float(np.std(smc.tau))) if spec.heterogeneity else (0.0, 0.0)
            return smc.log_value, smc.log_error, mu, pred, tau, smc
        fit = fit_selection(spec, priors, yi, sei, thresholds=crit)
        mu, pred = selection_posteriors(fit, grid)
        tau = _selection_tau_moments(fit) if spec.heterogeneity else (0.0, 0.0)
    else:
        fit = fit_gaussian(spec, priors, yi, sei)
        mu, pred = gaussian_posteriors(fit, grid)
        tau = _moments(fit.log_mass, fit.tau) if spec.heterogeneity else (0.0, 0.0)
    return fit.integral.log_value, fit.integral.log_error, mu, pred, tau, fit


def _moments(log_mass: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Mean and sd of the values at a quadrature rule's nodes, weighted by the normalised exp(log_mass)."""
    lm = np.asarray(log_mass, dtype=float)
    w = np.exp(lm - logsumexp(lm.ravel()))
    v = np.broadcast_to(values, lm.shape)
    mean = float(np.sum(w * v))
    return mean, float(np.sqrt(max(float(np.sum(w * v * v)) - mean * mean, 0.0)))


def _selection_tau_moments(fit) -> tuple[float, float]:
    """Posterior mean and sd of tau from the selection model's tensor rule (the log tau axis' nodes)."""
    axis = fit.axes.index("log_tau")
    shape = [1] * len(fit.axes)
    shape[axis] = -1
    return _moments(fit.integral.log_mass, np.exp(fit.integral.nodes[axis]).reshape(shape))


def inclusion(models: Sequence[ModelResult], has) -> Inclusion | None:
    """The component's inclusion BF, or None when the models with it or those without it have prior mass 0 (a user
    ensemble in which every model has heterogeneity, say). The odds are sums over each side, not 1 - the other
    side, so that normalised probabilities summing to 1 - 1e-16 do not pass for a component with both sides."""
    prior_in = sum(m.prior_prob for m in models if has(m.spec))
    prior_out = sum(m.prior_prob for m in models if not has(m.spec))
    if not (prior_in > 0 and prior_out > 0):
        return None
    post_in = sum(m.post_prob for m in models if has(m.spec))
    post_out = sum(m.post_prob for m in models if not has(m.spec))
    with np.errstate(divide="ignore", invalid="ignore"):
        bf = (post_in / post_out) / (prior_in / prior_out) if post_out > 0 else float("inf")
    return Inclusion("", prior_in / (prior_in + prior_out), post_in / (post_in + post_out), float(bf))


def fit_bias(yi: Sequence[float], sei: Sequence[float], *, measure: str | None = None,
             ensemble: str | Ensemble | Sequence[ModelSpec | Mapping[str, object]] = "psma",
             priors: BiasPriors | None = None, thresholds: Thresholds | None = None, seed: int = 0) -> BiasResult:
    """Fit an ensemble ("psma", "metabma" or user-defined models) to effects yi with standard errors sei on the
    analysis scale (log ratios for OR/RR/HR); priors default to RoBMA's, rescaled to the measure (an MD or GEN
    needs its scale unit: ``default_priors(measure, unit=...)``, :mod:`bayesmeta.scale_unit`); ``thresholds``:
    the selection models' cut-offs on the effect scale (default: normal-test p-values y / se); ``seed``: of the
    selection models estimated by sequential Monte Carlo (:func:`bayesmeta.bias.smc.model_seed`)."""
    y = np.asarray(yi, dtype=float)
    s = np.asarray(sei, dtype=float)
    if y.ndim != 1 or y.shape != s.shape or y.size < 2:
        raise InputError(f"yi and sei must be 1-d arrays of one length >= 2, got shapes {y.shape} and {s.shape}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise InputError("yi must be finite and sei finite and positive", column="yi, sei")
    ens = get_ensemble(ensemble)
    if not ens.models:
        raise ModelError("the ensemble has no models")
    pri = priors or default_priors(measure)
    grid = grid_for(y, s)
    fitted = [fit_model(spec, pri, y, s, grid, thresholds, seed) for spec in ens.models]
    prior = np.asarray(ens.prior_probabilities())
    log_ml = np.array([f[0] for f in fitted])
    with np.errstate(divide="ignore"):  # a model of prior weight 0 gets log prior -inf and posterior 0
        log_post = log_ml + np.log(prior)
    post = np.exp(log_post - logsumexp(log_post))
    models = [ModelResult(spec, float(p0), float(p1), float(f[0]), float(f[1]), f[2], f[3], *map(float, f[4]),
                          f[5])
              for spec, p0, p1, f in zip(ens.models, prior, post, fitted)]
    comps = {"effect": lambda m: m.effect, "heterogeneity": lambda m: m.heterogeneity,
             "bias": lambda m: m.bias != "none"}
    incl = {}
    for name, has in comps.items():
        inc = inclusion(models, has)
        if inc is not None:
            incl[name] = Inclusion(name, inc.prior_prob, inc.post_prob, inc.bf)
    mu = mix([m.mu for m in models], post)
    pred = mix([m.predictive for m in models], post)
    eff = [m for m in models if m.spec.effect]
    cond = mix([m.mu for m in eff], np.array([m.post_prob for m in eff])) if eff and sum(
        m.post_prob for m in eff) > 0 else None
    plain = [m for m in eff if m.spec.bias == "none"]
    unadj = mix([m.mu for m in plain], np.array([m.post_prob for m in plain])) if plain and sum(
        m.post_prob for m in plain) > 0 else None
    notes = [pri.note] if pri.note else []
    notes += [f"model {m.name}: log marginal likelihood error estimate {m.log_ml_error:.2g} exceeds "
              f"{ERROR_GATE:g}; its posterior probability ({m.post_prob:.3g}) is uncertain by a factor of about "
              f"{np.exp(m.log_ml_error):.3g}" for m in models
              if m.log_ml_error > ERROR_GATE and m.log_ml_error_kind == "rule"]
    smc = [m for m in models if isinstance(m.fit, SmcFit)]
    if smc:
        notes.append(f"{len(smc)} selection model(s) with more than {MAX_DIMENSIONS} dimensions "
                     f"({', '.join(m.name for m in smc)}): log marginal likelihood by sequential Monte Carlo "
                     f"(seed {seed}); their error is a Monte Carlo standard error")
    warnings = [w for m in smc for w in m.fit.warnings]  # type: ignore[union-attr]
    return BiasResult(ens.name, measure, int(y.size), pri, models, incl, mu, pred, cond, unadj, notes, warnings,
                      int(seed))
