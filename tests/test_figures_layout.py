"""The report's and the commands' figures laid out once (bayesmeta.plots.saving.fix_layout): the same pixels
and vector files as matplotlib's own save with the layout engine in place, with each format drawn once instead
of twice. Small figures of the plots modules, no reanalysis."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from bayesmeta.plots.forest import plot_forest
from bayesmeta.plots.sensitivity import plot_influence
from bayesmeta.report.figures import METADATA, SAVE_RC, FigureSpec, _save_one, fix_layout, png_bytes


def _forest() -> Figure:
    yi = np.log([0.62, 0.81, 0.55, 1.05])
    sei = np.array([0.21, 0.15, 0.3, 0.25])
    studies = pd.DataFrame({"label": ["Ann 2019", "Bo 2020", "Cy 2021", "Di 2022"], "yi": yi,
                            "ci_lower": yi - 1.96 * sei, "ci_upper": yi + 1.96 * sei, "theta": 0.8 * yi,
                            "theta_ci_lower": 0.8 * yi - 0.2, "theta_ci_upper": 0.8 * yi + 0.2})
    pooled = pd.DataFrame([{"label": "Bayesian pooled", "estimate": -0.3, "ci_lower": -0.5, "ci_upper": -0.1,
                            "kind": "bayes"},
                           {"label": "Bayesian predictive", "estimate": np.nan, "ci_lower": -0.8,
                            "ci_upper": 0.2, "kind": "predictive"}])
    return plot_forest(studies, pooled, measure="HR", thresholds=(0.8,), title="OS (HR)",
                       favours=("favours HAIC", "favours control"))


def _influence() -> Figure:  # laid out by tight_layout when drawn
    table = pd.DataFrame({"median": [0.74, 0.78, 0.7], "ci_lower": [0.6, 0.64, 0.55],
                          "ci_upper": [0.9, 0.95, 0.9]}, index=["Ann 2019", "Bo 2020", "Cy 2021"])
    full = {"median": 0.74, "ci_lower": 0.6, "ci_upper": 0.9}
    return plot_influence(table, full, measure="HR", lines=[0.8, 1.0], title="OS: leave one study out")


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _matplotlib_save(fig: Figure, fmt: str, dpi: int) -> bytes:
    """The figure saved by matplotlib alone: the layout engine run by savefig's own first draw."""
    buffer = io.BytesIO()
    with rc_context(SAVE_RC):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=METADATA[fmt])
    return buffer.getvalue()


@pytest.mark.parametrize(("draw", "dpi"), [(_forest, 72), (_forest, 300), (_influence, 72)],
                         ids=["constrained-72", "constrained-300", "tight-72"])
def test_the_figure_laid_out_once_has_the_pixels_of_matplotlibs_own_save(tmp_path, draw, dpi):
    reference = _pixels(_matplotlib_save(draw(), "png", dpi))
    png, width, height = _save_one(FigureSpec("f", "forest", "t", "c", draw), tmp_path, ("png",), dpi)
    assert np.array_equal(_pixels(png), reference)
    assert (tmp_path / "f.png").read_bytes() == png


def test_the_vector_files_are_those_of_matplotlibs_own_save(tmp_path):
    _save_one(FigureSpec("f", "influence", "t", "c", _influence), tmp_path, ("png", "svg", "pdf"), 72)
    fig = _influence()
    _matplotlib_save(fig, "png", 72)  # the PNG first, whose layout the other formats reuse
    fig.set_layout_engine("none")
    for fmt in ("svg", "pdf"):
        assert (tmp_path / f"f.{fmt}").read_bytes() == _matplotlib_save(fig, fmt, 72)


@pytest.fixture
def draws(monkeypatch) -> list[str]:
    """The renderers of every Figure.draw from here on, by class name."""
    log: list[str] = []
    original = Figure.draw

    def counting(self, renderer):
        log.append(type(renderer).__name__)
        return original(self, renderer)

    monkeypatch.setattr(Figure, "draw", counting)
    return log


def test_each_format_is_drawn_once_after_one_layout(tmp_path, draws):
    fig = _forest()
    assert fig.get_layout_engine() is not None
    with rc_context(SAVE_RC):
        fix_layout(fig, 72)
        assert fig.get_layout_engine() is None and draws == []  # laid out without drawing
        positions = [ax.get_position().bounds for ax in fig.axes]
        for fmt in ("png", "svg"):
            fig.savefig(io.BytesIO(), format=fmt, dpi=72)
    assert len(draws) == 2  # matplotlib draws a figure with a layout engine twice per format
    assert [ax.get_position().bounds for ax in fig.axes] == positions
    # the layout moved the axes off the default subplot parameters, so it did run
    assert positions != [ax.get_subplotspec().get_position(fig).bounds for ax in fig.axes]


