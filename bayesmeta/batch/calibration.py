"""The calibration study of the engines: simulation-based calibration and the coverage of interval estimates.

Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018, arXiv:1804.06788): draw
(mu, tau) from the prior, data from the normal-normal model given them, and fit; if the posterior is right, the
rank of the true value among L posterior draws is uniform on 0..L. For the exact engine the rank's continuous
limit, the posterior CDF at the true value u = F(truth | y), is computed exactly and must be Uniform(0, 1) (KS
test, and a chi-square test on equal bins of the rank histogram); for the NUTS engine the rank among L = 99
thinned draws is used, as in Talts et al.

Coverage (as in Friede, Roever, Wandel & Neuenschwander 2017, Biom J 59:658, and Roever et al. 2021, Res Synth
Methods 12:448): for fixed mu = 0 and tau, k studies with standard errors drawn uniformly in [0.1, 0.6] (log
ratios of trials of a few hundred patients), the share of 95% intervals of mu that contain 0, for the Bayesian
central credible intervals under a flat prior of mu and half-normal(0.5) or half-normal(1) priors of tau (exact
engine, in batches), and for the DL and REML Wald intervals and the Hartung-Knapp interval (REML) on the same data.
Run ``python -m bayesmeta.batch.calibration --out reports/calibration`` (``make calibration``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bayesmeta.batch.fit import fit_prior_set
from bayesmeta.batch.frequentist import fit_frequentist
from bayesmeta.batch.table import GroupEffects
from bayesmeta.benefit import Benefit
from bayesmeta.priors import PriorSet, parse_prior

SE_RANGE = (0.1, 0.6)
KS = (2, 3, 5, 10, 20)
TAUS = (0.0, 0.1, 0.3, 0.6)
TAU_PRIORS = ("halfnormal(0.5)", "halfnormal(1)")


def prior_set(mu: str, tau: str) -> PriorSet:
    """An unnamed prior set from two prior texts."""
    m, t = parse_prior(mu, for_param="mu"), parse_prior(tau, for_param="tau")
    return PriorSet(name=f"{m.text} / {t.text}", mu=m, tau=t, beta=m)


def simulate(rng: np.random.Generator, mu: np.ndarray, tau: np.ndarray, k: int) -> GroupEffects:
    """n = len(mu) meta-analyses of k studies: sei ~ U(SE_RANGE), theta_i ~ N(mu, tau^2), y_i ~ N(theta_i, sei^2)."""
    n = len(mu)
    sei = rng.uniform(*SE_RANGE, (n, k))
    theta = mu[:, None] + tau[:, None] * rng.standard_normal((n, k))
    y = theta + sei * rng.standard_normal((n, k))
    return GroupEffects([str(i) for i in range(n)], y, sei, np.ones((n, k), dtype=bool), "GEN")


@dataclass(frozen=True)
class SBCResult:
    """Ranks (scaled to [0, 1]) of the true mu and tau, and the uniformity tests' p-values."""

    engine: str
    k: int
    u_mu: np.ndarray
    u_tau: np.ndarray
    bins: int

    def chi2_p(self, u: np.ndarray) -> float:
        counts = np.histogram(u, bins=self.bins, range=(0, 1))[0]
        return float(stats.chisquare(counts).pvalue)

    def table(self) -> list[dict[str, object]]:
        return [{"engine": self.engine, "k": self.k, "param": name, "replicates": len(u),
                 "ks_p": float(stats.kstest(u, "uniform").pvalue), "chi2_p": self.chi2_p(u)}
                for name, u in (("mu", self.u_mu), ("tau", self.u_tau))]


