"""Run a whole reanalysis plan: every number of the report, and nothing of its presentation.

:func:`run_plan` takes a validated :class:`~bayesmeta.plan.Plan` and, per outcome, derives the effects, pools
them the frequentist way (the paper's rule and REML), fits the exact posterior of the main prior, cross-checks it
with NUTS, fits a meta-regression per covariate, runs the posterior predictive checks, the prior sensitivity and
influence analyses, sequential monitoring and trial sequential analysis; then it assembles the comparison with the
published numbers, the reinterpretation of the published estimates, the consistency checks of the printed numbers
and the data coverage. :meth:`ReanalysisResult.to_summary` returns every number as a JSON-ready dict.

Modules: :mod:`.run` (the driver), :mod:`.outcome` (one outcome's analyses), :mod:`.metaregression`,
:mod:`.formula_regression` (the plan's [covariates] formula),
:mod:`.crosscheck` (NUTS and simulations in a second process), :mod:`.coverage`, :mod:`.comparison`,
:mod:`.statements` (probabilities in words) and :mod:`.result` (the result types).
"""

from bayesmeta.reanalysis.outcome import derived_seed
from bayesmeta.reanalysis.result import OutcomeAnalysis, ReanalysisResult
from bayesmeta.reanalysis.run import Progress, plan_steps, run_plan
from bayesmeta.reanalysis.statements import (
    benefit_probability,
    benefit_statement,
    clinical_threshold,
    probability_text,
    probability_words,
    stated,
)

__all__ = [
    "OutcomeAnalysis",
    "Progress",
    "ReanalysisResult",
    "benefit_probability",
    "benefit_statement",
    "clinical_threshold",
    "derived_seed",
    "plan_steps",
    "probability_text",
    "probability_words",
    "run_plan",
    "stated",
]
