"""Convergence diagnostics that gate every MCMC result.

Thresholds follow Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021, Bayesian Analysis 16(2):667-718):
rank-normalised split R-hat below 1.01, bulk and tail effective sample sizes of at least 400 (100 per chain for
four chains), and no divergent transitions (Betancourt 2017, arXiv:1701.02434).
"""

from __future__ import annotations

import arviz as az
import numpy as np

RHAT_MAX = 1.01
ESS_MIN = 400


def _sample_dims_ok(idata: az.InferenceData) -> bool:
    post = idata.posterior
    return post.sizes.get("chain", 0) >= 1 and post.sizes.get("draw", 0) >= 4


def _divergences(idata: az.InferenceData) -> int:
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "diverging" not in stats:
        return 0
    return int(np.asarray(stats["diverging"]).sum())


def _worst(table, column: str, largest: bool) -> tuple[float, str]:
    values = table[column].astype(float)
    if values.isna().all():
        return float("nan"), ""
    label = values.idxmax() if largest else values.idxmin()
    return float(values[label]), str(label)


def diagnose(
    idata: az.InferenceData, var_names: list[str] | None = None
) -> tuple[dict[str, object], list[str]]:
    """R-hat, bulk/tail ESS and divergences of a fit, and a plain sentence for each failed check.

    Returns ``(diagnostics, warnings)``: diagnostics holds ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min``
    (with the parameter where each is worst), ``divergences``, ``n_draws`` and ``table`` (one row per scalar
    parameter from :func:`arviz.summary`: mean, sd, mcse_mean, ess_bulk, ess_tail, r_hat).
    """
    if not _sample_dims_ok(idata):
        raise ValueError(
            "diagnostics need a posterior group with at least 4 draws per chain"
        )
    table = az.summary(idata, var_names=var_names, kind="all", round_to="none")
    rhat, rhat_at = _worst(table, "r_hat", largest=True)
    bulk, bulk_at = _worst(table, "ess_bulk", largest=False)
    tail, tail_at = _worst(table, "ess_tail", largest=False)
    divergences = _divergences(idata)
    post = idata.posterior
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    diagnostics: dict[str, object] = {
        "rhat_max": rhat,
        "rhat_max_at": rhat_at,
        "ess_bulk_min": bulk,
        "ess_bulk_min_at": bulk_at,
        "ess_tail_min": tail,
        "ess_tail_min_at": tail_at,
        "divergences": divergences,
        "n_draws": n_draws,
        "table": {
            str(name): {
                col: float(row[col])
                for col in ("mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat")
            }
            for name, row in table.iterrows()
        },
    }
    warnings: list[str] = []
    if not np.isfinite(rhat) or rhat >= RHAT_MAX:
        warnings.append(
            f"R-hat reaches {rhat:.3f} (at {rhat_at}), at or above {RHAT_MAX}: the chains disagree; "
            "run longer chains before using these numbers."
        )
    if not np.isfinite(bulk) or bulk < ESS_MIN:
        warnings.append(
            f"The bulk effective sample size is only {bulk:.0f} (at {bulk_at}), below {ESS_MIN}: "
            "posterior means and medians are imprecise; draw more samples."
        )
    if not np.isfinite(tail) or tail < ESS_MIN:
        warnings.append(
            f"The tail effective sample size is only {tail:.0f} (at {tail_at}), below {ESS_MIN}: "
            "interval limits are imprecise; draw more samples."
        )
    if divergences > 0:
        warnings.append(
            f"{divergences} of {n_draws} transitions diverged: the sampler may have missed part of the posterior; "
            "raise target_accept or reparameterise."
        )
    return diagnostics, warnings
