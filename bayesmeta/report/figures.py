"""The report's figures, drawn by the plots modules from what :func:`bayesmeta.reanalysis.run_plan` computed, and
saved at journal resolution: PNG at 300 dpi, SVG and PDF side by side (each figure drawn once and saved in every
format). Nothing is computed here beyond arranging tables for the plotting functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayesmeta.plots.saving import fix_layout, png_bytes
from bayesmeta.reanalysis import OutcomeAnalysis, ReanalysisResult, clinical_threshold
from bayesmeta.report.formatting import slope_interval, stated
from bayesmeta.scales import RATIO_MEASURES, contrast_name, contrast_text, null_value, to_analysis

if TYPE_CHECKING:
    from bayesmeta.report.figure_cache import FigureStore

PNG_DPI = 300
"""Resolution of the PNG files (journals ask for at least 300 dpi for line art with shading)."""
SCREEN_DPI = 110
"""Pixels per inch of a figure's display size in the HTML report (the PNG holds more, for zooming and print)."""
DPI_RANGE = (50, 1200)
"""PNG resolutions accepted (a screen copy to print at 1200 dpi)."""
FORMATS = ("png", "svg", "pdf")
"""The report's figure formats by default: what a journal takes. The PNG is always written (the HTML report and
the Word document embed it)."""

SAVE_RC = {"svg.fonttype": "none", "svg.hashsalt": "bayesmeta", "pdf.fonttype": 42}
"""Settings read when a figure is saved: SVG text as text and the SVG's element ids from a fixed salt (not a
random one), so the same figure gives the same bytes; TrueType (Type 42) fonts in the PDF, which journals'
production systems accept where they refuse Type 3."""
METADATA = {"png": None, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
"""No creation dates in the SVG and PDF files, so the same figure gives the same bytes on every run."""


def figure_formats(formats: "Sequence[str] | str") -> tuple[str, ...]:
    """The formats to save, in the order of :data:`FORMATS`, always with PNG: from a sequence or a
    comma-separated text such as ``"png,svg"``. Raises :class:`~bayesmeta.errors.InputError` for any other."""
    from bayesmeta.errors import InputError

    items = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats)]
    items = [f for f in items if f]
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise InputError(f"unknown figure format(s) {', '.join(map(repr, bad)) or '(none given)'}",
                         valid=", ".join(FORMATS))
    return tuple(f for f in FORMATS if f in items or f == "png")


def figure_dpi(value: "int | str") -> int:
    """The PNG resolution in dots per inch, an integer within :data:`DPI_RANGE`. Raises
    :class:`~bayesmeta.errors.InputError` for any other."""
    from bayesmeta.errors import InputError

    lo, hi = DPI_RANGE
    try:
        dpi = int(str(value).strip())
    except ValueError:
        dpi = None
    if dpi is None or not lo <= dpi <= hi:
        raise InputError(f"figure resolution {value!r} is not a whole number of dots per inch in range",
                         valid=f"an integer from {lo} to {hi} (journals ask for 300)")
    return dpi


@dataclass
class FigureSpec:
    """A figure to draw: ``draw`` returns the matplotlib Figure; ``section`` is the report section it belongs
    to; ``outcome`` is the outcome it shows ('' for figures covering all outcomes)."""

    id: str
    section: str
    title: str
    caption: str
    draw: Callable[[], Figure]
    outcome: str = ""


@dataclass
class SavedFigure:
    """A figure written to disk: file names relative to the report folder ('' for a format not written), the
    PNG bytes for embedding and the display size in pixels (at :data:`SCREEN_DPI`)."""

    id: str
    section: str
    title: str
    caption: str
    outcome: str
    png: str
    svg: str
    png_bytes: bytes
    width: int
    height: int
    pdf: str = ""


