"""Structure of every figure: what each plotting function draws is read back from the artists and compared with
the inputs (study estimates and intervals, exact posteriors, TSA boundaries): the axes, their scale and limits,
one row or marker per study in the input order, labels naming the measure and the outcome, the null and
threshold lines, the 'favours' sides and the legend entries.

Inputs: the first six BCG trials (tests/reference/bcg.csv, log risk ratios) with their exact posterior, and the
eight-schools data (tests/reference/eight_schools.csv) as a difference measure. The plotting functions return
bare matplotlib Figures (never registered with pyplot, so there is nothing to close); an Agg canvas is attached
only where text extents are measured.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import same_color
from scipy import stats

from bayesmeta.benefit import Benefit
from bayesmeta.exact import fit_exact
from bayesmeta.frequentist import rma
from bayesmeta.plan import Arms, Plan
from bayesmeta.plots import style
from bayesmeta.plots.density import DensityPanel, plot_densities
from bayesmeta.plots.forest import plot_forest
from bayesmeta.plots.funnel import plot_funnel
from bayesmeta.plots.metareg import MetaregPanel, plot_metaregression
from bayesmeta.plots.monitoring import plot_monitoring
from bayesmeta.plots.ppc import plot_loo_pit, plot_predictive_intervals, plot_q_discrepancy
from bayesmeta.plots.sensitivity import plot_influence, plot_power_scaling, plot_prior_grid

REFERENCE = Path(__file__).resolve().parent / "reference"
Z95 = float(stats.norm.ppf(0.975))
MU_PRIOR, TAU_PRIOR = "normal(0, 4)", "halfnormal(0.5)"


# -- inputs ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bcg():
    """Six BCG trials (log RR) and their exact posterior."""
    d = pd.read_csv(REFERENCE / "bcg.csv").head(6)
    y, sei = d["yi"].to_numpy(float), np.sqrt(d["vi"].to_numpy(float))
    labels = [str(s) for s in d["study"]]
    post = fit_exact(y, sei, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, study=labels, measure="RR")
    return SimpleNamespace(y=y, sei=sei, vi=sei**2, labels=labels, post=post)


@pytest.fixture(scope="module")
def schools():
    d = pd.read_csv(REFERENCE / "eight_schools.csv")
    y, sei = d["yi"].to_numpy(float), d["sei"].to_numpy(float)
    labels = [str(s) for s in d["study"]]
    post = fit_exact(y, sei, mu_prior="normal(0, 100)", tau_prior="halfnormal(10)", study=labels, measure="MD")
    return SimpleNamespace(y=y, sei=sei, labels=labels, post=post)


def forest_input(data, published: tuple[float, float, float] | None = None):
    """The two tables plot_forest takes, built as the report builds them (analysis scale)."""
    sh = data.post.shrinkage(0.95)
    studies = pd.DataFrame({
        "label": data.labels, "yi": data.y, "ci_lower": data.y - Z95 * data.sei,
        "ci_upper": data.y + Z95 * data.sei, "theta": sh["mean"].to_numpy(),
        "theta_ci_lower": sh["ci_lower"].to_numpy(), "theta_ci_upper": sh["ci_upper"].to_numpy(),
    })
    mu, new = data.post.marginal("mu"), data.post.marginal("predictive")
    reml = rma(data.y, data.sei**2, "REML")
    rows = [
        ("Bayesian pooled", mu.median(), *mu.interval(0.95), "bayes"),
        ("Bayesian predictive", np.nan, *new.interval(0.95), "predictive"),
        ("Frequentist REML", reml.estimate, reml.ci_lower, reml.ci_upper, "frequentist"),
    ]
    if published is not None:
        rows.append(("Published", *published, "published"))
    pooled = pd.DataFrame(rows, columns=["label", "estimate", "ci_lower", "ci_upper", "kind"])
    return studies, pooled


# -- reading artists back ----------------------------------------------------------------------------------------
def drawn(fig):
    """A figure drawn on an Agg canvas (text extents need a renderer)."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig


def vertical_lines(ax) -> list:
    """Lines spanning the axes height (axvline): xdata constant, ydata (0, 1) in axes coordinates."""
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and ln.get_xdata()[0] == ln.get_xdata()[1]
            and list(ln.get_ydata()) == [0, 1]]


def horizontal_lines(ax) -> list:
    """Lines spanning the axes width (axhline)."""
    return [ln for ln in ax.get_lines() if len(ln.get_ydata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1]
            and list(ln.get_xdata()) == [0, 1]]


def vline_at(ax, x: float):
    found = [ln for ln in vertical_lines(ax) if np.isclose(float(ln.get_xdata()[0]), x, rtol=1e-9)]
    assert len(found) == 1, f"expected one vertical line at {x}, found {len(found)}"
    return found[0]


def hline_at(ax, y: float, rtol: float = 1e-9):
    found = [ln for ln in horizontal_lines(ax) if np.isclose(float(ln.get_ydata()[0]), y, rtol=rtol)]
    assert len(found) == 1, f"expected one horizontal line at {y}, found {len(found)}"
    return found[0]


def markers(ax, marker: str, colour: str | None = None) -> list:
    """Point markers (non-empty lines without a connecting line) of one marker style (and colour)."""
    return [ln for ln in ax.get_lines() if ln.get_marker() == marker and len(ln.get_xdata())
            and ln.get_linestyle() in ("None", "") and (colour is None or same_color(ln.get_color(), colour))]


def segments(ax, colour: str) -> list[np.ndarray]:
    """Horizontal intervals (two-point lines, plot or hlines) of one colour as [[x0, y], [x1, y]] arrays."""
    out = [np.column_stack([ln.get_xdata(), ln.get_ydata()]).astype(float) for ln in ax.get_lines()
           if len(ln.get_xdata()) == 2 and same_color(ln.get_color(), colour) and ln.get_marker() in ("None", "")
           and ln.get_ydata()[0] == ln.get_ydata()[1] and list(ln.get_xdata()) != [0, 1]]
    for coll in ax.collections:
        if isinstance(coll, LineCollection) and same_color(coll.get_color()[0], colour):
            out += [np.asarray(s, float) for s in coll.get_segments()]
    return out


