"""The summary figure of a batch: the reanalysed effect against the REML estimate, and the posterior medians of
tau, per prior set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def summary_figure(results: pd.DataFrame, path: Path) -> Path:
    """Two panels: posterior median of mu against the REML estimate (identity line), and the distribution of
    the posterior median of tau against the REML tau, one colour per prior set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = results[results["status"] == "ok"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for name, sub in ok.groupby("prior_set", sort=False, observed=True):
        left.scatter(sub["reml_estimate"], sub["mu_median"], s=6, alpha=0.5, label=name)
        right.hist(sub["tau_median"], bins=40, histtype="step", label=f"{name} (posterior median)")
    if len(ok):
        lo, hi = np.nanpercentile(ok[["reml_estimate", "mu_median"]].to_numpy(), [0.5, 99.5])
        left.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        right.hist(ok.drop_duplicates("group")["reml_tau"], bins=40, histtype="step", color="black", ls="--",
                   label="REML")
    measure = ok["measure"].iloc[0] if len(ok) else ""
    left.set_xlabel(f"REML estimate ({measure}, analysis scale)")
    left.set_ylabel("posterior median of mu")
    right.set_xlabel("tau")
    right.set_ylabel("meta-analyses")
    left.legend(fontsize=7, markerscale=2)
    right.legend(fontsize=7)
    errors = int((results.drop_duplicates("group")["status"] == "error").sum())
    fig.suptitle(f"{ok['group'].nunique()} meta-analyses reanalysed, {errors} unreadable", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
