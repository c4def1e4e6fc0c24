"""Report figures at journal resolution: each figure drawn once and written as PNG (300 dpi), SVG and PDF side by
side, the same bytes on every run, reused from the figure store in every format, and the formats an option
(`reanalyze --figure-formats`). Small figures drawn here, no reanalysis."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from bayesmeta.errors import InputError
from bayesmeta.report.figure_cache import FigureStore
from bayesmeta.report.figures import FORMATS, PNG_DPI, SCREEN_DPI, FigureJob, FigureSpec, figure_dpi, figure_formats

SIZE = (5.0, 2.5)  # inches


def _spec(name: str, calls: list[str]) -> FigureSpec:
    def draw() -> Figure:
        calls.append(name)
        fig = Figure(figsize=SIZE, layout="constrained")
        ax = fig.add_subplot()
        ax.plot(np.linspace(0, 1, 20), np.linspace(0, 1, 20) ** 2, label="mu (posterior)")
        ax.fill_between([0, 1], [0, 0.5], alpha=0.3)
        ax.set_title(f"{name}: P(HR < 0.7) = 0.83")
        ax.legend()
        return fig

    return FigureSpec(name, "forest", f"Title {name}", "A caption.", draw)


def test_every_figure_is_written_in_each_format_at_journal_resolution(tmp_path):
    calls: list[str] = []
    job = FigureJob([_spec("a", calls), _spec("b", calls)], tmp_path / "figures")
    assert job.formats == FORMATS == ("png", "svg", "pdf") and calls == ["a", "b"]  # each drawn once
    for saved in job.result():
        assert (saved.png, saved.svg, saved.pdf) == tuple(f"figures/{saved.id}.{fmt}" for fmt in FORMATS)
        png = (tmp_path / saved.png).read_bytes()
        assert png == saved.png_bytes
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and PNG_DPI == 300
        assert tuple(round(d) for d in image.info["dpi"]) == (300, 300)
        assert image.size == (round(SIZE[0] * 300), round(SIZE[1] * 300))
        # the HTML shows it at the screen size it had before (110 px per inch), from the finer PNG
        assert (saved.width, saved.height) == (round(SIZE[0] * SCREEN_DPI), round(SIZE[1] * SCREEN_DPI))
        pdf = (tmp_path / saved.pdf).read_bytes()
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
        box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
        assert box and (float(box[1]), float(box[2])) == (SIZE[0] * 72, SIZE[1] * 72)  # points
        assert b"/FontFile2" in pdf and b"/Subtype /Type3" not in pdf  # TrueType fonts, which journals take
        svg = (tmp_path / saved.svg).read_text(encoding="utf-8")
        assert f'width="{SIZE[0] * 72:g}pt" height="{SIZE[1] * 72:g}pt"' in svg
        assert "P(HR &lt; 0.7) = 0.83" in svg  # text kept as text, editable


def test_the_same_figure_gives_the_same_bytes_in_every_format(tmp_path):
    """No creation dates, no random SVG ids: two runs (a second apart) write identical files."""
    import time

    calls: list[str] = []
    FigureJob([_spec("a", calls)], tmp_path / "one")
    time.sleep(1.1)
    FigureJob([_spec("a", calls)], tmp_path / "two")
    for fmt in FORMATS:
        first, second = (tmp_path / d / f"a.{fmt}" for d in ("one", "two"))
        assert first.read_bytes() == second.read_bytes(), fmt
    assert b"<dc:date>" not in (tmp_path / "one" / "a.svg").read_bytes()
    assert b"/CreationDate" not in (tmp_path / "one" / "a.pdf").read_bytes()


def test_a_rerun_reuses_every_format_from_the_store_and_a_new_format_set_draws_again(tmp_path):
    calls: list[str] = []
    specs = [_spec("a", calls), _spec("b", calls)]
    root = tmp_path / "store"
    first = FigureJob(specs, tmp_path / "r1", FigureStore("inputs", root=root))
    assert calls == ["a", "b"] and first.store.reused == 0
    second = FigureJob(specs, tmp_path / "r2", FigureStore("inputs", root=root))
    assert calls == ["a", "b"] and second.store.reused == 2  # nothing drawn again
    for spec in specs:
        for fmt in FORMATS:
            assert (tmp_path / "r2" / f"{spec.id}.{fmt}").read_bytes() == (tmp_path / "r1" / f"{spec.id}.{fmt}"
                                                                            ).read_bytes()
    assert second.result()[0].png_bytes == first.result()[0].png_bytes
    # a damaged PDF in the store: that figure is drawn again (and the entry replaced)
    pdf = root / f"{first.store.key(specs[0], PNG_DPI, FORMATS)}.pdf"
    pdf.write_bytes(pdf.read_bytes()[:-20])
    third = FigureJob(specs, tmp_path / "r3", FigureStore("inputs", root=root))
    assert third.store.reused == 1 and calls == ["a", "b", "a"]
    assert (tmp_path / "r3" / "a.pdf").read_bytes() == (tmp_path / "r1" / "a.pdf").read_bytes()
    # PNG only is another entry: drawn, and no SVG or PDF written
    png_only = FigureJob(specs, tmp_path / "r4", FigureStore("inputs", root=root), formats=("png",))
    assert png_only.store.reused == 0 and sorted(p.name for p in (tmp_path / "r4").iterdir()) == ["a.png", "b.png"]
    assert [(f.svg, f.pdf) for f in png_only.result()] == [("", ""), ("", "")]
    assert (tmp_path / "r4" / "a.png").read_bytes() == (tmp_path / "r1" / "a.png").read_bytes()


def test_a_quick_runs_png_at_screen_resolution_has_the_same_display_size(tmp_path):
    """What a quick run writes (ReportWriter: PNG only, at 110 dpi): fewer pixels, the same size in the HTML."""
    calls: list[str] = []
    (saved,) = FigureJob([_spec("a", calls)], tmp_path, formats=("png",), dpi=SCREEN_DPI).result()
    image = Image.open(tmp_path / "a.png")
    assert tuple(round(d) for d in image.info["dpi"]) == (110, 110)
    assert image.size == (saved.width, saved.height) == (round(SIZE[0] * 110), round(SIZE[1] * 110))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_figure_formats_are_validated_and_always_include_png():
    assert figure_formats("pdf, SVG") == ("png", "svg", "pdf")
    assert figure_formats(["png"]) == ("png",)
    assert figure_formats("svg") == ("png", "svg")
    with pytest.raises(InputError, match=r"unknown figure format\(s\) 'tiff'.*valid: png, svg, pdf"):
        figure_formats("png,tiff")
    with pytest.raises(InputError, match="none given"):
        figure_formats("")


def test_the_cli_refuses_an_unknown_figure_format_in_one_line(tmp_path, capsys):
    from bayesmeta.cli import main

    assert main(["reanalyze", "no-such-plan.toml", "--out", str(tmp_path / "out"), "--figure-formats", "eps"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'eps'" in err and "png, svg, pdf" in err
    assert not (tmp_path / "out").exists()


def test_the_resolution_is_validated():
    assert figure_dpi("150") == 150 and figure_dpi(600) == 600
    for bad in ("49", "1201", "72.5", "high", ""):
        with pytest.raises(InputError, match=r"not a whole number of dots per inch.*valid: an integer from 50 to 1200"):
            figure_dpi(bad)


def test_a_chosen_resolution_sets_the_pixels_not_the_display_size(tmp_path):
    (saved,) = FigureJob([_spec("a", [])], tmp_path, formats=("png",), dpi=figure_dpi("150")).result()
    image = Image.open(tmp_path / "a.png")
    assert tuple(round(d) for d in image.info["dpi"]) == (150, 150)
    assert image.size == (round(SIZE[0] * 150), round(SIZE[1] * 150))
    assert (saved.width, saved.height) == (round(SIZE[0] * SCREEN_DPI), round(SIZE[1] * SCREEN_DPI))


def test_the_cli_refuses_a_resolution_out_of_range_in_one_line(tmp_path, capsys):
    from bayesmeta.cli import main

    assert main(["reanalyze", "no-such-plan.toml", "--out", str(tmp_path / "out"), "--figure-dpi", "20"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'20'" in err and "50 to 1200" in err
    assert not (tmp_path / "out").exists()
