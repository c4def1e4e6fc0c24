"""The common posterior result type returned by every engine.

Both engines (exact integration over tau, and PyMC/NUTS) return a :class:`Posterior`. It holds one marginal
distribution object per parameter (``mu``, ``tau``, ``predictive``, ``beta[<name>]``, ``theta[<study>]``), each
with the scipy-like interface of :class:`Marginal`, and a way to obtain joint draws for ArviZ. Every summary
below is computed from those marginals, so the two engines are interchangeable downstream.

Parameter names:
- ``mu``: the overall mean (the intercept in a meta-regression) on the analysis (log) scale;
- ``tau``: the between-study standard deviation;
- ``predictive``: the effect in a new study (the predictive distribution; at the reference covariate level);
- ``beta[<name>]``: meta-regression coefficients;
- ``theta[<study>]``: the study-specific (shrunken) effects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

import numpy as np

from bayesmeta.errors import ModelError
from bayesmeta.scales import is_ratio, reported_float, to_analysis

if TYPE_CHECKING:  # pandas and scipy.stats are imported where used: the exact engine's path needs neither
    import pandas as pd


@runtime_checkable
class Marginal(Protocol):
    """A univariate posterior marginal with a scipy.stats-like interface."""

    def pdf(self, x: np.ndarray | float) -> np.ndarray: ...

    def cdf(self, x: np.ndarray | float) -> np.ndarray: ...

    def ppf(self, q: np.ndarray | float) -> np.ndarray: ...

    def mean(self) -> float: ...

    def std(self) -> float: ...

    def median(self) -> float: ...

    def interval(self, level: float = 0.95, kind: str = "central") -> tuple[float, float]: ...

    def rvs(self, size: int, rng: np.random.Generator | int | None = None) -> np.ndarray: ...


class SampleMarginal:
    """A marginal represented by posterior draws (used by the MCMC engine).

    cdf is the empirical CDF, ppf the sample quantile (numpy's default linear interpolation), pdf a Gaussian
    kernel density estimate; ``shortest`` intervals are the narrowest window holding ``level`` of the draws.
    """

    def __init__(self, draws: np.ndarray) -> None:
        values = np.asarray(draws, dtype=float).ravel()
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError("SampleMarginal needs a non-empty array of finite draws")
        self.draws = np.sort(values)

    def pdf(self, x: np.ndarray | float) -> np.ndarray:
        from scipy import stats

        if np.ptp(self.draws) == 0:
            return np.where(np.asarray(x) == self.draws[0], np.inf, 0.0)
        return stats.gaussian_kde(self.draws)(np.atleast_1d(np.asarray(x, dtype=float))).reshape(np.shape(x))

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        return np.searchsorted(self.draws, np.asarray(x, dtype=float), side="right") / self.draws.size

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        return np.quantile(self.draws, q)

    def mean(self) -> float:
        return float(self.draws.mean())

    def std(self) -> float:
        return float(self.draws.std(ddof=1)) if self.draws.size > 1 else 0.0

    def median(self) -> float:
        return float(np.median(self.draws))

    def interval(self, level: float = 0.95, kind: str = "central") -> tuple[float, float]:
        _check_level(level)
        if kind == "central":
            lo, hi = np.quantile(self.draws, [(1 - level) / 2, (1 + level) / 2])
            return float(lo), float(hi)
        if kind == "shortest":
            n = self.draws.size
            m = max(1, int(np.ceil(level * n)))
            widths = self.draws[m - 1 :] - self.draws[: n - m + 1]
            i = int(np.argmin(widths))
            return float(self.draws[i]), float(self.draws[i + m - 1])
        raise ValueError(f"unknown interval kind {kind!r} (valid: 'central', 'shortest')")

    def rvs(self, size: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return np.random.default_rng(rng).choice(self.draws, size=size, replace=True)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"interval level must lie strictly between 0 and 1, got {level}")


@dataclass
class Posterior:
    """Posterior of a random-effects model (or meta-regression), from either engine.

    ``draws`` maps parameter names to arrays shaped (chain, draw) — ``theta`` to (chain, draw, study) and
    ``beta`` to (chain, draw, covariate) — or it is None and ``sampler(n_draws, rng)`` produces them on request
    (the exact engine samples the joint posterior directly, with no Markov chain). ``likelihood`` is the model's
    within-study likelihood: "normal" (y_i ~ N(theta_i, sei_i^2)) or "binomial" (the binomial-normal model on
    arm counts, whose ``yi``/``sei`` are for display only); analyses built on the normal likelihood refuse a
    binomial posterior (:meth:`require_normal`). ``combination(c)``, given by the exact engine, is the marginal
    of a linear combination of the coefficients (:meth:`contrast`).
    """

    engine: str
    measure: str
    study: tuple[str, ...]
    yi: np.ndarray
    sei: np.ndarray
    marginals: dict[str, Marginal]
    priors: dict[str, str]
    covariates: tuple[str, ...] = ()
    design: np.ndarray | None = None
    draws: dict[str, np.ndarray] | None = None
    sampler: Callable[[int, np.random.Generator], dict[str, np.ndarray]] | None = None
    diagnostics: dict[str, object] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seed: int | None = None
    extras: dict[str, object] = field(default_factory=dict)
    likelihood: str = "normal"
    combination: Callable[..., Marginal] | None = field(default=None, repr=False)
    intercept: bool = True
    """False for a design without intercept (group means, network contrasts): no ``mu``, no ``predictive``; every
    coefficient is a ``beta[<name>]``."""

    def __repr__(self) -> str:
        return self.summary_text()

    def summary_text(self, level: float = 0.95) -> str:
        """A short summary as R metafor prints a fit (:func:`bayesmeta.printing.posterior_text`): model, k,
        priors, tau, tau^2 and I^2, mu and the predictive with their credible intervals, and for a ratio measure
        the pooled ratio and P(ratio < 1)."""
        from bayesmeta.printing import posterior_text

        return posterior_text(self, level)

    # -- access -------------------------------------------------------------------------------------------
    @property
    def k(self) -> int:
        return len(self.study)

    @property
    def is_ratio(self) -> bool:
        return is_ratio(self.measure)

    def marginal(self, param: str) -> Marginal:
        """The marginal of ``param`` ('mu', 'tau', 'predictive', 'beta[x]', 'theta[study]')."""
        try:
            return self.marginals[param]
        except KeyError:
            raise KeyError(f"no parameter {param!r}; available: {', '.join(self.marginals)}") from None

    def require_normal(self, analysis: str) -> None:
        """ModelError unless the posterior has the normal likelihood that ``analysis`` is built on."""
        if self.likelihood != "normal":
            raise ModelError(
                f"{analysis} assumes the normal likelihood y_i ~ N(theta_i, sei_i^2), but this posterior has the "
                f"{self.likelihood} likelihood (the binomial-normal model on arm counts); refit with the normal "
                "likelihood on the log ratios for it"
            )

    # -- linear combinations of the coefficients ----------------------------------------------------------
    def contrast(self, weights: Mapping[str, float] | Sequence[float]) -> Marginal:
        """Marginal posterior of a linear combination c'b of the coefficients b = (mu, beta[...]) on the analysis
        scale: the pooled effect at a factor level is ``{"mu": 1, "beta[x[level]]": 1}``, the difference of two
        levels ``{"beta[x[a]]": 1, "beta[x[b]]": -1}``. ``weights`` by name (absent names weigh 0), or a vector
        in the order (mu, *covariates).

        Exact engine: given tau, c'b | tau, y ~ N(c' m(tau), c' V(tau) c), so the marginal is the normal mixture
        over the engine's tau nodes (Roever & Friede 2022, Comput Methods Programs Biomed). NUTS: the draws of c'b.
        """
        c = self._weights(weights)
        if self.draws is not None:
            return SampleMarginal(self._combined_draws(c))
        if self.combination is None:
            raise ModelError("this posterior has neither draws nor the engine's linear combinations")
        return self.combination(c)

    @property
    def coefficients(self) -> tuple[str, ...]:
        """The coefficients' names in the design's order: ``mu`` (when there is an intercept), ``beta[...]``."""
        return (*(("mu",) if self.intercept else ()), *(f"beta[{c}]" for c in self.covariates))

    def prediction(self, weights: Mapping[str, float] | Sequence[float]) -> Marginal:
        """Posterior predictive of the true effect in a new study with design row c (bmr's ``X.prediction``):
        c'b + u, u ~ N(0, tau^2); given tau, N(c' m(tau), c' V(tau) c + tau^2), a normal mixture over the tau
        nodes (exact engine), or the draws of c'b plus tau times a standard normal (NUTS, seeded)."""
        c = self._weights(weights)
        if self.draws is not None:
            values = self._combined_draws(c)
            tau = np.asarray(self.draws["tau"], dtype=float)
            rng = np.random.default_rng(self.seed or 0)
            return SampleMarginal(values + tau * rng.standard_normal(tau.shape))
        if self.combination is None:
            raise ModelError("this posterior has neither draws nor the engine's linear combinations")
        return self.combination(c, new_study=True)

    def _combined_draws(self, c: np.ndarray) -> np.ndarray:
        if self.intercept:
            values = c[0] * np.asarray(self.draws["mu"], dtype=float)  # type: ignore[index]
            if c.size > 1:
                values = values + np.asarray(self.draws["beta"], dtype=float) @ c[1:]  # type: ignore[index]
            return values
        return np.asarray(self.draws["beta"], dtype=float) @ c  # type: ignore[index]

    def _weights(self, weights: Mapping[str, float] | Sequence[float]) -> np.ndarray:
        names = self.coefficients
        if isinstance(weights, Mapping):
            unknown = [str(k) for k in weights if k not in names]
            if unknown:
                raise KeyError(f"no coefficient {unknown[0]!r}; available: {', '.join(names)}")
            c = np.array([float(weights.get(n, 0.0)) for n in names])
        else:
            c = np.asarray(weights, dtype=float).reshape(-1)
            if c.size != len(names):
                raise ValueError(f"{c.size} weights for {len(names)} coefficients ({', '.join(names)})")
        if not (np.all(np.isfinite(c)) and np.any(c != 0)):
            raise ValueError(f"the weights must be finite and not all zero, got {c.tolist()}")
        return c

    # -- probability statements ---------------------------------------------------------------------------
    def prob_below(self, value: float, param: str = "mu") -> float:
        """P(exp(param) < value) for ratio measures (value on the reported scale, :func:`scales.to_analysis`),
        else P(param < value); tau is compared as it is."""
        cut = to_analysis(value, "GEN" if param == "tau" else self.measure)
        return float(np.clip(self.marginal(param).cdf(cut), 0.0, 1.0))

    def prob_above(self, value: float, param: str = "mu") -> float:
        """P(exp(param) > value) for ratio measures, else P(param > value)."""
        return 1.0 - self.prob_below(value, param)

    def predictive_interval(self, level: float = 0.95, kind: str = "central") -> tuple[float, float]:
        """Interval for the effect in a new study (analysis scale)."""
        return self.marginal("predictive").interval(level, kind)

    # -- tables -------------------------------------------------------------------------------------------
    def summary(self, level: float = 0.95, scale: str = "analysis", kind: str = "central") -> pd.DataFrame:
        """One row per parameter: mean, sd, median, ci_lower, ci_upper on the 'analysis' scale (log ratio for
        HR/RR/OR), or median, ci_lower, ci_upper on the 'reported' scale (:func:`bayesmeta.scales.to_reported`:
        exponentiated for ratio measures, tau kept; quantiles transform exactly, moments do not, so the
        reported-scale table carries no mean or sd)."""
        return _float_frame(self._summary_rows(level, scale, kind), "parameter")

    def _summary_rows(self, level: float = 0.95, scale: str = "analysis", kind: str = "central") -> list[dict]:
        """The rows of :meth:`summary` as plain dicts."""
        if scale not in ("analysis", "reported"):
            raise ValueError(f"unknown scale {scale!r} (valid: 'analysis', 'reported')")
        rows = []
        for name, m in self.marginals.items():
            lo, hi = m.interval(level, kind)
            row = {
                "parameter": name,
                "mean": m.mean(),
                "sd": m.std(),
                "median": m.median(),
                "ci_lower": lo,
                "ci_upper": hi,
            }
            if scale == "reported":
                measure = "GEN" if name == "tau" else self.measure
                row = {
                    "parameter": name,
                    "median": reported_float(row["median"], measure),
                    "ci_lower": reported_float(lo, measure),
                    "ci_upper": reported_float(hi, measure),
                }
            rows.append(row)
        return rows

    def shrinkage(self, level: float = 0.95) -> pd.DataFrame:
        """Observed vs shrunken study effects: yi, sei, posterior mean/sd/interval of theta_i, and the shrinkage
        share 1 - |E(theta_i) - E(mu)| / |y_i - E(mu)| (0: none, 1: all the way to the mean)."""
        mu_mean = self.marginal("mu").mean()
        rows = []
        for i, sid in enumerate(self.study):
            m = self.marginal(f"theta[{sid}]")
            lo, hi = m.interval(level)
            dev = self.yi[i] - mu_mean
            share = np.nan if dev == 0 else 1.0 - abs(m.mean() - mu_mean) / abs(dev)
            rows.append(
                {
                    "study": sid,
                    "yi": float(self.yi[i]),
                    "sei": float(self.sei[i]),
                    "mean": m.mean(),
                    "sd": m.std(),
                    "ci_lower": lo,
                    "ci_upper": hi,
                    "shrinkage": share,
                }
            )
        return _float_frame(rows, "study")

    def covariate_effects(self, level: float = 0.95) -> pd.DataFrame:
        """Meta-regression coefficients as contrasts: one row per beta, with the posterior median and interval of
        exp(beta) — for a factor level, the ratio of HRs (RRs, ORs) between that level and the reference — and
        P(exp(beta) < 1); on the analysis scale (ratio columns hold beta itself) for non-ratio measures."""
        import pandas as pd

        rows = []
        for name in self.covariates:
            m = self.marginal(f"beta[{name}]")
            lo, hi = m.interval(level)
            rows.append(
                {
                    "covariate": name,
                    "median": reported_float(m.median(), self.measure),
                    "ci_lower": reported_float(lo, self.measure),
                    "ci_upper": reported_float(hi, self.measure),
                    "prob_below_1" if self.is_ratio else "prob_below_0": float(np.clip(m.cdf(0.0), 0.0, 1.0)),
                }
            )
        return pd.DataFrame(rows).set_index("covariate") if rows else pd.DataFrame()

    # -- draws and ArviZ ----------------------------------------------------------------------------------
    def get_draws(self, n_draws: int = 4000, seed: int | None = None) -> dict[str, np.ndarray]:
        """Joint posterior draws shaped (chain, draw, ...); stored draws if the engine kept them."""
        if self.draws is not None:
            return self.draws
        if self.sampler is None:
            raise ValueError("this posterior has neither draws nor a sampler")
        rng = np.random.default_rng(self.seed if seed is None else seed)
        return self.sampler(n_draws, rng)

    def to_inference_data(self, n_draws: int = 4000, seed: int | None = None):
        """ArviZ InferenceData with posterior, log_likelihood, posterior_predictive and observed_data groups
        (dims 'study' and 'covariate'); the prior group is added when the engine supplied prior draws. A binomial
        posterior returns its fit's InferenceData, whose log_likelihood is the binomial one of the arm counts
        (ModelError when the fit did not keep it)."""
        import arviz as az
        from scipy import stats

        if self.likelihood != "normal":
            idata = self.extras.get("idata")
            if idata is None:
                raise ModelError(f"this {self.likelihood} posterior has no InferenceData with its log-likelihood")
            return idata
        draws = self.get_draws(n_draws, seed)
        rng = np.random.default_rng((self.seed if seed is None else seed) or 0)
        theta = np.asarray(draws["theta"])
        y_rep = theta + rng.standard_normal(theta.shape) * self.sei
        loglik = stats.norm.logpdf(self.yi, loc=theta, scale=self.sei)
        coords: dict[str, list[str]] = {"study": list(self.study)}
        dims: dict[str, list[str]] = {"theta": ["study"], "yi": ["study"]}
        posterior = {k: np.asarray(v) for k, v in draws.items()}
        if self.covariates:
            coords["covariate"] = list(self.covariates)
            dims["beta"] = ["covariate"]
        prior = self.extras.get("prior_draws")
        return az.from_dict(
            posterior=posterior,
            log_likelihood={"yi": loglik},
            posterior_predictive={"yi": y_rep},
            observed_data={"yi": self.yi},
            prior=prior if isinstance(prior, dict) else None,
            coords=coords,
            dims=dims,
            attrs={
                "engine": self.engine,
                "likelihood": self.likelihood,
                "measure": self.measure,
                "seed": -1 if self.seed is None else int(self.seed),
                **{f"prior_{k}": v for k, v in self.priors.items()},
            },
        )

    def to_netcdf(self, path: str, n_draws: int = 4000, seed: int | None = None) -> str:
        """Write the InferenceData to NetCDF and return the path."""
        return self.to_inference_data(n_draws, seed).to_netcdf(path)

    # -- machine-readable ---------------------------------------------------------------------------------
    def to_dict(self, level: float = 0.95, thresholds: tuple[float, ...] = (), kind: str = "central",
                modes: bool = False) -> dict[str, object]:
        """Plain JSON-ready summary: each parameter (mu, tau, predictive, beta[<column>[<level>]], theta[<study>])
        {mean, sd, median, ci_lower, ci_upper} on the analysis scale (intervals of ``kind``, 'central' or
        'shortest'; with ``modes``, each parameter's posterior ``mode`` too, None where the engine has no
        density), ``prob_below`` P(param < t) of mu for each threshold t (reported scale), engine, likelihood, k,
        priors, diagnostics and warnings."""
        out: dict[str, object] = {"engine": self.engine, "likelihood": self.likelihood, "measure": self.measure,
                                  "k": self.k}
        for row in self._summary_rows(level, kind=kind):
            entry = {c: float(row[c]) for c in ("mean", "sd", "median", "ci_lower", "ci_upper")}
            if modes:
                m = self.marginals[str(row["parameter"])]
                entry["mode"] = float(m.mode()) if hasattr(m, "mode") else None
            out[str(row["parameter"])] = entry
        out["prob_below"] = {str(v): self.prob_below(v) for v in thresholds} if self.intercept else {}
        out["priors"] = dict(self.priors)
        out["diagnostics"] = {k: _jsonable(v) for k, v in self.diagnostics.items()}
        out["warnings"] = list(self.warnings)
        out["seed"] = self.seed
        return out


def _float_frame(rows: list[dict], index: str) -> pd.DataFrame:
    """A DataFrame of float columns from rows of one shape, indexed by their ``index`` entry (built from one array:
    much faster than from the list of dicts)."""
    import pandas as pd

    columns = [c for c in rows[0] if c != index]
    return pd.DataFrame(
        np.array([[row[c] for c in columns] for row in rows], dtype=float),
        index=pd.Index([row[index] for row in rows], name=index),
        columns=columns,
    )


def _jsonable(value: object) -> object:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
