"""Trial sequential analysis (TSA): required information size (:mod:`bayesmeta.tsa.size`), group-sequential
boundaries (:mod:`bayesmeta.tsa.groupseq`) and the cumulative Z-curve monitored by them
(:mod:`bayesmeta.tsa.analysis`). Everything public is importable from ``bayesmeta.tsa``."""

from bayesmeta.tsa.analysis import TSAResult, cumulative_z, tsa
from bayesmeta.tsa.groupseq import Boundaries, boundaries, exit_probabilities, obf_spending
from bayesmeta.tsa.size import MAX_INFORMATION_SIZE, diversity, implied_diversity, required_information_size

__all__ = ["MAX_INFORMATION_SIZE", "Boundaries", "TSAResult", "boundaries", "cumulative_z", "diversity",
           "exit_probabilities", "implied_diversity", "obf_spending", "required_information_size", "tsa"]