def near(items: list[np.ndarray], row: float, half: float = 0.45) -> list[np.ndarray]:
    return [s for s in items if abs(s[0, 1] - row) < half]


def tick_labels(ax, axis: str = "y") -> list[str]:
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks]


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, "no legend"
    return [t.get_text() for t in legend.get_texts()]


def covers(ax, values, axis: str = "x") -> None:
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    values = np.asarray(values, float)
    assert lo <= values.min() and values.max() <= hi, f"limits [{lo}, {hi}] miss [{values.min()}, {values.max()}]"


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def fmt(est: float, lo: float, hi: float) -> str:
    return f"{est:.2f} [{lo:.2f}, {hi:.2f}]"


# -- forest ----------------------------------------------------------------------------------------------------
def test_forest_draws_one_observed_and_one_shrunken_row_per_study_on_a_log_ratio_axis(bcg):
    studies, pooled = forest_input(bcg, published=(np.log(0.49), np.log(0.34), np.log(0.70)))
    fig = plot_forest(studies, pooled, measure="RR", thresholds=(0.7, 1.0), title="Tuberculosis (RR)")
    assert len(fig.axes) == 2
    ax, ax_text = fig.axes
    k = len(bcg.labels)
    assert tick_labels(ax) == bcg.labels + list(pooled["label"])
    rows = list(ax.get_yticks())
    assert rows == sorted(rows, reverse=True)  # first study at the top

    observed_marks = markers(ax, "s", style.OBSERVED)
    shrunk_marks = markers(ax, "o", style.BAYES)
    assert len(observed_marks) == k and len(shrunk_marks) == k
    sh = bcg.post.shrinkage(0.95)
    observed, shrunken = segments(ax, style.OBSERVED), segments(ax, style.BAYES)
    for i, row in enumerate(rows[:k]):
        (mark,) = [m for m in observed_marks if abs(m.get_ydata()[0] - row) < 0.45]
        assert mark.get_xdata()[0] == pytest.approx(np.exp(bcg.y[i]), rel=1e-12)
        (seg,) = near(observed, row)
        np.testing.assert_allclose(seg[:, 0], np.exp(bcg.y[i] + np.array([-1, 1]) * Z95 * bcg.sei[i]), rtol=1e-12)
        (mark,) = [m for m in shrunk_marks if abs(m.get_ydata()[0] - row) < 0.45]
        assert mark.get_xdata()[0] == pytest.approx(np.exp(sh["mean"].iloc[i]), rel=1e-12)
        (seg,) = near(shrunken, row)
        np.testing.assert_allclose(seg[:, 0], np.exp(sh[["ci_lower", "ci_upper"]].iloc[i]), rtol=1e-12)

    # Pooled rows: a diamond at every pooled estimate, none for the predictive interval.
    diamonds = markers(ax, "D")
    assert sorted(m.get_xdata()[0] for m in diamonds) == pytest.approx(
        sorted(np.exp(pooled["estimate"].dropna())), rel=1e-12)
    mu_lo, mu_hi = bcg.post.marginal("mu").interval(0.95)
    (bayes,) = near(segments(ax, style.BAYES), rows[k])
    np.testing.assert_allclose(bayes[:, 0], np.exp([mu_lo, mu_hi]), rtol=1e-12)
    (pred,) = near(segments(ax, style.PREDICTIVE), rows[k + 1])
    np.testing.assert_allclose(pred[:, 0], np.exp(bcg.post.marginal("predictive").interval(0.95)), rtol=1e-12)

    assert ax.get_xscale() == "log"
    columns = ["ci_lower", "ci_upper", "theta_ci_lower", "theta_ci_upper"]
    every = np.exp(np.concatenate([studies[columns].to_numpy().ravel(),
                                   pooled[["ci_lower", "ci_upper"]].to_numpy().ravel()]))
    covers(ax, [*every, 0.7, 1.0])
    assert same_color(vline_at(ax, 1.0).get_color(), style.NULL_LINE)
    assert vline_at(ax, 0.7).get_linestyle() == ":"
    assert "RR" in ax.get_xlabel() and "95%" in ax.get_xlabel() and "log" in ax.get_xlabel()
    assert fig.get_suptitle() == "Tuberculosis (RR)"
    assert legend_labels(ax) == ["observed", "shrunken (posterior)"]

    printed = [t.get_text() for t in ax_text.texts]
    for i in range(k):
        assert fmt(*np.exp([bcg.y[i], bcg.y[i] - Z95 * bcg.sei[i], bcg.y[i] + Z95 * bcg.sei[i]])) in printed
    assert fmt(0.49, 0.34, 0.70) in printed


def test_forest_shows_requested_thresholds_outside_the_data(bcg):
    """All six BCG intervals lie below RR 3.6: a requested line at 5 is still drawn and in view."""
    studies, pooled = forest_input(bcg)
    ax = plot_forest(studies, pooled, measure="RR", thresholds=(5.0,)).axes[0]
    assert vline_at(ax, 5.0).get_linestyle() == ":"
    covers(ax, [5.0])


@pytest.mark.parametrize("benefit", [Benefit.BELOW, Benefit.ABOVE])
def test_forest_favours_labels_sit_on_the_side_of_benefit(bcg, benefit):
    studies, pooled = forest_input(bcg)
    plan = SimpleNamespace(arms=Arms(treatment="vaccine", control="no vaccine"))
    favours = Plan.favours(plan, benefit)
    ax = drawn(plot_forest(studies, pooled, measure="RR", favours=favours)).axes[0]
    null_px = ax.transData.transform((1.0, 0.0))[0]
    renderer = ax.figure.canvas.get_renderer()
    (treat,) = [t for t in ax.texts if "favours vaccine" in t.get_text()]
    (control,) = [t for t in ax.texts if "favours no vaccine" in t.get_text()]
    left, right = (treat, control) if benefit.below else (control, treat)
    assert left.get_window_extent(renderer).x1 <= null_px + 0.5
    assert right.get_window_extent(renderer).x0 >= null_px - 0.5
    assert "\u2190" in left.get_text() and "\u2192" in right.get_text()


