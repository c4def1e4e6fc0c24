"""The one typed input of every analysis: study effects on the analysis scale with their standard errors.

:class:`EffectData` carries what metafor's verbs take as ``yi, sei, slab, measure`` plus the direction of
benefit, the study-level covariates and, where the studies reported them, the arm counts. Every verb (the exact
and NUTS fits, ``rma``, leave-one-out, cumulative, monitoring, the prior grid, TSA, influence) accepts it as its
first argument ``data``, or plain arrays (yi with ``sei`` or ``vi``, ``study``, ``measure``); each reads its
argument through :func:`effect_args`, which keeps the verb's own checks of plain arrays. :func:`as_effect_data`
builds an EffectData from arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesmeta.benefit import Benefit
from bayesmeta.errors import InputError
from bayesmeta.scales import MEASURE_INFO, is_ratio

if TYPE_CHECKING:  # pandas stays off the import path of the exact engine
    import pandas as pd

COUNT_COLUMNS: tuple[str, ...] = ("events_treatment", "total_treatment", "events_control", "total_control")


@dataclass(frozen=True, eq=False)
class EffectData:
    """Study effects ready for a model.

    ``study`` the study labels (unique), ``yi`` the effects on the analysis scale (log ratio for HR/RR/OR/IRR/ROM),
    ``sei`` their standard errors (``vi`` = sei^2), ``measure`` the effect measure, ``benefit`` the side of the
    null that favours the treatment arm, ``method`` how each effect was derived ('ci', 'counts', 'given', ...),
    ``covariates`` study-level columns (a DataFrame indexed by study, or None), ``counts`` the arm counts
    (columns events_treatment, total_treatment, events_control, total_control, indexed by study, or None; they
    may also hold the ``dropped`` studies, which have no effect but enter a binomial likelihood),
    ``dropped`` the studies left out while reading (with no events in either arm), ``source`` where the data
    came from and ``outcome`` the outcome's name when the data are one outcome of a plan.
    """

    study: tuple[str, ...]
    yi: np.ndarray
    sei: np.ndarray
    measure: str = "GEN"
    benefit: Benefit = Benefit.BELOW
    method: tuple[str, ...] = ()
    covariates: "pd.DataFrame | None" = field(default=None, repr=False)
    counts: "pd.DataFrame | None" = field(default=None, repr=False)
    dropped: tuple[str, ...] = ()
    source: str = "<arrays>"
    outcome: str = ""

    def __post_init__(self) -> None:
        study = tuple(str(s) for s in self.study)
        object.__setattr__(self, "study", study)
        for name in ("yi", "sei"):
            values = np.array(getattr(self, name), dtype=float).reshape(-1)
            values.setflags(write=False)
            object.__setattr__(self, name, values)
        object.__setattr__(self, "benefit", Benefit.parse(self.benefit))
        if self.measure not in MEASURE_INFO:
            raise InputError(f"unknown measure '{self.measure}'", file=self.source, column="measure",
                             valid=", ".join(MEASURE_INFO))
        k = len(study)
        method = tuple(self.method) or ("given",) * k
        object.__setattr__(self, "method", method)
        if k == 0:
            raise InputError("no studies left to analyse", file=self.source)
        if not (self.yi.shape == self.sei.shape == (k,)) or len(method) != k:
            raise InputError(f"{k} studies but {self.yi.size} effects, {self.sei.size} standard errors and "
                             f"{len(method)} methods", file=self.source, valid="one of each per study")
        if len(set(study)) != k:
            dup = next(s for s in study if study.count(s) > 1)
            raise InputError(f"study '{dup}' appears more than once", file=self.source, column="study",
                             valid="unique study labels")
        bad = ~(np.isfinite(self.yi) & np.isfinite(self.sei) & (self.sei > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"study '{study[i]}' has effect {self.yi[i]} with standard error {self.sei[i]}",
                             file=self.source, valid="a finite effect with a finite standard error > 0")

    # -- access -------------------------------------------------------------------------------------------
    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.study)

    @property
    def vi(self) -> np.ndarray:
        """Sampling variances sei^2."""
        return self.sei**2

    @property
    def is_ratio(self) -> bool:
        """True when the effects are log ratios (HR, RR, OR, IRR, ROM)."""
        return is_ratio(self.measure)

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """The study-level columns available as covariates."""
        return () if self.covariates is None else tuple(str(c) for c in self.covariates.columns)

    def covariate(self, name: str) -> np.ndarray:
        """One covariate's values in study order; InputError naming the available columns otherwise."""
        if name not in self.covariate_names:
            raise InputError(f"no covariate '{name}'", file=self.source, column=name,
                             valid=", ".join(self.covariate_names) or "no covariate columns in these data")
        return self.covariates.loc[list(self.study), name].to_numpy()  # type: ignore[union-attr]

    # -- derived data sets --------------------------------------------------------------------------------
    def subset(self, keep: Sequence[bool] | np.ndarray | Sequence[str]) -> "EffectData":
        """The data of some studies: a boolean mask, or study labels (kept in this data's order)."""
        keep = list(keep)
        if keep and isinstance(keep[0], str):
            wanted = set(keep)
            mask = np.array([s in wanted for s in self.study])
        else:
            mask = np.asarray(keep, dtype=bool)
        if mask.shape != (self.k,):
            raise ValueError(f"a mask of {self.k} booleans is needed, got shape {mask.shape}")
        study = tuple(s for s, m in zip(self.study, mask, strict=True) if m)
        return replace(
            self, study=study, yi=self.yi[mask], sei=self.sei[mask],
            method=tuple(m for m, k in zip(self.method, mask, strict=True) if k),
            covariates=None if self.covariates is None else self.covariates.loc[list(study)],
            counts=None if self.counts is None else self.counts.loc[list(study)],
        )

    def without(self, study: str) -> "EffectData":
        """The data without one study (leave-one-out)."""
        return self.subset([s != study for s in self.study])

    def with_sei(self, sei: np.ndarray) -> "EffectData":
        """The same studies with other standard errors (e.g. likelihood power-scaling: sei / sqrt(alpha))."""
        return replace(self, sei=np.asarray(sei, dtype=float))

    def to_frame(self) -> "pd.DataFrame":
        """study, yi, sei, vi, method, the covariates and the arm counts as one DataFrame (index study)."""
        import pandas as pd

        frame = pd.DataFrame(
            {"yi": self.yi, "sei": self.sei, "vi": self.vi, "method": self.method},
            index=pd.Index(self.study, name="study"),
        )
        if self.covariates is not None:
            frame = frame.join(self.covariates)
        if self.counts is not None:
            frame = frame.join(self.counts)
        return frame


