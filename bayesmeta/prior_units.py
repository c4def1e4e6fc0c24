"""The packaged priors are written for log ratios; a mean difference (MD) is in the outcome's own units.

normal(0, 4) on mu and halfnormal(0.5) on tau are weakly informative for a log odds ratio, whose unit
information SD is about 4 (Röver et al. 2021, Res Synth Methods 12:448), but on a mean difference in days or
mmHg they pin tau near zero and pull mu towards it. An SMD (in SD units) and an RD (bounded by 1) are on scales
where the packaged sets stay weakly informative, so only MD is flagged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EXAMPLE_PRIORS = "models/gallery/parkinson_offtime_priors.toml"


def log_ratio_priors_note(measure: str, sei: Sequence[float] | np.ndarray) -> str | None:
    """A one-line note when an MD is fitted under the packaged log-ratio priors (else None): the range of the
    studies' standard errors, in the outcome's units, beside the priors' scale, and what to give instead."""
    if str(measure).upper() != "MD":
        return None
    se = np.asarray(sei, dtype=float)
    se = se[np.isfinite(se)]
    span = f" (study standard errors {se.min():.3g} to {se.max():.3g})" if se.size else ""
    return ("the packaged priors (by default mu ~ normal(0, 4), tau ~ halfnormal(0.5)) are written for log "
            f"ratios, but an MD is in the outcome's units{span}: give priors on that scale (--mu-prior/--tau-prior, "
            "or a plan's data.priors; e.g. mu ~ normal(0, unit information SD), tau ~ halfnormal(unit information "
            f"SD / 8), Röver et al. 2021, as in {EXAMPLE_PRIORS})")