def test_forest_of_a_difference_is_linear_with_the_null_at_zero(schools):
    studies, pooled = forest_input(schools)
    fig = plot_forest(studies, pooled, measure="MD", thresholds=(10.0,), title="SAT coaching (MD)")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    assert tick_labels(ax)[: len(schools.labels)] == schools.labels
    assert len(markers(ax, "s", style.OBSERVED)) == len(schools.labels)
    every = [*studies[["ci_lower", "ci_upper", "theta_ci_lower", "theta_ci_upper"]].to_numpy().ravel(),
             *pooled[["ci_lower", "ci_upper"]].to_numpy().ravel(), 10.0]
    covers(ax, every)
    lo, hi = ax.get_xlim()
    assert lo < min(every) and hi > max(every)  # a margin: no interval ends on the frame
    vline_at(ax, 0.0)
    assert vline_at(ax, 10.0).get_linestyle() == ":"
    assert ax.get_xlabel().startswith("MD") and "log" not in ax.get_xlabel()
    printed = [t.get_text() for t in fig.axes[1].texts]
    assert fmt(28.39, 28.39 - Z95 * 14.9, 28.39 + Z95 * 14.9) in printed


def test_forest_names_missing_columns(bcg):
    studies, pooled = forest_input(bcg)
    with pytest.raises(ValueError, match="theta_ci_lower"):
        plot_forest(studies.drop(columns="theta_ci_lower"), pooled)


# -- posterior densities -------------------------------------------------------------------------------------------
def density_panel(data, measure, thresholds, benefit=Benefit.BELOW, title="panel"):
    mu, new = data.post.marginal("mu"), data.post.marginal("predictive")
    grid = np.linspace(float(new.ppf(0.0005)), float(new.ppf(0.9995)), 801)
    return DensityPanel(
        title=title, measure=measure, grid=grid,
        curves={"pooled effect (mu)": mu.pdf(grid), "new study (predictive)": new.pdf(grid)},
        kinds={"pooled effect (mu)": "mu", "new study (predictive)": "predictive"},
        thresholds=thresholds, notes=["P(RR < 1) = 0.99"],
        shade_beyond=benefit.most_demanding(thresholds), benefit=benefit)


def test_density_curves_are_the_posterior_densities_and_integrate_to_one(bcg, schools):
    panels = [density_panel(bcg, "RR", (0.7, 1.0), title="Tuberculosis (RR, k = 6)"),
              density_panel(schools, "MD", (0.0, 10.0), benefit=Benefit.ABOVE, title="SAT coaching (MD, k = 8)"),
              density_panel(bcg, "RR", (1.0, 1.25), benefit=Benefit.ABOVE, title="third")]
    fig = plot_densities(panels, ncols=2, title="Posterior densities")
    assert len(fig.axes) == 4 and [ax.get_visible() for ax in fig.axes] == [True, True, True, False]
    assert fig.get_suptitle() == "Posterior densities"
    for ax, panel, data in zip(fig.axes, panels, (bcg, schools, bcg)):
        assert ax.get_title() == panel.title
        assert legend_labels(ax) == list(panel.curves)
        ratio = panel.measure == "RR"
        assert ax.get_xscale() == ("log" if ratio else "linear")
        assert panel.measure in ax.get_xlabel()
        assert ("log" in ax.get_ylabel()) == ratio
        curves = [ln for ln in ax.get_lines() if ln.get_label() in panel.curves]
        for line, name in zip(curves, ("mu", "predictive")):
            x, dens = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
            t = np.log(x) if ratio else x  # the density is of the analysis-scale effect
            assert np.trapezoid(dens, t) == pytest.approx(1.0, abs=2e-3)
            for i in (100, 400, 650):
                assert dens[i] == pytest.approx(float(data.post.marginal(name).pdf(t[i])), rel=1e-9)
        for v in panel.thresholds:
            line = vline_at(ax, v)
            is_null = v == style.null_value(panel.measure)
            assert same_color(line.get_color(), style.NULL_LINE if is_null else style.THRESHOLD)
        covers(ax, panel.thresholds)
        assert any("P(RR < 1) = 0.99" in t.get_text() for t in ax.texts)