def sbc_exact(n_rep: int, k: int, mu_prior: str = "normal(0, 1)", tau_prior: str = "halfnormal(0.5)",
              fit_tau_prior: str | None = None, seed: int = 1, bins: int = 20) -> SBCResult:
    """SBC of the exact engine: u = F(truth | y) for mu and tau of n_rep data sets drawn from the prior, all fitted
    in one batch. ``fit_tau_prior`` fits with another tau prior than the one simulated from (a miscalibrated
    posterior, which the tests must detect)."""
    rng = np.random.default_rng(seed)
    simulated = prior_set(mu_prior, tau_prior)
    mu, tau = simulated.mu.rvs(n_rep, rng), simulated.tau.rvs(n_rep, rng)
    data = simulate(rng, mu, tau, k)
    fitted = prior_set(mu_prior, fit_tau_prior or tau_prior)
    from bayesmeta.exact.engine import fit_members

    batch = fit_members(data.yi, data.sei, data.mask, np.ones((k, 1)), [fitted.mu] * n_rep, [fitted.tau] * n_rep,
                        [[] for _ in range(n_rep)], tuple(str(j) for j in range(k)))
    return SBCResult("exact", k, batch.cdf(mu, "mu"), batch.cdf(tau, "tau"), bins)


def sbc_nuts(n_rep: int, k: int, mu_prior: str = "normal(0, 1)", tau_prior: str = "halfnormal(0.5)",
             seed: int = 2, draws: int = 500, thin_to: int = 99, bins: int = 20) -> SBCResult:
    """SBC of the NUTS engine: the rank of the truth among ``thin_to`` evenly thinned posterior draws (2 chains),
    scaled to [0, 1] by (rank + U(0, 1)) / (L + 1) so that it is continuous for the KS test."""
    from bayesmeta.mcmc import fit_nuts

    rng = np.random.default_rng(seed)
    simulated = prior_set(mu_prior, tau_prior)
    mu, tau = simulated.mu.rvs(n_rep, rng), simulated.tau.rvs(n_rep, rng)
    data = simulate(rng, mu, tau, k)
    u = {"mu": [], "tau": []}
    for i in range(n_rep):
        post = fit_nuts(data.yi[i], data.sei[i], mu_prior=mu_prior, tau_prior=tau_prior, draws=draws, tune=draws,
                        chains=2, cores=1, seed=seed + i)
        for name, truth in (("mu", mu[i]), ("tau", tau[i])):
            d = post.marginal(name).draws  # sorted: evenly spaced order statistics thin them
            d = d[np.linspace(0, d.size - 1, thin_to).astype(int)]
            u[name].append((np.sum(d < truth) + rng.uniform()) / (thin_to + 1))
    return SBCResult("nuts", k, np.array(u["mu"]), np.array(u["tau"]), bins)


def coverage(n_rep: int, ks=KS, taus=TAUS, tau_priors=TAU_PRIORS, seed: int = 3, level: float = 0.95) -> pd.DataFrame:
    """Coverage of mu = 0 and mean width of 95% intervals per k, tau and method, with its Monte Carlo standard
    error sqrt(p (1 - p) / n_rep); the Bayesian rows also give the coverage of tau's credible interval."""
    rng = np.random.default_rng(seed)
    sets = [prior_set("flat", t) for t in tau_priors]
    rows = []
    for k in ks:
        for tau in taus:
            data = simulate(rng, np.zeros(n_rep), np.full(n_rep, tau), k)
            intervals: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
            for s, text in zip(sets, tau_priors):
                fit = fit_prior_set(data, s, (), Benefit.BELOW, level)
                tau_in = (fit["tau_ci_lower"] <= tau) & (tau <= fit["tau_ci_upper"])
                intervals[f"Bayes {text}"] = (fit["mu_ci_lower"], fit["mu_ci_upper"], tau_in)
            freq = fit_frequentist(data.yi, data.sei**2, data.mask, level)
            intervals["DL"] = (freq["DL"]["ci_lower"], freq["DL"]["ci_upper"], None)
            intervals["REML"] = (freq["REML"]["ci_lower"], freq["REML"]["ci_upper"], None)
            intervals["HK (REML)"] = (freq["REML"]["hk_ci_lower"], freq["REML"]["hk_ci_upper"], None)
            for method, (lo, hi, tau_in) in intervals.items():
                hit = (lo <= 0) & (0 <= hi)
                p = float(hit.mean())
                rows.append({"k": k, "tau": tau, "method": method, "coverage": p,
                             "mcse": float(np.sqrt(p * (1 - p) / n_rep)), "median_width": float(np.median(hi - lo)),
                             # a central interval of tau never holds tau = 0: no coverage to report there
                             "tau_coverage": float(tau_in.mean()) if tau_in is not None and tau > 0 else np.nan,
                             "replicates": n_rep})
    return pd.DataFrame(rows)


