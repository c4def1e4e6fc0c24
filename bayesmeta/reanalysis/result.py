"""The result of a reanalysis: one :class:`OutcomeAnalysis` per outcome and the :class:`ReanalysisResult` that
holds them with the cross-outcome tables; ``to_summary`` turns everything into plain JSON-ready numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.plan import OutcomePlan, Plan


def to_json(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN/inf to None, DataFrames to records, tuples to lists."""
    if isinstance(value, pd.DataFrame):
        frame = value.reset_index() if value.index.name is not None else value
        return [to_json(r) for r in frame.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_json(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "as_dict"):
        return to_json(value.as_dict())
    if hasattr(value, "to_dict"):
        return to_json(value.to_dict())
    return value

@dataclass
class OutcomeAnalysis:
    """Everything computed for one outcome. Library result objects are kept as returned (for figures);
    :meth:`summary` turns them into plain numbers."""

    plan: OutcomePlan
    rows: pd.DataFrame
    effects: pd.DataFrame
    k_published: int | None
    main_prior: dict[str, str]
    published: dict[str, Any] | None = None
    frequentist: dict[str, Any] = field(default_factory=dict)
    bayes: dict[str, Any] = field(default_factory=dict)
    shrinkage: pd.DataFrame | None = None
    density: dict[str, np.ndarray] = field(default_factory=dict)
    idata: Any = None
    nuts: dict[str, Any] | None = None
    nuts_idata: Any = None
    metaregression: list[dict[str, Any]] = field(default_factory=list)
    ppc: dict[str, Any] = field(default_factory=dict)
    sensitivity: dict[str, Any] = field(default_factory=dict)
    influence: pd.DataFrame | None = None
    monitoring: Any = None
    operating: pd.DataFrame | None = None
    tsa: Any = None
    tsa_settings: dict[str, Any] | None = None
    bias: dict[str, Any] | None = None
    binomial: Any = None
    """:class:`bayesmeta.reanalysis.binomial.BinomialFit` when the plan's likelihood is binomial and it was fitted."""
    binomial_idata: Any = None
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    plan_covariates: tuple[str, ...] = ()
    formula_regression: Any = None
    """The outcome's formula (``outcomes.<name>.formula``, else [covariates] formula) fitted (:class:`bayesmeta.reanalysis.formula_regression.FormulaRegression`);
    None without a formula, or when it could not be fitted (see skipped)."""

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def k(self) -> int:
        return int(len(self.effects))

    def summary(self) -> dict[str, Any]:
        o = self.plan
        out: dict[str, Any] = {
            "label": o.label,
            "measure": o.measure,
            "benefit": o.benefit.value,
            "mcid": o.mcid,
            "thresholds": list(o.thresholds),
            "k": self.k,
            "k_published": self.k_published,
            "published": to_json(self.published),
            "effects": to_json(self.effects[[c for c in dict.fromkeys((*EFFECT_FIELDS, *self.plan_covariates))
                                             if c in self.effects.columns]]),
            "frequentist": to_json(self.frequentist),
            "bayes": to_json(self.bayes),
            "shrinkage": to_json(self.shrinkage) if self.shrinkage is not None else [],
            "mcmc": to_json(self.nuts) if self.nuts is not None else None,
            "metaregression": to_json(self.metaregression),
            "formula_regression": to_json(self.formula_regression),
            "ppc": to_json(self.ppc),
            "sensitivity": to_json(self.sensitivity),
            "influence": to_json(self.influence) if self.influence is not None else [],
            "monitoring": to_json(self.monitoring) if self.monitoring is not None else None,
            "operating_characteristics": to_json(self.operating) if self.operating is not None else [],
            "tsa": to_json(self.tsa) if self.tsa is not None else None,
            "tsa_settings": to_json(self.tsa_settings),
            "bias": to_json(self.bias),
            "binomial": to_json(self.binomial),
            "skipped": dict(self.skipped),
            "warnings": list(self.warnings),
        }
        return out

EFFECT_FIELDS = ("study_id", "label", "year", "n_total", "yi", "sei", "method")
"""The columns of each study's effect in summary.json, followed by the plan's covariates."""

@dataclass
class ReanalysisResult:
    """The output of :func:`run_plan`."""

    plan: Plan
    outcomes: dict[str, OutcomeAnalysis]
    coverage: pd.DataFrame
    missing_studies: pd.DataFrame
    comparison: pd.DataFrame
    not_covered: pd.DataFrame
    reinterpretation: pd.DataFrame
    consistency: pd.DataFrame
    priors: dict[str, dict[str, str]]
    versions: dict[str, str]
    seeds: dict[str, int]
    timings: dict[str, float]
    cache_key: str = ""
    cache_hit: bool = False
    subgroups: dict[str, Any] = field(default_factory=dict)
    """Outcome -> :class:`bayesmeta.reanalysis.subgroups.SubgroupReanalysis` (the plan's [subgroups])."""
    surrogacy: dict[str, Any] = field(default_factory=dict)
    """'surrogate~final' -> :class:`bayesmeta.surrogacy.SurrogacyResult` (the plan's [surrogacy])."""
    surrogacy_skipped: dict[str, str] = field(default_factory=dict)
    claims: list[Any] = field(default_factory=list)
    """:class:`bayesmeta.reanalysis.claims.ClaimResult` per plan claim, in the plan's order."""
    interactions: list[Any] = field(default_factory=list)
    """:class:`bayesmeta.interaction.WithinTrialInteraction` per level of each declared strata outcome
    (:func:`bayesmeta.reanalysis.interactions.strata_interactions`)."""

    @property
    def warnings(self) -> list[dict[str, str]]:
        """Every warning with the outcome and the step it came from."""
        out = []
        for name, a in self.outcomes.items():
            for w in a.warnings:
                out.append({"outcome": name, "message": w})
        return out

    def to_summary(self) -> dict[str, Any]:
        """Every number in the report, JSON-ready."""
        plan = self.plan
        return {
            "title": plan.title,
            "plan": plan.path.name,
            "quick": plan.quick,
            "pooling": plan.pooling,
            "level": plan.level,
            "seeds": dict(self.seeds),
            "versions": dict(self.versions),
            "cache_key": self.cache_key,
            "arms": {"treatment": plan.arms.treatment, "control": plan.arms.control},
            "inputs": {
                "studies": plan.studies.name if plan.studies else None,
                "outcomes": plan.outcomes_file.name,
                "published": plan.published.name if plan.published else None,
                "priors": plan.priors_file.name,
            },
            "priors": self.priors,
            "mcmc_settings": to_json(plan.mcmc.__dict__),
            "monitoring_settings": to_json(plan.monitoring.__dict__),
            "coverage": to_json(self.coverage),
            "missing_studies": to_json(self.missing_studies),
            "outcomes": {name: a.summary() for name, a in self.outcomes.items()},
            "comparison": to_json(self.comparison),
            "published_not_covered": to_json(self.not_covered),
            "reinterpretation": to_json(self.reinterpretation),
            "consistency": to_json(self.consistency),
            "warnings": self.warnings,
            "claims": [to_json(c.as_dict()) for c in self.claims],
            "subgroups": {name: s.summary() for name, s in self.subgroups.items()},
            "surrogacy": {key: to_json(r.as_dict()) for key, r in self.surrogacy.items()},
            "surrogacy_skipped": dict(self.surrogacy_skipped),
            "subgroup_interactions": [to_json(i.as_dict()) for i in self.interactions],
        }
