"""Frequentist meta-analysis reproducing R metafor: the cross-check for the Bayesian engines.

One module per verb: ``rma`` (common/random effects and meta-regression), ``tau2_ci_qprofile`` (and
``heterogeneity_ci``: tau, I^2, H^2 with it),
``mantel_haenszel``, ``egger_test``, ``leave_one_out``, ``cumulative``, ``subgroup_analysis``,
``spearman_correlation``, ``paper_rule`` (pooling as a paper's Methods state, e.g. an I^2 rule), and for
publication bias ``trimfill``, ``rank_test`` (Begg), ``pet_peese``, ``selection_model`` (step function) and
``publication_bias`` (all of them and Egger's test at once).
"""

from bayesmeta.frequentist.correlation import spearman_correlation
from bayesmeta.frequentist.cumulative import cumulative
from bayesmeta.frequentist.egger import EggerResult, egger_test
from bayesmeta.frequentist.leave_one_out import leave_one_out
from bayesmeta.frequentist.mantel_haenszel import MantelHaenszelResult, mantel_haenszel
from bayesmeta.frequentist.paper_rule import paper_rule
from bayesmeta.frequentist.petpeese import PetPeeseResult, pet_peese
from bayesmeta.frequentist.publication_bias import PublicationBiasResult, publication_bias
from bayesmeta.frequentist.qprofile import HeterogeneityInterval, heterogeneity_ci, tau2_ci_qprofile
from bayesmeta.frequentist.ranktest import RankTestResult, rank_test
from bayesmeta.frequentist.result import Coefficient, RmaResult
from bayesmeta.frequentist.rma import rma
from bayesmeta.frequentist.selmodel import SelectionModelResult, selection_model
from bayesmeta.frequentist.subgroups import SubgroupResult, subgroup_analysis
from bayesmeta.frequentist.trimfill import TrimFillResult, trimfill

__all__ = [
    "Coefficient",
    "EggerResult",
    "HeterogeneityInterval",
    "MantelHaenszelResult",
    "PetPeeseResult",
    "PublicationBiasResult",
    "RankTestResult",
    "RmaResult",
    "SelectionModelResult",
    "SubgroupResult",
    "TrimFillResult",
    "cumulative",
    "egger_test",
    "heterogeneity_ci",
    "leave_one_out",
    "mantel_haenszel",
    "paper_rule",
    "pet_peese",
    "publication_bias",
    "rank_test",
    "rma",
    "selection_model",
    "spearman_correlation",
    "subgroup_analysis",
    "tau2_ci_qprofile",
    "trimfill",
]
