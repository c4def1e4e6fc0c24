"""Sequential posterior monitoring of a cumulating meta-analysis, and its operating characteristics.

After each study (in order of publication) the exact posterior of the pooled effect of the normal-normal
hierarchical model (Roever 2020, J Stat Softw 93(6)) is recomputed from the studies available so far, and a
decision rule is applied to it (posterior-probability monitoring in the sense of Spiegelhalter, Abrams & Myles
2004, *Bayesian Approaches to Clinical Trials and Health-Care Evaluation*, ch. 6; for cumulative meta-analysis,
Higgins, Whitehead & Simmonds 2011, Stat Med 30:903):

- stop for benefit at the first look where P(ratio < 1 | data) > ``benefit_prob``;
- stop for futility at the first look where P(ratio < MCID | data) < ``futility_prob`` (a clinically important
  benefit has become improbable).

When both hold at the same look (a precise effect between the MCID and 1), the decision is 'benefit'.

Direction: with ``benefit="below"`` (HR of death, RR of an adverse event) benefit is a ratio below 1. For
outcomes where benefit is a ratio above 1 (RR of response, DCR), pass ``benefit="above"``: every probability
is then P(ratio > threshold), the rule stops for benefit when P(ratio > 1) > ``benefit_prob`` and for futility
when P(ratio > MCID) < ``futility_prob``, and the MCID is a ratio above 1 (e.g. 1.25). For non-ratio measures the
thresholds are on the analysis scale and the null value is 0 instead of 1.

All looks are computed by one vectorised call of the exact engine (:func:`bayesmeta.exact.fit_exact_batch`),
each look being the full data set masked to its first j studies. The frequentist operating characteristics of the
rule (probability of stopping for benefit or futility, mean look at stopping) are estimated by simulation: at
look j, one batched call fits the first j studies of every simulated sequence that has not yet stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from bayesmeta.benefit import Benefit
from bayesmeta.effect_data import EffectData, effect_args
from bayesmeta.errors import InputError
from bayesmeta.exact import fit_exact_batch
from bayesmeta.scales import is_ratio, null_value, prob_column, to_analysis, to_reported

# Datasets per batched call in the simulation: bounds memory (datasets x studies x quadrature nodes).
_MAX_BATCH = 8192


@dataclass(frozen=True)
class MonitoringRule:
    """The stopping rule: benefit when P(benefit side of the null) > ``benefit_prob``; futility when
    P(benefit side of ``futility_mcid``) < ``futility_prob`` (no futility rule when ``futility_mcid`` is None).
    Thresholds are on the reported scale (ratios for HR/RR/OR)."""

    benefit_prob: float = 0.975
    futility_mcid: float | None = 0.8
    futility_prob: float = 0.1
    benefit: Benefit = Benefit.BELOW

    def __post_init__(self) -> None:
        object.__setattr__(self, "benefit", Benefit.parse(self.benefit))
        for name in ("benefit_prob", "futility_prob"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise InputError(f"{name} must lie strictly between 0 and 1, got {value}", valid="(0, 1)")

    def check_measure(self, measure: str) -> None:
        """Refuse an MCID on the wrong side of the null (e.g. 1.25 for an HR where benefit is below 1)."""
        if self.futility_mcid is None:
            return
        null = null_value(measure)
        if is_ratio(measure) and self.futility_mcid <= 0:
            raise InputError(f"the MCID must be a positive ratio, got {self.futility_mcid}", valid="a ratio > 0")
        if not self.benefit.favours(self.futility_mcid, null):
            raise InputError(
                f"the MCID {self.futility_mcid} must lie on the benefit side of {null:g}",
                valid=f"a value {self.benefit.value} {null:g} (benefit {self.benefit.value})",
            )


class StopEvent(NamedTuple):
    """The first look at which the rule stops: 1-based look number, the study just added, and the reason."""

    look: int
    study: str
    reason: str


@dataclass
class MonitoringResult:
    """Per-look posterior summaries and decisions of :func:`monitor`.

    ``table`` has one row per look: look, study (the study added), order (its sort key), k, n_cum (cumulative
    participants when sample sizes were given), median / ci_lower / ci_upper of the pooled effect (ratio scale for
    ratio measures), pred_lower / pred_upper (predictive interval for a new study's effect), tau_median, one
    ``prob_below_<t>`` (or ``prob_above_<t>``) column per threshold, the flags ``benefit`` and ``futility`` and
    the ``decision`` ('benefit', 'futility' or 'continue').
    """

    table: pd.DataFrame
    first_stop: StopEvent | None
    measure: str
    rule: MonitoringRule
    thresholds: tuple[float, ...]
    priors: dict[str, str]
    level: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form: measure, priors, rule, thresholds, the looks as records, and the first stop."""
        looks = []
        for record in self.table.to_dict(orient="records"):
            looks.append({str(k): _plain(v) for k, v in record.items()})
        return {
            "measure": self.measure,
            "priors": dict(self.priors),
            "rule": {**asdict(self.rule), "benefit": self.rule.benefit.value},
            "thresholds": list(self.thresholds),
            "level": self.level,
            "looks": looks,
            "first_stop": None if self.first_stop is None else self.first_stop._asdict(),
        }


def _plain(value: object) -> object:
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    return value


def _benefit_probabilities(batch, cuts: Sequence[float], benefit: Benefit) -> np.ndarray:
    """P(mu < cut) (or P(mu > cut), benefit above) for each cut on the analysis scale: shape (len(cuts), n)."""
    out = np.empty((len(cuts), batch.n))
    for i, cut in enumerate(cuts):
        p = batch.cdf(cut, "mu") if benefit.below else batch.sf(cut, "mu")
        out[i] = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    return out


def _decisions(p_null: np.ndarray, p_mcid: np.ndarray | None, rule: MonitoringRule) -> tuple[np.ndarray, ...]:
    benefit = p_null > rule.benefit_prob
    if p_mcid is None:
        futility = np.zeros_like(benefit)
    else:
        futility = p_mcid < rule.futility_prob
    return benefit, futility


def _check_inputs(yi: np.ndarray, sei: np.ndarray) -> None:
    if yi.ndim != 1 or sei.shape != yi.shape:
        raise InputError(f"yi and sei must be 1-d arrays of equal length, got shapes {yi.shape} and {sei.shape}")
    if yi.size == 0:
        raise InputError("no studies to monitor", valid="at least one study")
    for name, values in (("yi", yi), ("sei", sei)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InputError(f"non-finite {name} at position {int(bad[0]) + 1}", column=name, valid="finite numbers")
    bad = np.flatnonzero(sei <= 0)
    if bad.size:
        raise InputError(
            f"standard error {sei[bad[0]]} at position {int(bad[0]) + 1} is not positive", column="sei", valid="> 0"
        )


def publication_order(order: Sequence | np.ndarray | None, study: Sequence[str]) -> np.ndarray:
    """Indices sorting studies by ``order`` (e.g. publication year), ties broken by study label; the given order
    when ``order`` is None."""
    ids = np.asarray([str(s) for s in study])
    if order is None:
        return np.arange(ids.size)
    keys = np.asarray(order)
    if keys.dtype == object:
        try:
            keys = keys.astype(float)
        except (TypeError, ValueError):
            keys = keys.astype(str)
    if keys.shape != ids.shape:
        raise InputError(f"order has {keys.size} entries for {ids.size} studies", column="order")
    if keys.dtype.kind in "fc" and np.any(np.isnan(keys)):
        bad = int(np.flatnonzero(np.isnan(keys))[0])
        raise InputError(f"missing order key (year) for study {ids[bad]}", column="order", valid="a number")
    return np.lexsort((ids, keys))


def monitor(
    data: EffectData | Sequence[float] | np.ndarray,
    sei: Sequence[float] | np.ndarray | None = None,
    order: Sequence | np.ndarray | None = None,
    *,
    mu_prior: object,
    tau_prior: object,
    vi: Sequence[float] | np.ndarray | None = None,
    study: Sequence[str] | None = None,
    sample_sizes: Sequence[float] | np.ndarray | None = None,
    thresholds: Sequence[float] = (1.0, 0.7),
    benefit_prob: float = 0.975,
    futility_mcid: float | None = 0.8,
    futility_prob: float = 0.1,
    measure: str | None = None,
    benefit: Benefit | str | None = None,
    level: float = 0.95,
) -> MonitoringResult:
    """Sequential posterior monitoring: the exact posterior after each study in publication order.

    ``data``: an EffectData, or the effects yi on the analysis scale (log ratio for HR/RR/OR) with ``sei`` (or
    ``vi``), ``study`` labels, ``measure`` (default GEN) and ``benefit`` (default below). ``sample_sizes``:
    participants per study (default: the arm totals of an EffectData with counts). ``order``: sort
    keys (publication years; ties broken by study label), or None for the given order. ``mu_prior``,
    ``tau_prior``: as accepted by :func:`bayesmeta.exact.fit_exact` (e.g. "normal(0, 4)", "halfnormal(0.5)").
    Look j is the posterior given the first j studies; see the module docstring for the rule and the direction.
    """
    args = effect_args(data, sei, vi=vi, study=study, measure=measure, benefit=benefit)
    measure, benefit = args.measure, args.benefit
    y = np.asarray(args.yi, dtype=float)
    s = np.asarray(args.errors(), dtype=float)
    _check_inputs(y, s)
    k = y.size
    ids = list(args.study) if args.study is not None else [str(i + 1) for i in range(k)]
    if len(ids) != k:
        raise InputError(f"{len(ids)} study labels for {k} studies", column="study")
    if sample_sizes is None and args.data is not None and args.data.counts is not None:
        counts = args.data.counts.loc[list(ids)]
        sample_sizes = (counts["total_treatment"] + counts["total_control"]).to_numpy(dtype=float)
    rule = MonitoringRule(benefit_prob, futility_mcid, futility_prob, benefit)
    rule.check_measure(measure)
    idx = publication_order(order, ids)
    y, s = y[idx], s[idx]
    ids = [ids[i] for i in idx]
    keys = np.asarray(order)[idx] if order is not None else np.arange(1, k + 1)

    # Look j (row j) sees studies 0..j: a lower-triangular mask over the ordered studies.
    mask = np.tril(np.ones((k, k), dtype=bool))
    batch = fit_exact_batch(
        y,
        s,
        mu_prior=mu_prior,
        tau_prior=tau_prior,
        mask=mask,
        study=ids,
        measure=measure,
    )

    thresholds = tuple(float(t) for t in thresholds)
    null = null_value(measure)
    cuts_reported = list(dict.fromkeys([null, *thresholds] + ([futility_mcid] if futility_mcid is not None else [])))
    probs = _benefit_probabilities(batch, [to_analysis(t, measure) for t in cuts_reported], benefit)
    prob_of = dict(zip(cuts_reported, probs))

    ci = to_reported(np.asarray(batch.interval(level, "mu"), dtype=float), measure)
    pred = to_reported(np.asarray(batch.interval(level, "predictive"), dtype=float), measure)
    table = pd.DataFrame(
        {
            "look": np.arange(1, k + 1),
            "study": ids,
            "order": keys,
            "k": np.arange(1, k + 1),
        }
    )
    if sample_sizes is not None:
        n = np.asarray(sample_sizes, dtype=float)
        if n.shape != (k,):
            raise InputError(f"{n.size} sample sizes for {k} studies", column="n_total")
        table["n_cum"] = np.cumsum(n[idx])
    table["median"] = to_reported(np.asarray(batch.ppf(0.5, "mu"), dtype=float), measure)
    table["ci_lower"] = ci[:, 0]
    table["ci_upper"] = ci[:, 1]
    table["pred_lower"] = pred[:, 0]
    table["pred_upper"] = pred[:, 1]
    table["tau_median"] = np.asarray(batch.ppf(0.5, "tau"), dtype=float)
    for t in cuts_reported:
        table[prob_column(t, benefit)] = prob_of[t]
    benefit, futility = _decisions(
        prob_of[null], prob_of.get(futility_mcid) if futility_mcid is not None else None, rule
    )
    table["benefit"] = benefit
    table["futility"] = futility
    table["decision"] = np.where(benefit, "benefit", np.where(futility, "futility", "continue"))

    stops = np.flatnonzero(benefit | futility)
    first = None
    if stops.size:
        j = int(stops[0])
        first = StopEvent(look=j + 1, study=ids[j], reason=str(table["decision"].iloc[j]))
    return MonitoringResult(
        table=table,
        first_stop=first,
        measure=measure,
        rule=rule,
        thresholds=thresholds,
        priors={"mu": str(mu_prior), "tau": str(tau_prior)},
        level=level,
    )


# -- operating characteristics ------------------------------------------------------------------------------

SESource = np.ndarray | Sequence[float] | Callable[[np.random.Generator, tuple[int, int]], np.ndarray]


def simulate_sequences(
    k: int,
    sei: SESource,
    n_sim: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard draws for ``n_sim`` sequences of ``k`` studies, shared by every (truth, tau) scenario.

    Returns (se, z_theta, z_y), each (n_sim, k), drawn in this order from ``rng``: the standard errors (resampled
    with replacement from ``sei``, or ``sei(rng, (n_sim, k))`` when it is callable), then two standard-normal
    arrays. A scenario (true ratio R, heterogeneity tau) uses theta = ln R + tau z_theta and
    y = theta + se z_y, i.e. theta_i ~ N(ln R, tau^2), y_i ~ N(theta_i, s_i^2) — common random numbers across
    scenarios, so differences between scenarios carry no extra simulation noise.
    """
    if callable(sei):
        se = np.asarray(sei(rng, (n_sim, k)), dtype=float)
        if se.shape != (n_sim, k):
            raise InputError(f"the SE generator returned shape {se.shape}, expected {(n_sim, k)}")
    else:
        pool = np.asarray(sei, dtype=float).ravel()
        if pool.size == 0:
            raise InputError("no standard errors to resample", column="sei")
        se = pool[rng.integers(0, pool.size, size=(n_sim, k))]
    if not np.all(np.isfinite(se)) or np.any(se <= 0):
        raise InputError("standard errors must be finite and positive", column="sei", valid="> 0")
    z_theta = rng.standard_normal((n_sim, k))
    z_y = rng.standard_normal((n_sim, k))
    return se, z_theta, z_y


def sequence_stops(
    yi: np.ndarray,
    sei: np.ndarray,
    *,
    mu_prior: object,
    tau_prior: object,
    rule: MonitoringRule,
    measure: str = "HR",
    max_batch: int = _MAX_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """Monitor every sequence (row of ``yi``, ``sei``; shape (n_seq, k)) look by look until the rule stops it.

    Returns the 1-based look of the first stop (0 when it never stops) and its reason ('benefit', 'futility' or
    ''; 'benefit' when both hold). Look j is one batched exact fit of the first j studies of every sequence still
    running (in chunks of at most ``max_batch`` data sets), so sequences that have stopped cost nothing more.
    """
    n_seq, k = yi.shape
    null = to_analysis(null_value(measure), measure)
    cuts = [null] + ([to_analysis(rule.futility_mcid, measure)] if rule.futility_mcid is not None else [])
    look = np.zeros(n_seq, dtype=int)
    reason = np.full(n_seq, "", dtype=object)
    for j in range(1, k + 1):
        active = np.flatnonzero(look == 0)
        if active.size == 0:
            break
        probs = np.empty((len(cuts), active.size))
        for start in range(0, active.size, max_batch):
            rows = active[start : start + max_batch]
            batch = fit_exact_batch(yi[rows, :j], sei[rows, :j], mu_prior=mu_prior, tau_prior=tau_prior,
                                    measure=measure)
            probs[:, start : start + rows.size] = _benefit_probabilities(batch, cuts, rule.benefit)
        benefit, futility = _decisions(probs[0], probs[1] if len(cuts) > 1 else None, rule)
        stop = benefit | futility
        look[active[stop]] = j
        reason[active[stop]] = np.where(benefit[stop], "benefit", "futility")
    return look, reason.astype(str)


def clopper_pearson_95(x: int, n: int) -> tuple[float, float]:
    """One-sided 95% Clopper-Pearson limits (Clopper & Pearson 1934) of a binomial probability from x of n:
    lower Beta^-1(0.05; x, n - x + 1) (0 for x = 0), upper Beta^-1(0.95; x + 1, n - x) (1 for x = n). For x = 0
    the upper limit is 1 - 0.05^(1/n), which the rule of three, 3/n (Hanley & Lippman-Hand 1983), approximates."""
    lower = 0.0 if x == 0 else float(stats.beta.ppf(0.05, x, n - x + 1))
    upper = 1.0 if x == n else float(stats.beta.ppf(0.95, x + 1, n - x))
    return lower, upper


def operating_characteristics(
    k: int,
    sei: SESource | EffectData,
    true_ratio: float | Sequence[float] = (1.0, 0.7),
    tau_values: Sequence[float] = (0.0, 0.1, 0.2, 0.4),
    n_sim: int = 200,
    seed: int = 0,
    *,
    mu_prior: object,
    tau_prior: object,
    benefit_prob: float = 0.975,
    futility_mcid: float | None = 0.8,
    futility_prob: float = 0.1,
    measure: str | None = None,
    benefit: Benefit | str | None = None,
    max_batch: int = _MAX_BATCH,
) -> pd.DataFrame:
    """Frequentist operating characteristics of the monitoring rule by simulation.

    For each true ratio R and heterogeneity tau: ``n_sim`` sequences of ``k`` studies with
    theta_i ~ N(ln R, tau^2), y_i ~ N(theta_i, s_i^2) (draws from :func:`simulate_sequences` with
    ``np.random.default_rng(seed)``), monitored look by look with the exact posterior. Columns: true_ratio, tau,
    n_sim, p_benefit (probability of stopping for benefit at any look; with R = 1 the type-I error analogue),
    p_futility, p_no_stop, mean_look (mean look at stopping among sequences that stop; NaN if none),
    mcse_benefit and mcse_futility (Monte Carlo standard errors sqrt(p (1 - p) / n_sim), 0 when no simulation
    or every simulation stopped that way), the exact one-sided 95% Clopper-Pearson limits of each probability
    (:func:`clopper_pearson_95`: benefit_upper95, benefit_lower95, futility_upper95, futility_lower95; with no stop
    of that kind the upper limit is 1 - 0.05^(1/n_sim), about 3/n_sim, the rule of three), and seed. ``sei`` is the pool of standard errors
    to resample (or a generator), or an EffectData, whose standard errors, measure and direction of benefit are
    then used; ``measure`` defaults to HR and ``benefit`` to below otherwise.
    """
    if k < 1 or n_sim < 1:
        raise InputError(f"k and n_sim must be positive, got k={k}, n_sim={n_sim}")
    if isinstance(sei, EffectData):
        measure, benefit, sei = measure or sei.measure, benefit or sei.benefit, sei.sei
    measure = measure or "HR"
    rule = MonitoringRule(benefit_prob, futility_mcid, futility_prob, Benefit.parse(benefit or Benefit.BELOW))
    rule.check_measure(measure)
    truths = [float(true_ratio)] if np.isscalar(true_ratio) else [float(r) for r in true_ratio]
    taus = [float(t) for t in tau_values]
    if any(t < 0 for t in taus):
        raise InputError(f"tau values must be >= 0, got {taus}", valid=">= 0")
    rng = np.random.default_rng(seed)
    se, z_theta, z_y = simulate_sequences(k, sei, n_sim, rng)

    scenarios = [(r, t) for r in truths for t in taus]
    y = np.concatenate([to_analysis(r, measure) + t * z_theta + se * z_y for r, t in scenarios])
    first, reason = sequence_stops(
        y,
        np.tile(se, (len(scenarios), 1)),
        mu_prior=mu_prior,
        tau_prior=tau_prior,
        rule=rule,
        measure=measure,
        max_batch=max_batch,
    )
    rows = []
    for i, (r, t) in enumerate(scenarios):
        part = slice(i * n_sim, (i + 1) * n_sim)
        f, why = first[part], reason[part]
        n_benefit, n_futility = int(np.sum(why == "benefit")), int(np.sum(why == "futility"))
        p_benefit, p_futility = n_benefit / n_sim, n_futility / n_sim
        (b_low, b_up), (f_low, f_up) = clopper_pearson_95(n_benefit, n_sim), clopper_pearson_95(n_futility, n_sim)
        rows.append(
            {
                "true_ratio": r,
                "tau": t,
                "n_sim": n_sim,
                "p_benefit": p_benefit,
                "p_futility": p_futility,
                "p_no_stop": float(np.mean(f == 0)),
                "mean_look": float(f[f > 0].mean()) if np.any(f > 0) else float("nan"),
                "mcse_benefit": float(np.sqrt(p_benefit * (1 - p_benefit) / n_sim)),
                "mcse_futility": float(np.sqrt(p_futility * (1 - p_futility) / n_sim)),
                "benefit_lower95": b_low,
                "benefit_upper95": b_up,
                "futility_lower95": f_low,
                "futility_upper95": f_up,
                "seed": seed,
            }
        )
    return pd.DataFrame(rows)


# -- side by side with trial sequential analysis ---------------------------------------------------------------


def side_by_side(result: MonitoringResult, tsa_curve: pd.DataFrame | object) -> pd.DataFrame:
    """Per look, the Bayesian monitoring quantities next to the TSA Z-curve of the same studies in the same order.

    ``tsa_curve``: a :class:`bayesmeta.tsa.TSAResult` or its ``curve`` (columns look, study, fraction, z,
    efficacy, futility). Columns: look, study, median, ci_lower, ci_upper, the probability of benefit at the null
    (``prob_below_1`` or ``prob_above_1``; ``_0`` for non-ratio measures), decision, then the TSA's fraction, z,
    efficacy and futility with its own reading: ``tsa_efficacy`` (|Z| >= boundary) and ``tsa_futility`` (inside
    the futility wedge).
    """
    curve = getattr(tsa_curve, "curve", tsa_curve)
    if not isinstance(curve, pd.DataFrame):
        raise TypeError("tsa_curve must be a TSAResult or its curve DataFrame")
    ours = result.table
    if len(curve) != len(ours):
        raise InputError(f"the TSA has {len(curve)} looks, the monitoring {len(ours)}", column="look")
    if "study" in curve.columns and list(map(str, curve["study"])) != list(ours["study"]):
        raise InputError(
            "the TSA and the monitoring add the studies in different orders "
            f"(TSA: {', '.join(map(str, curve['study']))}; monitoring: {', '.join(ours['study'])})",
            column="study",
            valid="the same studies ordered the same way (by year, ties by study id)",
        )
    null_col = prob_column(null_value(result.measure), result.rule.benefit)
    keep = [
        "look",
        "study",
        *(["n_cum"] if "n_cum" in ours.columns else []),
        "median",
        "ci_lower",
        "ci_upper",
        null_col,
        "decision",
    ]
    out = ours[keep].copy()
    z = curve["z"].to_numpy(dtype=float)
    efficacy = curve["efficacy"].to_numpy(dtype=float) if "efficacy" in curve.columns else np.full(z.size, np.nan)
    futility = curve["futility"].to_numpy(dtype=float) if "futility" in curve.columns else np.full(z.size, np.nan)
    out["fraction"] = curve["fraction"].to_numpy(dtype=float) if "fraction" in curve.columns else np.nan
    out["z"] = z
    out["efficacy"] = efficacy
    out["futility"] = futility
    out["tsa_efficacy"] = np.abs(z) >= efficacy
    out["tsa_futility"] = np.isfinite(futility) & (np.abs(z) < np.nan_to_num(futility, nan=-1.0))
    return out
