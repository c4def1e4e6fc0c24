"""Text for the terminal: :func:`print_table` for the commands' rich tables, and short text summaries of fitted
models, laid out as R metafor's ``print.rma`` (Viechtbauer 2010, J Stat Softw
36(3)): the model and k, the heterogeneity, the test, and the estimate with its interval on the analysis scale and,
for a ratio measure, as a ratio.

For a posterior, I^2 = tau^2 / (tau^2 + s^2) with the typical within-study variance
s^2 = (k - 1) sum w_i / ((sum w_i)^2 - sum w_i^2), w_i = 1 / sei_i^2 (Higgins & Thompson 2002, Stat Med 21:1539,
eq. 9); being increasing in tau, its posterior quantiles are those of tau transformed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from bayesmeta.scales import is_ratio, reported_float

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from bayesmeta.frequentist.result import RmaResult
    from bayesmeta.posterior import Posterior


def typical_variance(sei: np.ndarray) -> float:
    """Higgins & Thompson's typical within-study variance (NaN for fewer than two studies)."""
    w = 1.0 / np.asarray(sei, dtype=float) ** 2
    k = w.size
    if k < 2:
        return math.nan
    return float((k - 1) * w.sum() / (w.sum() ** 2 - np.sum(w * w)))


def _p(value: float | None) -> str:
    """A p-value as metafor prints it: '<.0001' below 1e-4, else 4 decimals."""
    if value is None or not math.isfinite(value):
        return "NA"
    return "<.0001" if value < 1e-4 else f"{value:.4f}"


def _interval(lo: float, hi: float, digits: int) -> str:
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def posterior_text(post: Posterior, level: float = 0.95) -> str:
    """The summary printed for a :class:`bayesmeta.posterior.Posterior`."""
    pct = f"{100 * level:g}%"
    probs = np.array([(1 - level) / 2, 0.5, (1 + level) / 2])
    kind = "meta-regression" if post.covariates else "random-effects model"
    lines = [
        f"Bayesian {kind} ({post.engine} engine; k = {post.k}; measure {post.measure})",
        "priors: " + ", ".join(f"{name} ~ {text}" for name, text in post.priors.items()),
        "",
        f"Heterogeneity (posterior median [{pct} CrI]):",
    ]
    t_lo, t_med, t_hi = (float(v) for v in post.marginal("tau").ppf(probs))
    lines.append(f"tau    {t_med:.4f} {_interval(t_lo, t_hi, 4)}")
    lines.append(f"tau^2  {t_med**2:.4f} {_interval(t_lo**2, t_hi**2, 4)}")
    s2 = typical_variance(post.sei)
    if not post.covariates and math.isfinite(s2):
        i2 = [100 * t * t / (t * t + s2) for t in (t_lo, t_med, t_hi)]
        lines.append(f"I^2    {i2[1]:.1f}% [{i2[0]:.1f}%, {i2[2]:.1f}%]  (typical within-study variance {s2:.4f})")
    lines += ["", f"Model results (posterior median [{pct} CrI], mean (sd)):"]
    names = ["mu", "predictive", *(f"beta[{c}]" for c in post.covariates)]
    width = max(len(n) for n in names)
    for name in names:
        m = post.marginal(name)
        lo, med, hi = (float(v) for v in m.ppf(probs))
        lines.append(f"{name:<{width}}  {med:8.4f} {_interval(lo, hi, 4):<20} {m.mean():8.4f} ({m.std():.4f})")
    lines.append("")
    if is_ratio(post.measure):
        ratio = post.measure
        lo, med, hi = (reported_float(v, ratio) for v in post.marginal("mu").ppf(probs))
        lines.append(f"{ratio}: {med:.3f} {_interval(lo, hi, 3)}; P({ratio} < 1) = {post.prob_below(1.0):.4f}")
        lo, med, hi = (reported_float(v, ratio) for v in post.marginal("predictive").ppf(probs))
        lines.append(f"{ratio} in a new study: {med:.3f} {_interval(lo, hi, 3)}")
    else:
        lines.append(f"P(mu < 0) = {post.prob_below(0.0):.4f}")
    lines += [f"warning: {w}" for w in post.warnings]
    return "\n".join(lines)