def as_effect_data(
    data: "EffectData | Sequence[float] | np.ndarray",
    sei: Sequence[float] | np.ndarray | None = None,
    *,
    vi: Sequence[float] | np.ndarray | None = None,
    study: Sequence[str] | None = None,
    measure: str | None = None,
    benefit: Benefit | str | None = None,
    **extra: Any,
) -> EffectData:
    """``data`` itself when it is an :class:`EffectData` (``measure``/``benefit`` given here must agree with
    it), else one built from the arrays ``yi = data`` and ``sei`` (or ``vi``), with studies labelled 1..k when
    ``study`` is None."""
    if isinstance(data, EffectData):
        if sei is not None or vi is not None:
            raise TypeError("pass either an EffectData or the arrays yi and sei, not both")
        changes: dict[str, Any] = {}
        if measure is not None and measure != data.measure:
            changes["measure"] = measure
        if benefit is not None and Benefit.parse(benefit) is not data.benefit:
            changes["benefit"] = Benefit.parse(benefit)
        return replace(data, **changes) if changes else data
    yi = np.asarray(data, dtype=float).reshape(-1)
    if sei is None and vi is None:
        raise TypeError("standard errors are needed: pass sei= (or vi=)")
    if sei is not None and vi is not None:
        raise TypeError("pass sei or vi, not both")
    if sei is None:
        v = np.asarray(vi, dtype=float).reshape(-1)
        sei_arr = np.sqrt(np.where(v > 0, v, np.nan))
    else:
        sei_arr = np.asarray(sei, dtype=float).reshape(-1)
    labels = tuple(str(i + 1) for i in range(yi.size)) if study is None else tuple(str(s) for s in study)
    return EffectData(study=labels, yi=yi, sei=sei_arr, measure=measure or "GEN",
                      benefit=Benefit.parse(benefit or Benefit.BELOW), **extra)


