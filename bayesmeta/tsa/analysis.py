"""Trial sequential analysis of a cumulative meta-analysis: the Z-curve, its boundaries and what it crossed.

Wetterslev J, Thorlund K, Brok J, Gluud C (2008) J Clin Epidemiol 61:64-75 (TSA);
Wetterslev J, Jakobsen JC, Gluud C (2017) BMC Med Res Methodol 17:39 (TSA in practice);
Thorlund K et al. (2017) User manual for Trial Sequential Analysis, Copenhagen Trial Unit (TSA-adjusted CI).

Information beyond the RIS: boundaries are planned up to information fraction 1 (the RIS); a look with more
information than the RIS is compared with the final boundary, at fraction 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bayesmeta.effect_data import EffectArgs, EffectData, effect_args
from bayesmeta.errors import InputError, ModelError
from bayesmeta.tsa.groupseq import Boundaries, Convention, boundaries
from bayesmeta.tsa.size import (MAX_INFORMATION_SIZE, _check_diversity, _check_variances, _diversity,
                                _fixed_information_size)


# -- cumulative meta-analysis ---------------------------------------------------------------------------------
def _pool(y: np.ndarray, v: np.ndarray, method: str) -> tuple[float, float, float]:
    """Inverse-variance pooling: common effect (FE) or DerSimonian & Laird (1986) random effects.

    DL: tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w)), w = 1/v; weights 1/(v + tau^2).
    Returns (estimate, standard error, tau^2).
    """
    w = 1.0 / v
    tau2 = 0.0
    if method == "DL" and y.size > 1:
        mu_fixed = np.sum(w * y) / np.sum(w)
        q = np.sum(w * (y - mu_fixed) ** 2)
        tau2 = max(0.0, (q - (y.size - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    w_star = 1.0 / (v + tau2)
    return float(np.sum(w_star * y) / np.sum(w_star)), float(math.sqrt(1.0 / np.sum(w_star))), float(tau2)


def _sample_sizes(args: EffectArgs, sample_sizes: ArrayLike | None) -> ArrayLike | None:
    """``sample_sizes`` as given, else the arm totals of an EffectData with counts (in its study order)."""
    if sample_sizes is not None or args.data is None or args.data.counts is None:
        return sample_sizes
    counts = args.data.counts.loc[list(args.data.study)]
    return (counts["total_treatment"] + counts["total_control"]).to_numpy(dtype=float)


def _check_method(method: str) -> str:
    if method not in ("DL", "FE"):
        raise InputError(f"unknown pooling method {method!r}", column="method", valid="'DL' or 'FE'")
    return method


def cumulative_z(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    order: ArrayLike | None = None,
    sample_sizes: ArrayLike | None = None,
    method: str = "DL",
    ris: float | None = None,
    study: Sequence[str] | None = None,
    *,
    sei: ArrayLike | None = None,
) -> pd.DataFrame:
    """The cumulative Z-curve: after each study in chronological order, the pooled log effect, its SE and
    Z = estimate / SE, with the accrued participants and their fraction of the RIS (Wetterslev et al. 2008).

    order: sort key (e.g. publication year; ties keep the input order); None keeps the input order.
    sample_sizes: participants per study (both arms; default: the arm totals of an EffectData with counts).
    method: 'DL' (DerSimonian-Laird) or 'FE' (inverse variance). ``data``: an EffectData, or the effects yi with
    ``vi`` (or ``sei``) and ``study`` labels.
    Columns: look, study, n, n_cumulative, fraction (n_cumulative / ris, NaN without ris), estimate, se, z, tau2.
    """
    args = effect_args(data, sei, vi=vi, study=study)
    study, sample_sizes = args.study, _sample_sizes(args, sample_sizes)
    y = np.atleast_1d(np.asarray(args.yi, dtype=float))
    v = _check_variances(args.variances())
    if y.shape != v.shape or not np.all(np.isfinite(y)):
        raise InputError("effects yi must be finite and as many as the variances vi", column="yi")
    method = _check_method(method)
    k = y.size
    labels = [f"study {i + 1}" for i in range(k)] if study is None else [str(s) for s in study]
    if len(labels) != k:
        raise InputError(f"{len(labels)} study labels for {k} effects", column="study")
    if sample_sizes is None:
        n = np.full(k, np.nan)
    else:
        n = np.atleast_1d(np.asarray(sample_sizes, dtype=float))
        if n.shape != y.shape or not np.all(np.isfinite(n)) or np.any(n <= 0):
            raise InputError("sample sizes must be positive numbers, one per study", column="sample_sizes",
                             valid="participants per study (both arms), > 0")
    if order is None:
        index = np.arange(k)
    else:
        keys = np.atleast_1d(np.asarray(order))
        if keys.shape != y.shape:
            raise InputError(f"{keys.size} order keys for {k} studies", column="order")
        index = np.argsort(keys, kind="stable")
    rows = []
    for j in range(1, k + 1):
        chosen = index[:j]
        estimate, se, tau2 = _pool(y[chosen], v[chosen], method)
        rows.append((estimate, se, tau2))
    pooled = np.array(rows)
    n_sorted = n[index]
    n_cumulative = np.cumsum(n_sorted)
    fraction = n_cumulative / float(ris) if ris is not None else np.full(k, np.nan)
    return pd.DataFrame({
        "look": np.arange(1, k + 1),
        "study": [labels[i] for i in index],
        "n": n_sorted,
        "n_cumulative": n_cumulative,
        "fraction": fraction,
        "estimate": pooled[:, 0],
        "se": pooled[:, 1],
        "z": pooled[:, 0] / pooled[:, 1],
        "tau2": pooled[:, 2],
    })


# -- the whole analysis -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TSAResult:
    """A trial sequential analysis: information size, Z-curve with its boundaries, and what the curve crossed.

    ``curve`` has one row per look (study added) with the columns of :func:`cumulative_z` and ``efficacy``
    (|Z| boundary at that look; for looks beyond the RIS, the final boundary) and ``futility`` (inner wedge,
    NaN where there is none). ``crossed_efficacy_at`` / ``crossed_futility_at`` are the first look (1-based)
    where |Z| >= efficacy, resp. 0 < |Z| < futility before the RIS; ``reached_ris_at`` the first look whose
    accrued participants reach the RIS.
    """

    ris_fixed: float
    diversity: float
    diversity_source: str
    ris: float
    ris_rounded: int
    p_control: float
    relative_risk_reduction: float
    alpha: float
    power: float
    method: str
    convention: str
    curve: pd.DataFrame
    boundaries: Boundaries
    crossed_efficacy_at: int | None
    crossed_efficacy_side: str | None
    crossed_futility_at: int | None
    reached_ris_at: int | None
    final_z: float = field(default=math.nan)

    @property
    def crossed_efficacy(self) -> bool:
        return self.crossed_efficacy_at is not None

    @property
    def reached_ris(self) -> bool:
        return self.reached_ris_at is not None

    def as_dict(self) -> dict[str, Any]:
        curve = self.curve.astype(object).where(self.curve.notna(), None)
        records = []
        for row in curve.to_dict(orient="records"):
            records.append({key: (None if isinstance(val, float) and not math.isfinite(val) else
                                  (val.item() if hasattr(val, "item") else val)) for key, val in row.items()})
        return {
            "ris_fixed": self.ris_fixed,
            "diversity": self.diversity,
            "diversity_source": self.diversity_source,
            "ris": self.ris,
            "ris_rounded": self.ris_rounded,
            "p_control": self.p_control,
            "relative_risk_reduction": self.relative_risk_reduction,
            "alpha": self.alpha,
            "power": self.power,
            "method": self.method,
            "convention": self.convention,
            "crossed_efficacy": self.crossed_efficacy,
            "crossed_efficacy_at": self.crossed_efficacy_at,
            "crossed_efficacy_side": self.crossed_efficacy_side,
            "crossed_futility_at": self.crossed_futility_at,
            "reached_ris": self.reached_ris,
            "reached_ris_at": self.reached_ris_at,
            "final_z": self.final_z,
            "curve": records,
            "boundaries": self.boundaries.as_dict(),
        }


def tsa(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    sample_sizes: ArrayLike | None = None,
    p_control: float | None = None,
    relative_risk_reduction: float | None = None,
    alpha: float = 0.05,
    power: float = 0.80,
    diversity: float | str = "auto",
    order: ArrayLike | None = None,
    method: str = "DL",
    convention: Convention = "two-sided",
    futility: bool = True,
    study: Sequence[str] | None = None,
    *,
    sei: ArrayLike | None = None,
) -> TSAResult:
    """Trial sequential analysis of a binary outcome (Wetterslev et al. 2008, 2017).

    ``data``: an EffectData (with arm counts, ``sample_sizes`` default to the arm totals and ``p_control`` to
    the pooled control-arm proportion), or the effects yi with ``vi`` (or ``sei``) and ``study`` labels.
    ``relative_risk_reduction`` is required.

    diversity: a D^2 in [0, 1), or 'auto' for D^2 of all studies with the DerSimonian-Laird tau^2
    (:func:`diversity`; 0 with method 'FE'). RIS from :func:`required_information_size`, rounded up to whole
    participants; information fraction = accrued participants / rounded RIS. Boundaries: Lan-DeMets
    O'Brien-Fleming-type alpha spending at the looks before the RIS plus a final look at the RIS
    (:func:`boundaries`, two-sided), and with ``futility`` a non-binding beta-spending futility wedge.
    """
    args = effect_args(data, sei, vi=vi, study=study)
    study, sample_sizes = args.study, _sample_sizes(args, sample_sizes)
    if relative_risk_reduction is None:
        raise InputError("the anticipated relative risk reduction is needed", column="relative_risk_reduction",
                         valid="a non-zero number below 1")
    if p_control is None:
        counts = None if args.data is None else args.data.counts
        if counts is None:
            raise InputError("the control-arm event proportion is needed (or arm counts to pool it from)",
                             column="p_control", valid="a proportion in (0, 1)")
        counts = counts.loc[list(args.data.study)]
        p_control = float(counts["events_control"].sum() / counts["total_control"].sum())
    if sample_sizes is None:
        raise InputError("the TSA needs the participants of each study", column="sample_sizes",
                         valid="sample_sizes, or an EffectData with arm counts")
    y = np.atleast_1d(np.asarray(args.yi, dtype=float))
    v = _check_variances(args.variances())
    method = _check_method(method)
    if isinstance(diversity, str):
        if diversity != "auto":
            raise InputError(f"diversity {diversity!r} is not a number or 'auto'", column="diversity",
                             valid="'auto' or a D^2 in [0, 1)")
        tau2 = _pool(y, v, "DL")[2] if method == "DL" else 0.0
        d2 = _diversity(v, tau2)
        source = f"estimated (DerSimonian-Laird tau^2 = {tau2:.4g}, k = {y.size})" if method == "DL" else "FE: 0"
    else:
        d2 = _check_diversity(diversity)
        source = "given"
    ris_fixed = _fixed_information_size(p_control, relative_risk_reduction, alpha, power)
    if d2 >= 1.0 - 1e-12:
        raise ModelError("diversity D^2 is 1: the heterogeneity-adjusted information size is infinite")
    ris = ris_fixed / (1.0 - d2)
    if not ris <= MAX_INFORMATION_SIZE:
        raise InputError(
            f"the required information size is {ris:.3g} participants (relative risk reduction "
            f"{float(relative_risk_reduction):g}): no sequence of trials can reach it",
            column="relative_risk_reduction",
            valid=f"a relative risk reduction further from 0 (information size at most {MAX_INFORMATION_SIZE:.0e})",
        )
    ris_rounded = math.ceil(ris - 1e-9)
    curve = cumulative_z(y, v, order=order, sample_sizes=sample_sizes, method=method, ris=ris_rounded, study=study)
    fractions = curve["fraction"].to_numpy()
    planned = np.append(fractions[fractions < 1.0], 1.0)
    bounds = boundaries(planned, alpha=alpha, convention=convention, beta=(1.0 - power) if futility else None)
    position = np.minimum(np.searchsorted(planned, fractions, side="left"), planned.size - 1)
    efficacy = bounds.efficacy[position]
    curve["efficacy"] = efficacy
    if bounds.futility is not None:
        wedge = np.where((fractions < 1.0) & (bounds.futility[position] > 0), bounds.futility[position], np.nan)
        curve["futility"] = wedge
    else:
        curve["futility"] = np.nan
    z = curve["z"].to_numpy()
    crossed = np.flatnonzero(np.abs(z) >= efficacy)
    crossed_at = int(crossed[0]) + 1 if crossed.size else None
    side = None if crossed_at is None else ("upper" if z[crossed_at - 1] > 0 else "lower")
    wedge = curve["futility"].to_numpy()
    inside = np.flatnonzero(np.isfinite(wedge) & (np.abs(z) < np.nan_to_num(wedge, nan=-1.0)))
    reached = np.flatnonzero(curve["n_cumulative"].to_numpy() >= ris_rounded)
    return TSAResult(
        ris_fixed=ris_fixed,
        diversity=float(d2),
        diversity_source=source,
        ris=float(ris),
        ris_rounded=ris_rounded,
        p_control=float(p_control),
        relative_risk_reduction=float(relative_risk_reduction),
        alpha=float(alpha),
        power=float(power),
        method=method,
        convention=convention,
        curve=curve,
        boundaries=bounds,
        crossed_efficacy_at=crossed_at,
        crossed_efficacy_side=side,
        crossed_futility_at=int(inside[0]) + 1 if inside.size else None,
        reached_ris_at=int(reached[0]) + 1 if reached.size else None,
        final_z=float(z[-1]),
    )