def rma_text(result: RmaResult, measure: str | None = None) -> str:
    """The summary printed for a :class:`bayesmeta.frequentist.result.RmaResult`; with a ratio ``measure`` the
    estimate and the intervals are also given as ratios."""
    pct = f"{100 * result.level:g}%"
    common = result.method in ("FE", "EE")
    moderators = result.has_moderators
    if common:
        lines = [f"Common-effect model (k = {result.k})", ""]
    else:
        kind = "Mixed-effects model" if moderators else "Random-effects model"
        lines = [f"{kind} (k = {result.k}; tau^2 estimator: {result.method})", ""]
        what = "residual" if moderators else "total"
        se = "" if result.tau2_se is None else f" (SE = {result.tau2_se:.4f})"
        lines.append(f"tau^2 (estimated amount of {what} heterogeneity): {result.tau2:.4f}{se}")
        lines.append(f"tau (square root of estimated tau^2 value):      {result.tau:.4f}")
    if moderators:
        lines.append(f"I^2 (residual heterogeneity / unaccounted variability): {result.i2:.2f}%")
        lines.append(f"H^2 (unaccounted variability / sampling variability):   {result.h2:.2f}")
    else:
        lines.append(f"I^2 (total heterogeneity / total variability):   {result.i2:.2f}%")
        lines.append(f"H^2 (total variability / sampling variability):  {result.h2:.2f}")
    if moderators and result.r2 is not None:
        lines.append(f"R^2 (amount of heterogeneity accounted for):            {result.r2:.2f}%")
    q_name = "QE" if moderators else "Q"
    lines += [
        "",
        f"Test for {'residual ' if moderators else ''}heterogeneity:",
        f"{q_name}(df = {result.q_df}) = {result.q:.4f}, p-val {_p_relation(result.q_p)}",
    ]
    if moderators and result.qm is not None:
        m = len(result.coefficients) - 1
        statistic = (
            f"F(df1 = {result.qm_df}, df2 = {result.df})" if result.test == "knha" else f"QM(df = {result.qm_df})"
        )
        test = f"{statistic} = {result.qm:.4f}, p-val {_p_relation(result.qm_p)}"
        lines += ["", f"Test of moderators (coefficients 2:{m + 1}):", test]
    stat = "tval" if result.test == "knha" else "zval"
    header = ["", "estimate", "se", stat, *(["df"] if result.test == "knha" else []), "pval", "ci.lb", "ci.ub"]
    rows = []
    for c in result.coefficients:
        cells = [c.name, f"{c.estimate:.4f}", f"{c.se:.4f}", f"{c.stat:.4f}"]
        if result.test == "knha":
            cells.append(str(result.df))
        cells += [_p(c.pval), f"{c.ci_lower:.4f}", f"{c.ci_upper:.4f}"]
        rows.append(cells)
    if not moderators:
        rows[0][0] = ""  # one coefficient, the pooled effect: metafor leaves its row unnamed
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines += ["", "Model results:", ""]
    for r in table:
        cells = [cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    predictive = not common and result.pi_lower is not None and result.pi_upper is not None
    if predictive:
        lines += ["", f"{pct} prediction interval: {_interval(result.pi_lower, result.pi_upper, 4)}"]
    if measure is not None and is_ratio(measure) and not moderators:
        def rep(value: float) -> float:
            return reported_float(value, measure)

        ci = _interval(rep(result.ci_lower), rep(result.ci_upper), 3)
        nat = f"{measure}: {rep(result.estimate):.3f} {ci}"
        if predictive:
            nat += f"; {pct} prediction interval {_interval(rep(result.pi_lower), rep(result.pi_upper), 3)}"
        lines += ["", nat]
    return "\n".join(lines)


def _p_relation(value: float | None) -> str:
    """'= 0.0123' or '< .0001', as metafor words the p-value of a test."""
    text = _p(value)
    return "< .0001" if text == "<.0001" else f"= {text}"


def print_table(table: Table, console: Console | None = None) -> None:
    """Print a rich table with its headers wrapped between words, never cut ("P(OR <" over "0.5)", not
    "P(OR<…"). Rich squeezes the columns of a table wider than the console and cuts words longer than their column
    with an ellipsis; here, as in rich's own collapse, the widest columns give way first, but no column becomes
    narrower than the longest word of its header and of its cells (a number is a word), so words wrap between
    lines and no character is lost. When the words cannot all fit the console (80
    columns for a pipe), the table is printed wider than the console rather than cut. Text cells are printed as
    they are, never read as rich markup."""
    from rich.console import Console
    from rich.measure import Measurement
    from rich.text import Text

    console = console or Console()
    columns = table.columns
    if not columns:
        console.print(table)
        return
    for column in columns:
        # cells are data (study, level and coefficient names such as beta[ablat]), not rich markup, which would
        # drop the bracketed part
        cells = getattr(column, "_cells", None)
        if isinstance(cells, list):
            cells[:] = [Text(cell) if isinstance(cell, str) else cell for cell in cells]
    pad = table.padding[1] + table.padding[3]
    edges = len(columns) + 1 if table.box is not None and table.show_edge else len(columns) - 1
    extra = pad * len(columns) + edges
    least, wanted = [], []
    for column in columns:
        cells = [Measurement.get(console, console.options, cell) for cell in column.cells]
        least.append(max(1, column.min_width or 0, *(len(w) for w in str(column.header).split()),
                         *(m.minimum for m in cells)))
        wanted.append(max(least[-1], len(str(column.header)), *(m.maximum for m in cells)))
        if column.overflow == "ellipsis":
            column.overflow = "fold"
    # like rich's own collapse, the widest columns give way first: every column is cut down to a common level,
    # the highest at which the table fits, but never below its longest word
    available = max(console.width - extra, sum(least))
    level = max(wanted)
    while level > 1 and sum(max(lo, min(w, level)) for lo, w in zip(least, wanted)) > available:
        level -= 1
    widths = [max(lo, min(w, level)) for lo, w in zip(least, wanted)]
    for column, width in zip(columns, widths):
        column.width = width
    need = sum(widths) + extra
    if need <= console.width:
        console.print(table)
        return
    width = console.width
    console.width = need  # Console.print cannot render wider than the console itself
    try:
        console.print(table)
    finally:
        console.width = width


def probability_header(column: str, measure: str | None = None) -> str:
    """The printed header of a probability column: 'prob_below_1' -> 'P(OR < 1)' (or 'P(< 1)' without a
    measure), 'prob_above_0.2' -> 'P(SMD > 0.2)'; other columns as they are."""
    for prefix, sign in (("prob_below_", "<"), ("prob_above_", ">")):
        if column.startswith(prefix):
            return f"P({measure + ' ' if measure else ''}{sign} {column[len(prefix):]})"
    return column