@dataclass(frozen=True)
class EffectArgs:
    """The effects a verb was given, as it was given them: from an :class:`EffectData` (``data`` set) or from
    plain arrays (``data`` None; ``yi`` and one of ``sei``/``vi`` as passed, not yet validated, so that each
    verb keeps its own checks and messages for arrays). ``study`` is None when arrays came without labels."""

    yi: Any
    sei: Any
    vi: Any
    study: tuple[str, ...] | None
    measure: str
    benefit: Benefit
    data: EffectData | None = None

    def errors(self) -> np.ndarray:
        """Standard errors: ``sei``, or sqrt(vi) (NaN where vi <= 0, for the verb's check to name)."""
        if self.sei is not None:
            return np.asarray(self.sei, dtype=float)
        v = np.asarray(self.vi, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.where(v > 0, np.sqrt(np.abs(v)), np.nan)

    def variances(self) -> Any:
        """Sampling variances: ``vi`` as given, or sei^2."""
        if self.vi is not None:
            return self.vi
        return np.asarray(self.sei, dtype=float) ** 2


def effect_args(
    data: "EffectData | Sequence[float] | np.ndarray",
    sei: Any = None,
    *,
    vi: Any = None,
    study: Sequence[str] | None = None,
    measure: str | None = None,
    benefit: Benefit | str | None = None,
    default_measure: str = "GEN",
) -> EffectArgs:
    """What every verb does first with its ``data`` argument: an :class:`EffectData` gives its own arrays,
    labels, measure and direction of benefit (``measure``/``benefit`` given here override them; ``sei``, ``vi``
    and ``study`` belong to arrays and are refused with it); plain arrays ``yi = data`` need ``sei`` or ``vi``."""
    if isinstance(data, EffectData):
        if sei is not None or vi is not None or study is not None:
            raise TypeError("sei, vi and study go with arrays; an EffectData carries its own")
        return EffectArgs(data.yi, data.sei, None, data.study, measure or data.measure,
                          Benefit.parse(benefit) if benefit is not None else data.benefit, data)
    if sei is None and vi is None:
        raise TypeError("standard errors are needed with an array of effects: pass sei= (or vi=)")
    if sei is not None and vi is not None:
        raise TypeError("pass sei or vi, not both")
    labels = None if study is None else tuple(str(s) for s in study)
    return EffectArgs(data, sei, vi, labels, measure or default_measure, Benefit.parse(benefit or Benefit.BELOW))


def count_columns(data: "EffectData | pd.DataFrame | Mapping[str, Any]",
                  study: Sequence[str] | None = None) -> tuple[list[Any], tuple[str, ...] | None]:
    """The four arm-count columns (events_treatment, total_treatment, events_control, total_control, as given,
    not yet validated) and the study labels of ``data``: an :class:`EffectData` with arm counts (its
    ``counts``, which keep the studies with no events in either arm), or a table (DataFrame or mapping) with the
    four columns (labels from ``study``, else its ``study`` column, else None)."""
    if isinstance(data, EffectData):
        if study is not None:
            raise TypeError("an EffectData carries its own study labels")
        if data.counts is None:
            raise InputError("this analysis needs arm counts", file=data.source, column=COUNT_COLUMNS[0],
                             valid="columns " + ", ".join(COUNT_COLUMNS))
        return [data.counts[c].to_numpy() for c in COUNT_COLUMNS], tuple(str(s) for s in data.counts.index)
    missing = [c for c in COUNT_COLUMNS if c not in data]
    if missing:
        raise InputError(f"no column {missing[0]}", column=missing[0], valid="columns " + ", ".join(COUNT_COLUMNS))
    if study is None and "study" in data:
        study = [str(s) for s in data["study"]]
    return [data[c] for c in COUNT_COLUMNS], None if study is None else tuple(str(s) for s in study)