def figure_name(text: str) -> str:
    """``text`` as part of a figure id (a file name): runs of characters other than letters, digits, '.', '-'
    and '_' become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "_"


# -- tables for the forest and meta-regression plots ---------------------------------------------------------
def forest_tables(a: OutcomeAnalysis, level: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Study rows (observed and shrunken) and pooled rows (posterior, predictive, REML, published)."""
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + level / 2))
    sh = a.shrinkage
    labels = a.effects.set_index("study_id")["label"]
    studies = pd.DataFrame({
        "label": [labels.get(s, s) for s in sh.index],
        "yi": sh["yi"].to_numpy(), "ci_lower": (sh["yi"] - z * sh["sei"]).to_numpy(),
        "ci_upper": (sh["yi"] + z * sh["sei"]).to_numpy(), "theta": sh["mean"].to_numpy(),
        "theta_ci_lower": sh["ci_lower"].to_numpy(), "theta_ci_upper": sh["ci_upper"].to_numpy(),
    })
    b = a.bayes
    reml = a.frequentist["reml"]
    pooled = [
        {"label": "Bayesian pooled (posterior median)", "estimate": b["mu"]["median"],
         "ci_lower": b["mu"]["ci_lower"], "ci_upper": b["mu"]["ci_upper"], "kind": "bayes"},
        {"label": "Bayesian predictive (new study)", "estimate": np.nan, "ci_lower": b["predictive"]["ci_lower"],
         "ci_upper": b["predictive"]["ci_upper"], "kind": "predictive"},
        {"label": f"Frequentist REML (k = {a.k})", "estimate": reml.estimate, "ci_lower": reml.ci_lower,
         "ci_upper": reml.ci_upper, "kind": "frequentist"},
    ]
    published = a.published
    if published and all(np.isfinite([published["estimate"], published["ci_lower"], published["ci_upper"]])):
        k = "not printed" if published["k"] is None else published["k"]
        pooled.append({"label": f"Published (k = {k})", "kind": "published",
                       **{key: to_analysis(published[column], a.plan.measure) for key, column in
                          (("estimate", "estimate"), ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper"))}})
    return studies, pd.DataFrame(pooled)


def metareg_panels(a: OutcomeAnalysis, level: float) -> list:
    from scipy import stats

    from bayesmeta.plots.metareg import MetaregPanel
    from bayesmeta.reanalysis.metaregression import factor_labels

    z = float(stats.norm.ppf(0.5 + level / 2))
    panels = []
    for m in a.metaregression:
        if not m.get("fitted") or m.get("kind") != "factor":
            continue
        column = m["covariate"]
        labels = factor_labels(a.effects[column])  # 0/1 as written; studies without a value are not in the fit
        eff, labels = a.effects[labels.notna()], labels[labels.notna()]
        studies = pd.DataFrame({
            "level": labels.astype(str).to_numpy(),
            "label": eff["label"].astype(str).to_numpy(),
            "yi": eff["yi"].to_numpy(float),
            "ci_lower": (eff["yi"] - z * eff["sei"]).to_numpy(float),
            "ci_upper": (eff["yi"] + z * eff["sei"]).to_numpy(float),
        })
        levels = pd.DataFrame(m["levels"])[["level", "median", "ci_lower", "ci_upper"]]
        notes = [f"{contrast_text(a.plan.measure, c['level'], c['reference'])}: {c['reported_median']:.2f} "
                 f"[{c['reported_ci_lower']:.2f}, {c['reported_ci_upper']:.2f}]; "
                 f"{stated(c['statement'], c['p_ratio_below_1'])}"
                 for c in m["contrasts"]]
        panels.append(MetaregPanel(covariate=column, levels=levels, studies=studies, notes=notes))
    return panels


def slope_panels(a: OutcomeAnalysis) -> list:
    """One bubble-plot panel per numeric covariate the outcome's meta-regressions fitted (a slope)."""
    from bayesmeta.plots.bubble import SlopePanel

    panels = []
    for m in a.metaregression:
        if not m.get("fitted") or m.get("kind") != "numeric":
            continue
        column = m["covariate"]
        eff = a.effects[a.effects[column].notna()]
        studies = pd.DataFrame({"label": eff["label"].astype(str).to_numpy(), "x": eff[column].to_numpy(float),
                                "yi": eff["yi"].to_numpy(float), "sei": eff["sei"].to_numpy(float)})
        c = m["contrasts"][0]
        notes = [f"{a.plan.measure} {contrast_name(a.plan.measure)} per unit of {column}: "
                 f"{slope_interval(c['reported_median'], c['reported_ci_lower'], c['reported_ci_upper'])}; "
                 f"{stated(c['statement'], c['p_ratio_below_1'])}"]
        panels.append(SlopePanel(covariate=column, studies=studies, line=pd.DataFrame(m["line"]), notes=notes))
    return panels


def interaction_panels(result: ReanalysisResult) -> dict[tuple[str, str, str], list]:
    """The within-trial interactions with contributing trials, one panel per level, grouped by (outcome,
    characteristic, measure): the trials' d_i and v_i and the common-effect, REML and Bayesian poolings."""
    from bayesmeta.plots.interaction import InteractionPanel
    from bayesmeta.report.formatting import num

    grouped: dict[tuple[str, str, str], list] = {}
    for i in result.interactions:
        if not i.k:
            continue
        pooled = [("Common effect", i.common.estimate, i.common.ci_lower, i.common.ci_upper),
                  (f"Random effects (REML, tau² = {num(i.random.tau2, 3)})", i.random.estimate, i.random.ci_lower,
                   i.random.ci_upper)]
        if i.posterior is not None:
            pooled.append(("Bayesian (posterior median)", i.posterior["median"], i.posterior["ci_lower"],
                           i.posterior["ci_upper"]))
        if i.joint is not None:
            pooled.append((f"All levels jointly (common effect, {i.joint['k']} trials)", i.joint["estimate"],
                           i.joint["ci_lower"], i.joint["ci_upper"]))
        notes = [stated(f"P({i.level} better than {i.reference})", i.prob_level_better)] \
            if i.prob_level_better is not None else []
        grouped.setdefault((i.outcome, i.variable, i.measure), []).append(InteractionPanel(
            title=f"{i.level} / {i.reference}" if i.measure in RATIO_MEASURES else f"{i.level} - {i.reference}",
            trials=i.trials, d=i.d, v=i.v, pooled=pooled, notes=notes))
    return grouped


def density_panels(result: ReanalysisResult) -> list:
    from bayesmeta.plots.density import DensityPanel

    panels = []
    for a in result.outcomes.values():
        if not a.density:
            continue
        o = a.plan
        lines = sorted({null_value(o.measure), clinical_threshold(o)})
        notes = [stated(p["statement"], p["probability"]) for p in a.bayes["probabilities"]
                 if p["parameter"] == "mu"]
        panels.append(DensityPanel(
            title=f"{o.label} ({o.name}, k = {a.k})", measure=o.measure, grid=a.density["grid"],
            curves={"pooled effect (mu)": a.density["mu"], "new study (predictive)": a.density["predictive"]},
            kinds={"pooled effect (mu)": "mu", "new study (predictive)": "predictive"},
            thresholds=lines, notes=notes, shade_beyond=lines[0] if o.benefit.below else lines[-1],
            benefit=o.benefit,
        ))
    return panels


# -- the list of figures -------------------------------------------------------------------------------------
def figure_specs(result: ReanalysisResult) -> list[FigureSpec]:
    """Every figure of the report, in the order of the report's sections."""
    from bayesmeta.plots.bubble import plot_bubble
    from bayesmeta.plots.density import plot_densities
    from bayesmeta.plots.forest import plot_forest
    from bayesmeta.plots.funnel import plot_funnel
    from bayesmeta.plots.interaction import plot_interactions
    from bayesmeta.plots.metareg import plot_metaregression
    from bayesmeta.plots.monitoring import plot_monitoring
    from bayesmeta.plots.ppc import plot_loo_pit, plot_predictive_intervals
    from bayesmeta.plots.reinterpret import plot_reinterpretation
    from bayesmeta.plots.sensitivity import plot_influence, plot_power_scaling, plot_prior_grid

    level = result.plan.level
    fitted = [a for a in result.outcomes.values() if a.bayes]
    specs: list[FigureSpec] = []
    for a in fitted:
        o = a.plan
        favours = result.plan.favours(o.benefit)
        specs.append(FigureSpec(
            f"forest_{o.name}", "forest", f"Forest plot: {o.label}",
            f"Observed study estimates (black) and their shrunken posterior effects (blue); the pooled posterior, "
            f"the {100 * level:g}% predictive interval for a new study, the recomputed REML estimate and the "
            f"published estimate.",
            lambda a=a, favours=favours: plot_forest(*forest_tables(a, level), measure=a.plan.measure,
                                                     thresholds=a.plan.thresholds, level=level,
                                                     title=f"{a.plan.label} ({a.plan.measure})", favours=favours),
            o.name))
    for (outcome, variable, measure), ip in interaction_panels(result).items():
        label = result.outcomes[outcome].plan.label if outcome in result.outcomes else outcome
        specs.append(FigureSpec(
            f"interaction_{outcome}_{figure_name(variable)}", "comparison",
            f"Within-trial interactions: {label}, by {variable}",
            f"Each trial's own difference between the levels of {variable} (grey squares, area by weight, with "
            f"{100 * level:g}% intervals) and their pooling by common effect, random effects (REML) and the exact "
            f"Bayesian model (diamonds).",
            lambda ip=ip, measure=measure, label=label, variable=variable: plot_interactions(
                ip, measure=measure, level=level, title=f"{label}: within-trial interactions by {variable}"),
            outcome))
    panels = density_panels(result)
    if panels:
        specs.append(FigureSpec(
            "densities", "densities", "Posterior densities",
            "Posterior density of the pooled effect (shaded beyond the clinical threshold) and of a new study's "
            "effect, with lines at the clinical threshold and at no effect.",
            lambda: plot_densities(panels), ""))
    for a in fitted:
        mp = metareg_panels(a, level)
        if mp:
            specs.append(FigureSpec(
                f"metareg_{a.name}", "metaregression", f"Meta-regression: {a.plan.label}",
                "Pooled effect at each covariate level (posterior median and interval, diamonds) with the "
                "studies of that level; one panel per covariate with enough studies per level.",
                lambda a=a, mp=mp: plot_metaregression(mp, measure=a.plan.measure, level=level,
                                                       title=f"{a.plan.label}: effect by study characteristic"),
                a.name))
    for a in fitted:
        sp = slope_panels(a)
        if sp:
            specs.append(FigureSpec(
                f"bubble_{a.name}", "metaregression", f"Meta-regression on numeric covariates: {a.plan.label}",
                f"Each study's effect against the covariate (circle area proportional to its weight 1/se²), with the "
                f"posterior median of the pooled effect at each value of the covariate and its {100 * level:g}% "
                f"credible band; one panel per numeric covariate.",
                lambda a=a, sp=sp: plot_bubble(sp, measure=a.plan.measure, level=level,
                                               title=f"{a.plan.label}: effect along numeric covariates"),
                a.name))
    for a in fitted:
        table = a.ppc.get("studies")
        if table is not None:
            specs.append(FigureSpec(
                f"ppc_studies_{a.name}", "ppc", f"Posterior predictive intervals: {a.plan.label}",
                "Each study's observed estimate against its posterior predictive interval (and the leave-one-out "
                "interval), with the two-sided LOO p-value.",
                lambda a=a, table=table: plot_predictive_intervals(table, measure=a.plan.measure,
                                                                  title=f"{a.plan.label}: predictive check"),
                a.name))
        pit = a.ppc.get("loo_pit")
        if pit is not None:
            specs.append(FigureSpec(
                f"loo_pit_{a.name}", "ppc", f"LOO-PIT: {a.plan.label}",
                f"Empirical CDF of the leave-one-out PIT values of the k = {a.k} studies against the uniform CDF "
                f"(dashed), with the pointwise {100 * level:g}% band of the ECDF of {a.k} uniform values; an S "
                f"shape means the predictive intervals are too narrow or too wide.",
                lambda a=a, pit=pit: plot_loo_pit(pit["loo_pit"].to_numpy(float), band=a.ppc.get("loo_pit_band"),
                                                  title=f"{a.plan.label}: LOO-PIT"),
                a.name))
    for a in fitted:
        grid = a.sensitivity.get("grid")
        if grid is not None:
            lines = sorted({null_value(a.plan.measure), clinical_threshold(a.plan)})
            column = _probability_column(grid, clinical_threshold(a.plan))
            specs.append(FigureSpec(
                f"prior_grid_{a.name}", "sensitivity", f"Prior sensitivity: {a.plan.label}",
                "Pooled effect and predictive interval under each prior set crossed with half-normal "
                "heterogeneity priors; on the right, the probability of a clinically important benefit.",
                lambda a=a, grid=grid, lines=lines, column=column: plot_prior_grid(
                    grid, measure=a.plan.measure, lines=lines, probability_column=column,
                    title=f"{a.plan.label}: prior sensitivity"),
                a.name))
        power = a.sensitivity.get("power_scaling")
        if power is not None:
            threshold = float(power.attrs.get("threshold", 0.05))
            specs.append(FigureSpec(
                f"power_scaling_{a.name}", "sensitivity", f"Power-scaling sensitivity: {a.plan.label}",
                f"Change of each parameter's posterior (cumulative Jensen-Shannon distance per log2 of the power) "
                f"when the prior or the likelihood is raised to a power near 1 (Kallioinen et al. 2024); values "
                f"beyond the dashed line at {threshold:g} flag sensitivity, with the diagnosis written beside it.",
                lambda a=a, power=power, threshold=threshold: plot_power_scaling(
                    power, threshold=threshold, title=a.plan.label),
                a.name))
    for a in fitted:
        if a.influence is not None:
            lines = sorted({null_value(a.plan.measure), clinical_threshold(a.plan)})
            specs.append(FigureSpec(
                f"influence_{a.name}", "influence", f"Influence: {a.plan.label}",
                "Pooled effect with each study left out, against the posterior from all studies.",
                lambda a=a, lines=lines: plot_influence(a.influence, a.influence.attrs["full"],
                                                        measure=a.plan.measure, lines=lines,
                                                        title=f"{a.plan.label}: leave one study out"),
                a.name))
    table = result.reinterpretation
    if table is not None and not table.empty:  # the figure's axis is a log ratio axis: ratio rows only
        table = table[table["measure"].isin(RATIO_MEASURES)]
    if table is not None and not table.empty:
        specs.append(FigureSpec(
            "reinterpretation", "reinterpretation", "Published ratios under reference priors",
            "Every published ratio with a CI (pooled, regimen, subgroup and prognostic-factor rows): the published "
            "estimate and CI (black) and the posterior median and credible interval under each reference prior, "
            "on a log axis with lines at 1 (dashed) and at the MCID (dotted); on the right, the posterior "
            "probability of benefit (ratio below 1, or above 1 where benefit is a ratio above 1) under the "
            "skeptical prior.",
            lambda: plot_reinterpretation(table, title="Published ratios under reference priors"), ""))
    for a in fitted:
        if a.monitoring is not None:
            t = a.tsa
            specs.append(FigureSpec(
                f"monitoring_{a.name}", "monitoring", f"Sequential monitoring: {a.plan.label}",
                f"Posterior of the pooled effect as studies accrue "
                f"({'by year' if result.plan.monitoring.order == 'year' else 'in file order'}), with the decision "
                "probabilities" + (", beside the trial sequential analysis Z-curve and its boundaries." if t
                                   is not None else "."),
                lambda a=a, t=t: plot_monitoring(
                    a.monitoring.table, measure=a.plan.measure, level=result.plan.level,
                    benefit_prob=result.plan.monitoring.benefit_probability,
                    futility_prob=result.plan.monitoring.futility_probability,
                    tsa=None if t is None else _tsa_curve(t),
                    boundary=None if t is None else t.boundaries.to_frame(),
                    ris_label=None if t is None else f"RIS = {t.ris_rounded} {t.unit}",
                    title=f"{a.plan.label}: monitoring" + (" vs TSA" if t is not None else "")),
                a.name))
    specs += _bias_specs(fitted, level)
    funnel = [a for a in fitted if a.k >= 3]
    if funnel:
        specs.append(FigureSpec(
            "funnel", "funnel", "Funnel plots",
            "Study estimates against their standard errors with the REML pooled estimate and the 95% pseudo-"
            "confidence region; Egger's test in each panel.",
            lambda: _funnel_figure(funnel, level, plot_funnel), ""))
    return specs


def _bias_specs(fitted: list[OutcomeAnalysis], level: float) -> list[FigureSpec]:
    """Per outcome with a [bias] ensemble: the funnel plot with the ensemble's fitted PET, PEESE and selection
    curves and trim-and-fill's filled studies, the model-probability figure, and the averaged posterior of the
    effect beside the unadjusted one."""
    from bayesmeta.plots.bias import plot_model_probabilities
    from bayesmeta.plots.funnel import plot_funnel

    specs = []
    for a in fitted:
        if a.bias is None:
            continue
        curves = a.bias.get("curves") or {}
        shown = [c for c in ("PET", "PEESE", "selection") if c in curves]
        what = {"PET": "PET (mu + b se)", "PEESE": "PEESE (mu + b se^2)",
                "selection": "the selection models' expected estimate (the mean of a study's weighted "
                             "distribution given its standard error)"}
        specs.append(FigureSpec(
            f"bias_funnel_{a.name}", "bias", f"Funnel plot with bias adjustments: {a.plan.label}",
            "Study estimates against their standard errors with the REML pooled estimate, the studies "
            "trim-and-fill adds (open circles) and the ensemble's posterior mean expected estimate given the "
            "standard error under "
            + (", ".join(what[c] for c in shown) if shown else "no bias model")
            + ", each averaged over its models with their posterior probabilities (the value at standard error "
            "0 is that class's bias-adjusted effect).",
            lambda a=a: _bias_funnel(a, level, plot_funnel), a.name))
        notes = [f"inclusion BF {c}: {_bf_text(i['bf'])}" for c, i in a.bias["inclusion"].items()]
        specs.append(FigureSpec(
            f"bias_models_{a.name}", "bias", f"Model probabilities: {a.plan.label}",
            f"Prior (grey) and posterior (blue) probability of each model of the {a.bias['ensemble']} ensemble "
            "(H0/H1: effect absent/present; FE/RE: heterogeneity absent/present; then the bias component), with "
            "the inclusion Bayes factors.",
            lambda a=a, notes=notes: plot_model_probabilities(
                a.bias["models"], notes=notes, title=f"{a.plan.label}: model averaging"), a.name))
        if a.bias.get("density"):
            specs.append(FigureSpec(
                f"bias_posterior_{a.name}", "bias", f"Model-averaged and unadjusted effect: {a.plan.label}",
                f"Posterior density of the pooled effect averaged over every model of the {a.bias['ensemble']} "
                "ensemble (solid; its point mass at no effect, from the models without an effect, as the stem) "
                "and averaged over the models with an effect and without bias (unadjusted, dashed); lines at no "
                "effect and at the clinical threshold.",
                lambda a=a: _bias_posterior(a, level), a.name))
    return specs


def _bf_text(bf: float | None) -> str:
    return "inf" if bf is None or not np.isfinite(bf) else f"{bf:.3g}"


CURVE_STYLE = {"PET": "-.", "PEESE": ":", "selection": "--"}


def _bias_funnel(a: OutcomeAnalysis, level: float, plot_funnel) -> Figure:
    from matplotlib import rc_context

    from bayesmeta.plots import style
    from bayesmeta.plots.funnel import FunnelCurve

    tf = a.frequentist.get("trimfill")
    c = a.bias.get("curves") or {}
    curves = [FunnelCurve(f"{kind}, posterior mean (posterior probability {c[kind]['post_prob']:.2f})", c["se"],
                          c[kind]["curve"], style.BAYES if kind != "selection" else style.LEVELS[2],
                          CURVE_STYLE[kind])
              for kind in ("PET", "PEESE", "selection") if kind in c]
    with rc_context(style.RC):
        fig = Figure(figsize=(style.WIDTH, 3.6), layout="constrained")
        ax = fig.add_subplot()
    plot_funnel(a.effects["yi"], a.effects["sei"], pooled=a.frequentist["reml"].estimate, measure=a.plan.measure,
                level=level, title=f"{a.plan.label} (k = {a.k})", curves=curves, ax=ax,
                filled_yi=() if tf is None else tf.filled_yi, filled_sei=() if tf is None else np.sqrt(tf.filled_vi))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=style.FONT_SIZE - 1)
    return fig


def _bias_posterior(a: OutcomeAnalysis, level: float) -> Figure:
    from bayesmeta.plots.bias import plot_bias_posteriors

    b, d = a.bias, a.bias["density"]
    m = a.plan.measure
    notes = []
    for key, name in (("mu", "averaged"), ("mu_unadjusted", "unadjusted")):
        if b.get(key):
            r = b[key]["reported"]
            notes.append(f"{name}: {r['median']:.2f} [{r['ci_lower']:.2f}, {r['ci_upper']:.2f}]")
    return plot_bias_posteriors(
        d["x"], {"model-averaged": d["mu"], "unadjusted (no bias, effect present)": d["mu_unadjusted"]},
        measure=m, atom=float(b["mu_atom_at_0"]), lines=[clinical_threshold(a.plan)],
        notes=[f"median [{100 * level:g}% CrI]", *notes], title=f"{a.plan.label}: averaged vs unadjusted")


def _probability_column(grid: pd.DataFrame, threshold: float) -> str | None:
    """The prior-grid column holding P(benefit beyond ``threshold``)."""
    for column in grid.columns:
        if str(column).startswith("prob_") and abs(float(str(column).rsplit("_", 1)[1]) - threshold) < 1e-9:
            return str(column)
    return None


def _tsa_curve(t) -> pd.DataFrame:
    curve = t.curve
    out = pd.DataFrame({"information_fraction": curve["fraction"], "z": curve["z"], "upper": curve["efficacy"],
                        "lower": -curve["efficacy"]})
    if "futility" in curve.columns and curve["futility"].notna().any():
        out["futility_upper"] = curve["futility"]
        out["futility_lower"] = -curve["futility"]
    return out


def _funnel_figure(analyses: list[OutcomeAnalysis], level: float, plot_funnel) -> Figure:
    from matplotlib import rc_context

    from bayesmeta.plots import style

    ncols = 2 if len(analyses) > 1 else 1
    nrows = int(np.ceil(len(analyses) / ncols))
    with rc_context(style.RC):
        fig = Figure(figsize=(style.WIDTH, 3.3 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[len(analyses):]:
            ax.set_visible(False)
        for ax, a in zip(axes, analyses):
            egger = a.frequentist.get("egger")
            notes = [] if egger is None else [f"Egger intercept {egger.intercept:.2f}, p = {egger.pval:.3f}"
                                              + (f" (k < {egger.min_k}: descriptive)" if egger.below_min_k else "")]
            plot_funnel(a.effects["yi"], a.effects["sei"], pooled=a.frequentist["reml"].estimate,
                        labels=a.effects["label"].astype(str).str.split().str[0].tolist(), measure=a.plan.measure,
                        level=level, notes=notes, title=f"{a.plan.label} (k = {a.k})", ax=ax)
    return fig


# -- saving --------------------------------------------------------------------------------------------------
def _save_one(spec: FigureSpec, folder: Path, formats: Sequence[str] = FORMATS,
              dpi: int = PNG_DPI) -> tuple[bytes, int, int]:
    """Draw ``spec`` and write ``<id>.<format>`` for each of ``formats`` (PNG first, at ``dpi``); returns the PNG
    bytes and the display size in pixels at :data:`SCREEN_DPI`. See :func:`fix_layout`: the layout is computed
    once, and each format is then drawn once."""
    from matplotlib import rc_context

    fig = spec.draw()
    with rc_context(SAVE_RC):
        fix_layout(fig, dpi)
        png = png_bytes(fig, dpi)
        (folder / f"{spec.id}.png").write_bytes(png)
        for fmt in formats:
            if fmt != "png":
                fig.savefig(folder / f"{spec.id}.{fmt}", format=fmt, metadata=METADATA[fmt])
    width, height = (int(round(v * SCREEN_DPI)) for v in fig.get_size_inches())
    return png, width, height


class FigureJob:
    """Figures drawn and saved into ``folder`` as soon as the job is created (in this process: the reanalysis
    creates it while its NUTS worker process is busy, so the two overlap); :meth:`result` returns the saved
    figures in the order of ``specs``. ``formats``: the files written per figure (:func:`figure_formats`; PNG
    always, at ``dpi``). With ``store`` (:class:`~bayesmeta.report.figure_cache.FigureStore`), a figure whose inputs are
    unchanged is copied from it (every format) instead of drawn."""

    def __init__(self, specs: list[FigureSpec], folder: Path, store: FigureStore | None = None,
                 formats: Sequence[str] = FORMATS, dpi: int = PNG_DPI) -> None:
        self.specs, self.folder, self.store, self.dpi = specs, folder, store, dpi
        self.formats = figure_formats(formats)
        folder.mkdir(parents=True, exist_ok=True)
        if store is None:
            self.drawn = [_save_one(spec, folder, self.formats, dpi) for spec in specs]
        else:
            draw = (lambda spec, target, formats: _save_one(spec, target, formats, dpi))
            self.drawn = [store.save(spec, folder, dpi, draw, self.formats) for spec in specs]
            store.tidy()

    def file(self, spec: FigureSpec, fmt: str) -> str:
        """The report-relative name of one of the figure's files ('' when that format is not written)."""
        return f"{self.folder.name}/{spec.id}.{fmt}" if fmt in self.formats else ""

    def result(self) -> list[SavedFigure]:
        return [SavedFigure(spec.id, spec.section, spec.title, spec.caption, spec.outcome, self.file(spec, "png"),
                            self.file(spec, "svg"), png, width, height, self.file(spec, "pdf"))
                for spec, (png, width, height) in zip(self.specs, self.drawn)]

    def cancel(self) -> None:
        """Nothing runs in the background; kept so a writer can abort uniformly."""


def save_figures(specs: list[FigureSpec], folder: Path, formats: Sequence[str] = FORMATS) -> list[SavedFigure]:
    """Draw each figure and write ``<id>.png``, ``<id>.svg`` and ``<id>.pdf`` (or ``formats``) into ``folder``
    (see :class:`FigureJob`)."""
    return FigureJob(specs, folder, formats=formats).result()
