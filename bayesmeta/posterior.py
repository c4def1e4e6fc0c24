"""The common posterior result type returned by every engine.

Both engines (exact integration over tau, and PyMC/NUTS) return a :class:`Posterior`. It holds one marginal
distribution object per parameter (``mu``, ``tau``, ``theta_new``, ``beta[<name>]``, ``theta[<study>]``), each
with the scipy-like interface of :class:`Marginal`, and a way to obtain joint draws for ArviZ. Every summary
below is computed from those marginals, so the two engines are interchangeable downstream.

Parameter names:
- ``mu``: the overall mean (the intercept in a meta-regression) on the analysis (log) scale;
- ``tau``: the between-study standard deviation;
- ``theta_new``: the effect in a new study (the predictive distribution; at the reference covariate level);
- ``beta[<name>]``: meta-regression coefficients;
- ``theta[<study>]``: the study-specific (shrunken) effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

import numpy as np

from bayesmeta.scales import RATIO_MEASURES

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
    """Posterior of a normal-normal hierarchical model (or meta-regression), from either engine.

    ``draws`` maps parameter names to arrays shaped (chain, draw) — ``theta`` to (chain, draw, study) and
    ``beta`` to (chain, draw, covariate) — or it is None and ``sampler(n_draws, rng)`` produces them on request
    (the exact engine samples the joint posterior directly, with no Markov chain).
    """

    engine: str
    measure: str
    study_ids: tuple[str, ...]
    y: np.ndarray
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
        return len(self.study_ids)

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    def marginal(self, param: str) -> Marginal:
        """The marginal of ``param`` ('mu', 'tau', 'theta_new', 'beta[x]', 'theta[study]')."""
        try:
            return self.marginals[param]
        except KeyError:
            raise KeyError(f"no parameter {param!r}; available: {', '.join(self.marginals)}") from None

    # -- probability statements ---------------------------------------------------------------------------
    def prob_below(self, value: float, param: str = "mu") -> float:
        """P(exp(param) < value) for ratio measures (value on the ratio scale), else P(param < value)."""
        if self.is_ratio and param != "tau":
            if value <= 0:
                raise ValueError(f"a ratio threshold must be positive, got {value}")
            cut = float(np.log(value))
        else:
            cut = float(value)
        return float(np.clip(self.marginal(param).cdf(cut), 0.0, 1.0))

    def prob_above(self, value: float, param: str = "mu") -> float:
        """P(exp(param) > value) for ratio measures, else P(param > value)."""
        return 1.0 - self.prob_below(value, param)

    def predictive_interval(self, level: float = 0.95, kind: str = "central") -> tuple[float, float]:
        """Interval for the effect in a new study (analysis scale)."""
        return self.marginal("theta_new").interval(level, kind)

    # -- tables -------------------------------------------------------------------------------------------
    def summary(self, level: float = 0.95, scale: str = "log", kind: str = "central") -> pd.DataFrame:
        """One row per parameter: mean, sd, median and interval on the analysis ('log') scale, or median and
        interval on the 'natural' scale (exponentiated for ratio measures; quantiles transform exactly, moments
        do not, so the natural-scale table carries no mean or sd)."""
        return _float_frame(self._summary_rows(level, scale, kind), "parameter")

    def _summary_rows(self, level: float = 0.95, scale: str = "log", kind: str = "central") -> list[dict]:
        """The rows of :meth:`summary` as plain dicts."""
        if scale not in ("log", "natural"):
            raise ValueError(f"unknown scale {scale!r} (valid: 'log', 'natural')")
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
            if scale == "natural":
                transform = np.exp if self.is_ratio and name != "tau" else float
                row = {
                    "parameter": name,
                    "median": float(transform(row["median"])),
                    "ci_lower": float(transform(lo)),
                    "ci_upper": float(transform(hi)),
                }
            rows.append(row)
        return rows

    def shrinkage(self, level: float = 0.95) -> pd.DataFrame:
        """Observed vs shrunken study effects: y, sei, posterior mean/sd/interval of theta_i, and the shrinkage
        share 1 - |E(theta_i) - E(mu)| / |y_i - E(mu)| (0: none, 1: all the way to the mean)."""
        mu_mean = self.marginal("mu").mean()
        rows = []
        for i, sid in enumerate(self.study_ids):
            m = self.marginal(f"theta[{sid}]")
            lo, hi = m.interval(level)
            dev = self.y[i] - mu_mean
            share = np.nan if dev == 0 else 1.0 - abs(m.mean() - mu_mean) / abs(dev)
            rows.append(
                {
                    "study": sid,
                    "y": float(self.y[i]),
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

        transform = np.exp if self.is_ratio else (lambda v: v)
        rows = []
        for name in self.covariates:
            m = self.marginal(f"beta[{name}]")
            lo, hi = m.interval(level)
            rows.append(
                {
                    "covariate": name,
                    "median": float(transform(m.median())),
                    "ci_lower": float(transform(lo)),
                    "ci_upper": float(transform(hi)),
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
        (dims 'study' and 'covariate'); the prior group is added when the engine supplied prior draws."""
        import arviz as az
        from scipy import stats

        draws = self.get_draws(n_draws, seed)
        rng = np.random.default_rng((self.seed if seed is None else seed) or 0)
        theta = np.asarray(draws["theta"])
        y_rep = theta + rng.standard_normal(theta.shape) * self.sei
        loglik = stats.norm.logpdf(self.y, loc=theta, scale=self.sei)
        coords: dict[str, list[str]] = {"study": list(self.study_ids)}
        dims: dict[str, list[str]] = {"theta": ["study"], "y": ["study"]}
        posterior = {k: np.asarray(v) for k, v in draws.items()}
        if self.covariates:
            coords["covariate"] = list(self.covariates)
            dims["beta"] = ["covariate"]
        prior = self.extras.get("prior_draws")
        return az.from_dict(
            posterior=posterior,
            log_likelihood={"y": loglik},
            posterior_predictive={"y": y_rep},
            observed_data={"y": self.y},
            prior=prior if isinstance(prior, dict) else None,
            coords=coords,
            dims=dims,
            attrs={
                "engine": self.engine,
                "measure": self.measure,
                "seed": -1 if self.seed is None else int(self.seed),
                **{f"prior_{k}": v for k, v in self.priors.items()},
            },
        )

    def to_netcdf(self, path: str, n_draws: int = 4000, seed: int | None = None) -> str:
        """Write the InferenceData to NetCDF and return the path."""
        return self.to_inference_data(n_draws, seed).to_netcdf(path)

    # -- machine-readable ---------------------------------------------------------------------------------
    def to_dict(self, level: float = 0.95, below: tuple[float, ...] = ()) -> dict[str, object]:
        """Plain JSON-ready summary: each parameter {mean, sd, median, ci_lower, ci_upper} (analysis scale),
        ``prob_below`` for each threshold, engine, k, priors, diagnostics and warnings."""
        out: dict[str, object] = {"engine": self.engine, "measure": self.measure, "k": self.k}
        for row in self._summary_rows(level):
            name = row["parameter"]
            key = "predictive" if name == "theta_new" else str(name)
            if key.startswith("beta["):
                key = "beta." + key[5:-1]
            out[key] = {c: float(row[c]) for c in ("mean", "sd", "median", "ci_lower", "ci_upper")}
        out["prob_below"] = {str(v): self.prob_below(v) for v in below}
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