def test_density_shades_the_benefit_side_with_the_posterior_probability(bcg):
    for below, cut in ((True, 0.5), (False, 0.5)):
        panel = density_panel(bcg, "RR", (cut, 1.0), benefit=Benefit.BELOW if below else Benefit.ABOVE)
        panel.shade_beyond = cut
        ax = plot_densities([panel]).axes[0]
        (shade,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
        area = 0.0
        for path in shade.get_paths():
            x, yv = np.log(path.vertices[:, 0]), path.vertices[:, 1]
            assert (x.max() <= np.log(cut) + 1e-12) if below else (x.min() >= np.log(cut) - 1e-12)
            area += 0.5 * abs(np.dot(x, np.roll(yv, 1)) - np.dot(yv, np.roll(x, 1)))
        p = bcg.post.prob_below(cut) if below else bcg.post.prob_above(cut)
        assert area == pytest.approx(p, abs=0.01)


def test_density_keeps_threshold_lines_beyond_the_grid_in_view(bcg):
    """The posterior of mu lies within RR 0.15-0.75 (0.1% to 99.9%): the lines at 1 and 1.25 stay in view."""
    mu = bcg.post.marginal("mu")
    grid = np.linspace(float(mu.ppf(0.001)), float(mu.ppf(0.999)), 201)
    assert np.exp(grid.max()) < 1.0
    panel = DensityPanel(title="mu only", measure="RR", grid=grid, curves={"mu": mu.pdf(grid)},
                         thresholds=(1.0, 1.25))
    ax = plot_densities([panel]).axes[0]
    covers(ax, [*np.exp(grid), 1.0, 1.25])
    vline_at(ax, 1.0)
    vline_at(ax, 1.25)


def test_density_requires_a_panel():
    with pytest.raises(ValueError, match="no density panels"):
        plot_densities([])


# -- funnel ------------------------------------------------------------------------------------------------------
def test_funnel_draws_every_study_against_its_standard_error(bcg):
    reml = rma(bcg.y, bcg.vi, "REML")
    fig = plot_funnel(bcg.y, bcg.sei, pooled=reml.estimate, labels=bcg.labels, measure="RR",
                      notes=["Egger p = 0.5"], title="Tuberculosis (k = 6)")
    (ax,) = fig.axes
    (studies,) = markers(ax, "o")
    np.testing.assert_allclose(studies.get_xdata(), np.exp(bcg.y), rtol=1e-12)
    np.testing.assert_allclose(studies.get_ydata(), bcg.sei, rtol=1e-12)
    assert [a.get_text() for a in ax.texts if a.get_text() in bcg.labels] == bcg.labels
    top = 1.1 * bcg.sei.max()
    assert ax.get_ylim() == pytest.approx((top, 0.0))  # inverted: precise studies at the top
    region = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(region) == 2
    ends = sorted(float(ln.get_xdata()[-1]) for ln in region)
    np.testing.assert_allclose(ends, np.exp(reml.estimate + np.array([-1, 1]) * Z95 * top), rtol=1e-9)
    assert same_color(vline_at(ax, np.exp(reml.estimate)).get_color(), style.FREQUENTIST)
    vline_at(ax, 1.0)
    assert ax.get_xscale() == "log"
    covers(ax, [*np.exp(bcg.y), *ends, 1.0])
    assert "RR" in ax.get_xlabel() and ax.get_ylabel() == "standard error"
    assert ax.get_title() == "Tuberculosis (k = 6)"
    assert legend_labels(ax) == ["95% pseudo-CI", "pooled (REML)", "studies"]
    assert "Egger p = 0.5" in texts(fig)


def test_funnel_of_a_difference_draws_into_a_given_axis(schools):
    from matplotlib.figure import Figure

    host = Figure()
    axes = host.subplots(1, 2)
    reml = rma(schools.y, schools.sei**2, "REML")
    assert plot_funnel(schools.y, schools.sei, pooled=reml.estimate, measure="MD", ax=axes[1]) is host
    ax = axes[1]
    assert not axes[0].get_lines() and ax.get_xscale() == "linear"
    np.testing.assert_allclose(markers(ax, "o")[0].get_xdata(), schools.y)
    vline_at(ax, 0.0)
    covers(ax, schools.y)


# -- meta-regression -------------------------------------------------------------------------------------------------
def test_metaregression_draws_the_studies_of_each_level_under_its_pooled_row(bcg):
    level_of = ["early", "early", "early", "late", "late", "early"]
    studies = pd.DataFrame({"level": level_of, "label": bcg.labels, "yi": bcg.y,
                            "ci_lower": bcg.y - Z95 * bcg.sei, "ci_upper": bcg.y + Z95 * bcg.sei})
    levels = pd.DataFrame({"level": ["early", "late"], "median": np.log([0.45, 0.60]),
                           "ci_lower": np.log([0.25, 0.30]), "ci_upper": np.log([0.80, 1.30])})
    design = studies.assign(level=["RCT"] * 3 + ["cohort"] * 3)
    design_levels = levels.assign(level=["RCT", "cohort"])
    panels = [MetaregPanel("period", levels, studies, notes=["RR ratio late / early: 1.33"]),
              MetaregPanel("design", design_levels, design)]
    fig = plot_metaregression(panels, measure="RR", title="Tuberculosis: effect by study characteristic")
    assert len(fig.axes) == 2
    assert fig.get_suptitle() == "Tuberculosis: effect by study characteristic"
    every = np.exp(np.r_[studies["ci_lower"], studies["ci_upper"], levels["ci_lower"], levels["ci_upper"]])
    for ax, panel in zip(fig.axes, panels):
        expected = []
        for lev in panel.levels["level"]:
            expected += list(panel.studies.loc[panel.studies["level"] == lev, "label"]) + [f"{lev} (pooled)"]
        assert tick_labels(ax) == expected
        grey = markers(ax, "s")
        assert len(grey) == len(panel.studies)
        assert sorted(m.get_xdata()[0] for m in grey) == pytest.approx(sorted(np.exp(bcg.y)), rel=1e-12)
        diamonds = markers(ax, "D")
        assert [m.get_xdata()[0] for m in diamonds] == pytest.approx(np.exp(panel.levels["median"]), rel=1e-12)
        for lev, mark in zip(panel.levels.itertuples(), diamonds):
            (seg,) = near(segments(ax, mark.get_color()), mark.get_ydata()[0], half=0.01)
            np.testing.assert_allclose(seg[:, 0], np.exp([lev.ci_lower, lev.ci_upper]), rtol=1e-12)
        assert ax.get_xscale() == "log"
        covers(ax, [*every, 1.0])
        vline_at(ax, 1.0)
        assert ax.get_title(loc="left") == f"by {panel.covariate}"
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()
    assert "RR" in fig.axes[-1].get_xlabel() and "95%" in fig.axes[-1].get_xlabel()
    assert "RR ratio late / early: 1.33" in texts(fig)


def test_bubble_plot_draws_each_study_by_weight_under_the_posterior_line_and_band(bcg):
    """BCG's absolute latitude as a numeric covariate: one circle per study at (latitude, RR) with area proportional
    to 1/se^2, the exact posterior of the pooled RR along latitude (median line, 95% band), a log RR axis that keeps
    every study, the band and RR = 1 in view."""
    from matplotlib.collections import PathCollection

    from bayesmeta.plots.bubble import MAX_AREA, SlopePanel, plot_bubble
    from bayesmeta.reanalysis.metaregression import slope_line

    latitude = pd.read_csv(REFERENCE / "bcg.csv").head(6)["ablat"].to_numpy(float)
    center = latitude.mean()
    post = fit_exact(bcg.y, bcg.sei, X=(latitude - center)[:, None], covariate_names=["ablat"], mu_prior=MU_PRIOR,
                     tau_prior=TAU_PRIOR, measure="RR")
    line = pd.DataFrame(slope_line(post, "ablat", latitude, center, 0.95))
    studies = pd.DataFrame({"label": bcg.labels, "x": latitude, "yi": bcg.y, "sei": bcg.sei})
    fig = plot_bubble([SlopePanel("ablat", studies, line, notes=["RR ratio per unit of ablat: 0.97"])],
                      measure="RR", title="BCG: effect along latitude")
    (ax,) = fig.axes
    (circles,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(circles.get_offsets(), np.column_stack([latitude, np.exp(bcg.y)]), rtol=1e-12)
    weight = 1 / bcg.sei**2
    np.testing.assert_allclose(circles.get_sizes(), np.maximum(MAX_AREA * weight / weight.max(), 8.0), rtol=1e-12)
    (median,) = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == len(line)]
    np.testing.assert_allclose(median.get_ydata(), np.exp(line["median"]), rtol=1e-12)
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vertices = band.get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(np.exp(line["ci_lower"]).min(), rel=1e-12)
    assert vertices[:, 1].max() == pytest.approx(np.exp(line["ci_upper"]).max(), rel=1e-12)
    assert np.all(np.exp(line["ci_lower"]) < np.exp(line["median"])) and np.all(np.exp(line["median"]) < np.exp(line["ci_upper"]))
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "ablat" and ax.get_ylabel() == "RR (log scale)"
    covers(ax, [*np.exp(bcg.y), *np.exp(line["ci_lower"]), *np.exp(line["ci_upper"]), 1.0], axis="y")
    hline_at(ax, 1.0)
    assert ax.get_title(loc="left") == "by ablat" and fig.get_suptitle() == "BCG: effect along latitude"
    assert "RR ratio per unit of ablat: 0.97" in texts(fig)
    assert legend_labels(ax) == ["95% credible band", "pooled effect (posterior median)", "study (area: weight 1/se²)"]
    with pytest.raises(ValueError, match="no numeric covariate"):
        plot_bubble([], measure="RR")


# -- sequential monitoring -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sequence():
    from bayesmeta.sequential import monitor
    from bayesmeta.tsa import tsa

    ids = ["A", "B", "C", "D", "E"]
    y = np.log(np.array([0.8, 0.7, 0.75, 0.65, 0.7]))
    v = np.array([0.04, 0.03, 0.05, 0.02, 0.03])
    n = np.array([200, 250, 150, 400, 300])
    years = [2015, 2016, 2017, 2018, 2019]
    res = monitor(y, np.sqrt(v), years, study=ids, sample_sizes=n, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR,
                  measure="RR", thresholds=(1.0, 0.8), futility_mcid=0.8, level=0.9)
    t = tsa(y, v, n, p_control=0.4, relative_risk_reduction=0.2, order=years, study=ids)
    return res, t


def test_monitoring_draws_the_posterior_trajectory_and_the_decision_probabilities(sequence):
    res, _ = sequence
    table = res.table
    fig = plot_monitoring(table, measure="RR", benefit_prob=0.975, futility_prob=0.1, level=res.level,
                          title="Tuberculosis: monitoring")
    assert len(fig.axes) == 2
    ax_effect, ax_prob = fig.axes
    assert fig.get_suptitle() == "Tuberculosis: monitoring"
    looks = table["look"].to_numpy()
    (median,) = [ln for ln in ax_effect.get_lines() if ln.get_label() == "posterior median"]
    np.testing.assert_allclose(median.get_xdata(), looks)
    np.testing.assert_allclose(median.get_ydata(), table["median"], rtol=1e-12)
    (band,) = [c for c in ax_effect.collections if c.get_label() == "90% credible interval"]
    vertices = band.get_paths()[0].vertices
    for look, lo, hi in zip(looks, table["ci_lower"], table["ci_upper"]):
        at = vertices[np.isclose(vertices[:, 0], look), 1]
        assert at.min() == pytest.approx(lo, rel=1e-12) and at.max() == pytest.approx(hi, rel=1e-12)
    assert ax_effect.get_yscale() == "log"
    hline_at(ax_effect, 1.0)
    covers(ax_effect, [*table["pred_lower"], *table["pred_upper"], 1.0], axis="y")
    assert "RR" in ax_effect.get_ylabel()

    prob_cols = [c for c in table.columns if c.startswith("prob_below_")]
    assert prob_cols == ["prob_below_1", "prob_below_0.8"]
    for col, label in zip(prob_cols, ("P(RR < 1)", "P(RR < 0.8)")):
        (line,) = [ln for ln in ax_prob.get_lines() if ln.get_label() == label]
        np.testing.assert_allclose(line.get_ydata(), table[col], rtol=1e-12)
    hline_at(ax_prob, 0.975)
    hline_at(ax_prob, 0.1)
    assert tick_labels(ax_prob, "x") == [f"{lk}: {s}" for lk, s in zip(looks, table["study"])]
    assert legend_labels(ax_prob) == ["P(RR < 1)", "P(RR < 0.8)", "benefit threshold 0.975",
                                      "futility threshold 0.1"]


def test_monitoring_boundaries_at_the_looks_are_the_tsa_results(sequence):
    res, t = sequence
    curve = t.curve
    frame = pd.DataFrame({"information_fraction": curve["fraction"], "z": curve["z"], "upper": curve["efficacy"],
                          "lower": -curve["efficacy"]})
    fig = plot_monitoring(res.table, measure="RR", tsa=frame, boundary=t.boundaries.to_frame(),
                          ris_label=f"RIS = {t.ris_rounded} patients")
    assert len(fig.axes) == 3
    ax = fig.axes[2]
    (zline,) = [ln for ln in ax.get_lines() if ln.get_label() == "cumulative Z"]
    np.testing.assert_allclose(zline.get_xdata(), curve["fraction"])
    np.testing.assert_allclose(zline.get_ydata(), curve["z"])
    (upper,) = [ln for ln in ax.get_lines() if ln.get_label() == "monitoring boundary"]
    (wedge,) = [ln for ln in ax.get_lines() if ln.get_label() == "futility wedge"]
    lines = ax.get_lines()
    lower = lines[lines.index(upper) + 1]
    inner = lines[lines.index(wedge) + 1]
    before = curve[curve["fraction"] < 1.0]
    assert len(before) >= 2
    for row in before.itertuples():
        def at(line, x=row.fraction):
            return float(np.asarray(line.get_ydata(), float)[np.isclose(line.get_xdata(), x)][0])
        assert at(upper) == pytest.approx(row.efficacy, rel=1e-12)
        assert at(lower) == pytest.approx(-row.efficacy, rel=1e-12)
        if np.isfinite(row.futility):
            assert at(wedge) == pytest.approx(row.futility, rel=1e-12)
            assert at(inner) == pytest.approx(-row.futility, rel=1e-12)
    assert np.nanmax(upper.get_xdata()) == 1.0  # the boundaries run up to the RIS
    ris = vline_at(ax, 1.0)
    assert ris.get_label() == f"RIS = {t.ris_rounded} patients"
    hline_at(ax, Z95, rtol=1e-6)  # the conventional |Z| = 1.96 lines
    hline_at(ax, -Z95, rtol=1e-6)
    covers(ax, curve["z"], axis="y")
    assert ax.get_xlim()[0] <= 0 and ax.get_xlim()[1] >= max(1.0, curve["fraction"].max())


def test_monitoring_reads_the_futility_wedge_from_upper_and_lower_columns(sequence):
    """The report's TSA table names the wedge futility_upper / futility_lower."""
    res, _ = sequence
    frac = [0.2, 0.4, 0.6, 0.8]
    tsa = {"information_fraction": frac, "z": [1.0, 1.5, 2.0, 2.2], "upper": [6.0, 4.0, 3.2, 2.8],
           "lower": [-6.0, -4.0, -3.2, -2.8], "futility_upper": [np.nan, 0.5, 1.0, 1.5],
           "futility_lower": [np.nan, -0.5, -1.0, -1.5]}
    ax = plot_monitoring(res.table, tsa=tsa).axes[2]
    (wedge,) = [ln for ln in ax.get_lines() if ln.get_label() == "futility wedge"]
    np.testing.assert_allclose(wedge.get_xdata(), frac)
    np.testing.assert_allclose(wedge.get_ydata(), tsa["futility_upper"])


def test_monitoring_of_a_difference_uses_a_linear_axis_with_the_null_at_zero():
    from bayesmeta.sequential import monitor

    res = monitor([2.0, 3.0, 1.0], [1.0, 1.5, 0.8], None, mu_prior="normal(0, 10)", tau_prior="halfnormal(1)",
                  measure="MD", thresholds=(0.0, 1.0), futility_mcid=1.0, benefit="above")
    ax_effect, ax_prob = plot_monitoring(res.table, measure="MD").axes
    assert ax_effect.get_yscale() == "linear"
    hline_at(ax_effect, 0.0)
    assert "MD" in ax_effect.get_ylabel()
    assert {ln.get_label() for ln in ax_prob.get_lines()} >= {"P(effect > 0)", "P(effect > 1)"}


# -- posterior predictive checks --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def predictive(bcg):
    from bayesmeta.ppc import study_predictive_pvalues

    return study_predictive_pvalues(bcg.post)


def test_predictive_intervals_draw_one_row_per_study(bcg, predictive):
    table = predictive
    fig = plot_predictive_intervals(table, measure="RR", title="Tuberculosis: predictive check")
    (ax,) = fig.axes
    k = len(table)
    assert tick_labels(ax) == [f"{s}  (p = {p:.2f})" for s, p in zip(bcg.labels, table["loo_p_two_sided"])]
    rows = list(ax.get_yticks())
    assert rows == sorted(rows, reverse=True)
    for colour, lo, hi in ((style.BAYES, "pred_lower", "pred_upper"), (style.PREDICTIVE, "loo_lower", "loo_upper")):
        segs = segments(ax, colour)
        assert len(segs) == k
        for row, a, b in zip(rows, table[lo], table[hi]):
            (seg,) = near(segs, row)
            np.testing.assert_allclose(seg[:, 0], np.exp([a, b]), rtol=1e-12)
    (dots,) = markers(ax, "o", style.OBSERVED)
    np.testing.assert_allclose(dots.get_xdata(), np.exp(bcg.y), rtol=1e-12)
    np.testing.assert_allclose(dots.get_ydata(), rows)
    assert ax.get_xscale() == "log"
    covers(ax, np.exp(table[["pred_lower", "pred_upper", "loo_lower", "loo_upper", "yi"]].to_numpy().ravel()))
    covers(ax, [1.0])
    vline_at(ax, 1.0)
    assert "RR" in ax.get_xlabel()
    assert ax.get_title(loc="left") == "Tuberculosis: predictive check"
    assert legend_labels(ax) == ["posterior predictive", "leave-one-out predictive", "observed"]


def test_predictive_intervals_keep_the_null_line_in_view():
    """Every interval below RR 0.8: the null line at 1 is still shown, as in the forest plot."""
    table = pd.DataFrame({"yi": np.log([0.3, 0.4]), "pred_lower": np.log([0.15, 0.2]),
                          "pred_upper": np.log([0.6, 0.8])}, index=pd.Index(["P", "Q"], name="study"))
    (ax,) = plot_predictive_intervals(table, measure="RR").axes
    assert tick_labels(ax) == ["P", "Q"]
    assert len(segments(ax, style.BAYES)) == 2
    vline_at(ax, 1.0)
    covers(ax, [0.15, 1.0])


def test_loo_pit_ecdf_steps_by_one_over_k_at_each_value():
    pit = np.array([0.9, 0.1, 0.45, 0.3, 0.7])
    from bayesmeta.ppc import uniform_ecdf_band

    band = uniform_ecdf_band(len(pit))
    fig = plot_loo_pit(pit, band=band, title="LOO-PIT")
    (ax,) = fig.axes
    (ecdf,) = [ln for ln in ax.get_lines() if ln.get_label() == "LOO-PIT ECDF"]
    assert ecdf.get_drawstyle() == "steps-post"
    x, y = np.asarray(ecdf.get_xdata(), float), np.asarray(ecdf.get_ydata(), float)
    for i, v in enumerate(np.sort(pit)):
        assert y[np.flatnonzero(x == v)[0]] == pytest.approx((i + 1) / len(pit))
    (diagonal,) = [ln for ln in ax.get_lines() if ln.get_label() == "uniform"]
    np.testing.assert_allclose(diagonal.get_xydata(), [[0, 0], [1, 1]])
    (rug,) = markers(ax, "|")
    np.testing.assert_allclose(np.sort(rug.get_xdata()), np.sort(pit))
    assert ax.get_xlim() == (0.0, 1.0)
    assert sorted(legend_labels(ax)) == ["LOO-PIT ECDF", "uniform", "uniform ECDF band"]
    with pytest.raises(ValueError):
        plot_loo_pit([0.2, np.nan])


def test_q_discrepancy_draws_one_point_per_draw_and_prints_the_ppp():
    rng = np.random.default_rng(1)
    obs, rep = rng.chisquare(5, 300), rng.chisquare(5, 300)
    ppp = float(np.mean(rep >= obs))
    (ax,) = plot_q_discrepancy(obs, rep, ppp, title="Q").axes
    (points,) = markers(ax, ".")
    np.testing.assert_allclose(points.get_xdata(), obs)
    np.testing.assert_allclose(points.get_ydata(), rep)
    top = np.quantile(np.r_[obs, rep], 0.995)
    assert ax.get_xlim() == pytest.approx((0, top)) and ax.get_ylim() == pytest.approx((0, top))
    assert f"ppp = {ppp:.3f}" in [t.get_text() for t in ax.texts]
    with pytest.raises(ValueError):
        plot_q_discrepancy(obs, rep[:-1], ppp)


# -- sensitivity -----------------------------------------------------------------------------------------------------
def test_prior_grid_draws_one_row_per_prior_pair(bcg):
    from bayesmeta.sensitivity import prior_grid

    sets = {"vague": ("normal(0, 4)", "halfnormal(0.5)"), "skeptical": ("normal(0, 0.35)", "halfnormal(0.5)")}
    grid = prior_grid(bcg.y, bcg.sei, prior_sets=sets, tau_scales=(0.25, 1.0), thresholds=(1.0, 0.7),
                      measure="RR")
    fig = plot_prior_grid(grid, measure="RR", lines=(0.7, 1.0), probability_column="prob_below_0.7",
                          title="Tuberculosis: prior sensitivity")
    (ax,) = fig.axes
    n = len(grid)
    assert n == 6
    assert tick_labels(ax) == [f"{s}: tau ~ {t}" for s, t in zip(grid["prior_set"], grid["tau_prior"])]
    rows = list(ax.get_yticks())
    assert rows == sorted(rows, reverse=True)
    intervals = [s for c in style.LEVELS[:2] for s in segments(ax, c)]
    assert len(intervals) == n
    predictive = segments(ax, style.PREDICTIVE)
    medians = [m for c in style.LEVELS[:2] for m in markers(ax, "o", c)]
    for row, r in zip(rows, grid.itertuples()):
        (seg,) = near(intervals, row, half=0.01)
        np.testing.assert_allclose(seg[:, 0], [r.ci_lower, r.ci_upper], rtol=1e-12)
        (seg,) = near(predictive, row, half=0.01)
        np.testing.assert_allclose(seg[:, 0], [r.pred_lower, r.pred_upper], rtol=1e-12)
        xs = [x for m in medians for x, y in m.get_xydata() if y == row]
        assert xs == pytest.approx([r.median], rel=1e-12)
    assert ax.get_xscale() == "log"
    covers(ax, grid[["ci_lower", "ci_upper", "pred_lower", "pred_upper"]].to_numpy().ravel())
    assert same_color(vline_at(ax, 1.0).get_color(), style.NULL_LINE)
    assert same_color(vline_at(ax, 0.7).get_color(), style.THRESHOLD)
    notes = [t.get_text() for t in ax.texts]
    assert notes[:n] == [f"{v:.3f}" for v in grid["prob_below_0.7"]]
    assert "P below 0.7" in notes
    assert "RR" in ax.get_xlabel() and ax.get_title(loc="right") == "Tuberculosis: prior sensitivity"
    assert legend_labels(ax) == ["predictive interval"]


def test_power_scaling_draws_each_parameter_and_flags_the_sensitive_ones():
    table = pd.DataFrame({"parameter": ["mu", "tau"], "prior": [0.01, 0.12], "likelihood": [0.20, 0.02],
                          "diagnosis": ["-", "prior-data conflict"]})
    (ax,) = plot_power_scaling(table, threshold=0.05, title="Tuberculosis").axes
    assert tick_labels(ax) == ["mu", "tau"]
    (prior,) = markers(ax, "o", style.BAYES)
    (likelihood,) = markers(ax, "s", style.LEVELS[1])
    np.testing.assert_allclose(prior.get_xdata(), table["prior"])
    np.testing.assert_allclose(likelihood.get_xdata(), table["likelihood"])
    assert list(np.argsort(prior.get_ydata())) == [1, 0]  # mu on top
    vline_at(ax, 0.05)
    covers(ax, [0.0, *table["prior"], *table["likelihood"]])
    assert [t.get_text() for t in ax.texts] == ["prior-data conflict"]
    assert legend_labels(ax) == ["prior", "likelihood"]


def test_influence_draws_each_study_left_out_against_the_full_posterior(bcg):
    from bayesmeta.influence import influence

    table = influence(bcg.post, thresholds=(1.0, 0.7))
    full = table.attrs["full"]
    fig = plot_influence(table, full, measure="RR", lines=(0.7, 1.0), title="Tuberculosis: leave one study out")
    (ax,) = fig.axes
    assert tick_labels(ax) == [f"without {s}" for s in bcg.labels]
    rows = list(ax.get_yticks())
    top = int(np.argmax(table["kl"]))
    accent, plain = segments(ax, style.THRESHOLD), segments(ax, style.BAYES)
    assert len(accent) == 1 and len(plain) == len(table) - 1
    assert accent[0][0, 1] == rows[top]
    for row, r in zip(rows, table.itertuples()):
        (seg,) = near(accent + plain, row, half=0.01)
        np.testing.assert_allclose(seg[:, 0], [r.ci_lower, r.ci_upper], rtol=1e-12)
    (span,) = [p for p in ax.patches if p.get_label() == "all studies"]
    corners = span.get_transform().transform(span.get_path().vertices)
    data_x = ax.transData.inverted().transform(corners)[:, 0]
    assert data_x.min() == pytest.approx(full["ci_lower"], rel=1e-9)
    assert data_x.max() == pytest.approx(full["ci_upper"], rel=1e-9)
    assert vline_at(ax, full["median"]).get_linestyle() == ":"
    assert same_color(vline_at(ax, 1.0).get_color(), style.NULL_LINE)
    threshold = vline_at(ax, 0.7)
    assert same_color(threshold.get_color(), style.THRESHOLD) and threshold.get_linestyle() == ":"
    assert ax.get_xscale() == "log"
    covers(ax, [*table["ci_lower"], *table["ci_upper"], full["ci_lower"], full["ci_upper"], 0.7, 1.0])
    assert "RR" in ax.get_xlabel() and ax.get_title(loc="left") == "Tuberculosis: leave one study out"
    assert legend_labels(ax) == ["all studies"]


def test_funnel_overlays_pet_peese_lines_and_filled_studies():
    """Open markers at trim-and-fill's filled studies; the PET line b0 + b1 se and the PEESE curve b0 + b1 se^2."""
    import json
    from pathlib import Path

    from bayesmeta.frequentist import pet_peese, trimfill

    d = json.loads((Path(__file__).parent / "reference" / "bias_fixtures.json").read_text())["datasets"]
    y, v = np.asarray(d["hackshaw1998"]["yi"]), np.asarray(d["hackshaw1998"]["vi"])
    tf = trimfill(y, v)
    pp = pet_peese(y, v)
    pet = tuple(c.estimate for c in pp.pet.coefficients)
    peese = tuple(c.estimate for c in pp.peese.coefficients)
    fig = plot_funnel(y, np.sqrt(v), pooled=rma(y, v).estimate, measure="OR", pet=pet, peese=peese,
                      filled_yi=tf.filled_yi, filled_sei=np.sqrt(tf.filled_vi))
    (ax,) = fig.axes
    points = markers(ax, "o")
    assert len(points) == 2
    observed, filled = points
    assert len(observed.get_xdata()) == y.size and len(filled.get_xdata()) == tf.k0 == 7
    assert filled.get_markerfacecolor() == "none"
    np.testing.assert_allclose(filled.get_xdata(), np.exp(tf.filled_yi), rtol=1e-12)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    for name, (b0, b1), power in (("PET line", pet, 1), ("PEESE line", peese, 2)):
        ln = lines[name]
        se = np.asarray(ln.get_ydata())
        np.testing.assert_allclose(ln.get_xdata(), np.exp(b0 + b1 * se**power), rtol=1e-12)
        assert se[0] == 0.0  # the line reaches se = 0, where its intercept is the adjusted effect
    assert legend_labels(ax) == ["95% pseudo-CI", "pooled (REML)", "studies", "filled by trim-and-fill (7)",
                                 "PET line", "PEESE line"]
    assert ax.get_xscale() == "log"
    covers(ax, [*np.exp(y), *np.exp(tf.filled_yi)])
    with pytest.raises(ValueError, match="filled"):
        plot_funnel(y, np.sqrt(v), pooled=0.0, filled_yi=[0.1, 0.2], filled_sei=[0.1])


def test_frequentist_bias_cli_writes_the_funnel(tmp_path, capsys):
    """``bayesmeta frequentist --bias --figures DIR`` writes funnel.png (its drawing is tested above)."""
    import json
    from pathlib import Path

    import pandas as pd

    from bayesmeta.cli import main

    d = json.loads((Path(__file__).parent / "reference" / "bias_fixtures.json").read_text())["datasets"]["bcg"]
    path = tmp_path / "bcg.csv"
    frame = pd.DataFrame({"study": [f"s{i}" for i in range(len(d["yi"]))], "yi": d["yi"], "vi": d["vi"]})
    frame.to_csv(path, index=False)
    assert main(["frequentist", str(path), "--measure", "RR", "--bias", "--steps", "0.025,0.5",
                 "--figures", str(tmp_path / "figs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bias"]["trimfill"]["k0"] == 1
    assert (tmp_path / "figs" / "funnel.png").stat().st_size > 10_000