def rank_figure(results: list[SBCResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(8, 2.4 * len(results)), squeeze=False)
    for row, res in zip(axes, results):
        for ax, (name, u) in zip(row, (("mu", res.u_mu), ("tau", res.u_tau))):
            n = len(u)
            ax.hist(u, bins=res.bins, range=(0, 1), color="#4c72b0", alpha=0.8)
            lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / res.bins)
            ax.axhspan(lo, hi, color="grey", alpha=0.25, lw=0)
            ax.set_title(f"{res.engine}, k = {res.k}: rank of {name} (n = {n}, KS p = "
                         f"{stats.kstest(u, 'uniform').pvalue:.2f})", fontsize=8)
            ax.set_xlabel("normalised rank")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def coverage_figure(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    taus = sorted(table.tau.unique())
    fig, axes = plt.subplots(1, len(taus), figsize=(3.2 * len(taus), 3.3), sharey=True)
    for ax, tau in zip(np.atleast_1d(axes), taus):
        sub = table[table.tau == tau]
        for method, m in sub.groupby("method", sort=False):
            ax.plot(m.k, m.coverage, marker="o", ms=3, label=method)
        ax.axhline(0.95, color="black", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sorted(table.k.unique()), [str(k) for k in sorted(table.k.unique())])
        ax.set_title(f"tau = {tau:g}", fontsize=9)
        ax.set_xlabel("k")
    np.atleast_1d(axes)[0].set_ylabel("coverage of 95% interval of mu")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def headline(table: pd.DataFrame) -> str:
    """Markdown: coverage (%) of the 95% intervals of mu, one row per k and tau, one column per method."""
    methods = list(dict.fromkeys(table.method))
    pivot = table.pivot_table(index=["k", "tau"], columns="method", values="coverage").loc[:, methods]
    lines = ["| k | tau | " + " | ".join(methods) + " |", "|---" * (len(methods) + 2) + "|"]
    lines += [f"| {k} | {tau:g} | " + " | ".join(f"{100 * v:.1f}" for v in row) + " |"
              for (k, tau), row in pivot.iterrows()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="calibration study of the exact and NUTS engines")
    parser.add_argument("--out", default="reports/calibration")
    parser.add_argument("--replicates", type=int, default=1000, help="data sets per coverage cell")
    parser.add_argument("--sbc", type=int, default=2000, help="SBC replicates of the exact engine per k")
    parser.add_argument("--nuts", type=int, default=40, help="SBC replicates of the NUTS engine")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    sbc = [sbc_exact(args.sbc, k) for k in (2, 5, 20)]
    if args.nuts:
        sbc.append(sbc_nuts(args.nuts, 5, bins=10))
    pd.DataFrame([r for res in sbc for r in res.table()]).to_csv(out / "sbc.csv", index=False)
    rank_figure(sbc, out / "sbc_ranks.png")
    table = coverage(args.replicates)
    table.to_csv(out / "coverage.csv", index=False)
    coverage_figure(table, out / "coverage.png")
    (out / "coverage.md").write_text(headline(table) + "\n", encoding="utf-8")
    print(pd.DataFrame([r for res in sbc for r in res.table()]).to_string(index=False))
    print(headline(table))
    print(f"done in {time.perf_counter() - start:.0f} s; written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
