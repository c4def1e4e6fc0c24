"""Trial sequential analysis (TSA): required information size (:mod:`bayesmeta.tsa.size`), group-sequential
boundaries (:mod:`bayesmeta.tsa.groupseq`) and the cumulative Z-curve monitored by them
(:mod:`bayesmeta.tsa.analysis`). Everything public is importable from ``bayesmeta.tsa``."""

from bayesmeta.tsa.analysis import TSAResult, cumulative_z, tsa
from bayesmeta.tsa.groupseq import (FUTILITY, FUTILITY_RULES, Boundaries, Design, boundaries, design,
                                    exit_probabilities, obf_spending)
from bayesmeta.tsa.size import (HETEROGENEITY, MAX_INFORMATION_SIZE, OUTCOMES, diversity, fixed_information_size,
                                heterogeneity, implied_diversity, minimum_trials, required_information_size,
                                rtsa_adjusted, rtsa_rounded, treatment_proportion)

__all__ = ["FUTILITY", "FUTILITY_RULES", "HETEROGENEITY", "MAX_INFORMATION_SIZE", "OUTCOMES", "Boundaries", "Design",
           "TSAResult",
           "boundaries", "cumulative_z", "design", "diversity", "exit_probabilities", "fixed_information_size",
           "heterogeneity", "implied_diversity", "minimum_trials", "obf_spending", "required_information_size",
           "rtsa_adjusted", "rtsa_rounded", "treatment_proportion", "tsa"]