@pytest.mark.parametrize("transparent", [False, True], ids=["opaque", "transparent"])
def test_the_png_has_matplotlibs_pixels_resolution_and_software_entry(transparent):
    fig = _influence()
    fig.patch.set_alpha(0.0 if transparent else 1.0)
    fix_layout(fig, 150)
    reference = Image.open(io.BytesIO(_matplotlib_save(fig, "png", 150)))
    ours = Image.open(io.BytesIO(png_bytes(fig, 150)))
    assert ours.size == reference.size
    assert np.array_equal(np.asarray(ours.convert("RGBA")), np.asarray(reference.convert("RGBA")))
    assert ours.mode == ("RGBA" if transparent else "RGB")  # RGB only when no pixel is see-through
    assert ours.info["Software"] == reference.info["Software"]
    assert tuple(round(d) for d in ours.info["dpi"]) == (150, 150)


def test_the_predictive_check_title_clears_its_legend_row(tmp_path):
    from bayesmeta.plots.ppc import plot_predictive_intervals

    yi = np.log([0.6, 0.8, 0.5])
    table = pd.DataFrame({"yi": yi, "pred_lower": yi - 0.5, "pred_upper": yi + 0.5, "loo_lower": yi - 0.6,
                          "loo_upper": yi + 0.6, "loo_p_two_sided": [0.7, 0.02, 0.24]},
                         index=["Ann 2019", "Bo 2020", "Cy 2021"])

    def draw() -> Figure:
        return plot_predictive_intervals(table, measure="HR", title="Overall survival: predictive check")

    fig = draw()
    with rc_context(SAVE_RC):
        fix_layout(fig, 72)
        fig.savefig(io.BytesIO(), format="png", dpi=72)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    title = ax.get_title(loc="left")
    assert title == "Overall survival: predictive check"
    (title_text,) = [a for a in ax.get_children() if isinstance(a, Text) and a.get_text() == title]
    title_box = title_text.get_window_extent(renderer)
    legend_box = ax.get_legend().get_window_extent(renderer)
    assert title_box.y0 >= legend_box.y1  # above the legend row, not across it
    assert fig.bbox.contains(title_box.x0, title_box.y1) and fig.bbox.contains(legend_box.x1, legend_box.y1)


def test_the_forest_favours_labels_sit_below_the_axis_label():
    fig = _forest()  # four studies: a short axes, where a drop in axes fraction reached the axis label
    with rc_context(SAVE_RC):
        fix_layout(fig, 72)
        fig.savefig(io.BytesIO(), format="png", dpi=72)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    label = ax.xaxis.label.get_window_extent(renderer)
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    favours = [t.get_window_extent(renderer) for t in ax.texts if "favours" in t.get_text()]
    assert len(favours) == 2 and label.height > 0 and ticks
    for box in favours:
        assert box.y1 <= label.y0  # below the axis label, not across it
        assert box.y0 >= 0  # and inside the figure


@pytest.mark.parametrize("lo, hi", [(0.001, 41.68), (0.13, 0.94), (0.2, 2.9), (0.05, 20.0), (0.005, 3.0)])
def test_ratio_tick_labels_never_run_into_each_other_on_a_narrow_axis(lo, hi):
    """A forest of sparse-data studies spans 0.001 to 42 (Niel-Weise 2007: "0.20.30.50.71 1.52" on the axis):
    ticks are thinned to at most 9 per axis, evenly enough in log space that on a 2.8-inch axis at 9 pt each
    label's box stays clear of the next; 1 is always a tick, and every tick lies within the data's range."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from bayesmeta.plots.style import ratio_axis, ratio_ticks

    fig = Figure(figsize=(4.0, 1.5))
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.15, 0.4, 0.7, 0.5))  # 2.8 inches wide
    ratio_axis(ax, "OR", lo, hi)
    ax.tick_params(labelsize=9)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = sorted((t.get_window_extent(renderer) for t in ax.get_xticklabels()
                    if t.get_text() and lo * 0.9 <= float(t.get_text()) <= hi * 1.1), key=lambda b: b.x0)
    assert len(boxes) >= 3
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 < right.x0, (left, right)
    ticks = ratio_ticks(lo, hi)
    assert 1.0 in ticks and len(ticks) <= 9 and all(min(lo, 1) * 0.95 <= t <= max(hi, 1) * 1.05 for t in ticks)


def test_a_command_line_figure_is_saved_with_matplotlibs_pixels_in_one_draw(tmp_path, draws):
    """bayesmeta.plots.saving.save_png, which the commands' --figures use: one draw, not savefig's two."""
    from bayesmeta.plots.saving import save_png

    reference = _pixels(_matplotlib_save(_forest(), "png", 150))
    draws.clear()  # the reference's two draws
    save_png(_forest(), tmp_path / "forest.png", 150)
    assert draws == ["RendererAgg"]
    saved = Image.open(tmp_path / "forest.png")
    assert np.array_equal(_pixels((tmp_path / "forest.png").read_bytes()), reference)
    assert tuple(round(d) for d in saved.info["dpi"]) == (150, 150)
