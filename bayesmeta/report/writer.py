"""Write a reanalysis to a folder: report.html, report.md, summary.json, figures (PNG, SVG, PDF) and NetCDF
posteriors. Everything is written into a temporary sibling folder that replaces the target only when complete,
so a failed run never leaves a half-written report; only a new, empty or bayesmeta-written folder is replaced
(:mod:`bayesmeta.output_folder`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayesmeta.output_folder import OutputFolder
from bayesmeta.reanalysis import ReanalysisResult
from bayesmeta.report.figure_cache import FigureStore
from bayesmeta.report.docx import write_journal_outputs
from bayesmeta.report.figures import FORMATS, PNG_DPI, SCREEN_DPI, FigureJob, figure_specs
from bayesmeta.report.figures import figure_dpi as checked_dpi
from bayesmeta.report.html import render_html
from bayesmeta.report.markdown import render_markdown
from bayesmeta.report.sections import build_sections


@dataclass
class ReportFiles:
    """Paths of what :func:`write_report` wrote."""

    folder: Path
    html: Path
    markdown: Path
    summary: Path
    figures: list[Path]
    posteriors: list[Path]


def report_summary(result: ReanalysisResult, figures: list[Any], dpi: int = PNG_DPI) -> dict[str, Any]:
    """summary.json: :meth:`ReanalysisResult.to_summary` plus the list of figure files (PNG at ``dpi``)."""
    summary = result.to_summary()
    summary["figures"] = [{"id": f.id, "section": f.section, "outcome": f.outcome, "title": f.title,
                           "png": f.png, "svg": f.svg, "pdf": f.pdf, "dpi": dpi} for f in figures]
    return summary


def _write_posteriors(result: ReanalysisResult, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, a in result.outcomes.items():
        for engine, idata in (("exact", a.idata), ("nuts", a.nuts_idata), ("binomial", a.binomial_idata)):
            if idata is not None:
                path = folder / f"{name}_{engine}.nc"
                # the netCDF4 library writes the same NetCDF-4 file in about half the time of h5netcdf (ArviZ's
                # default engine), and is the dependency this package declares
                idata.to_netcdf(str(path), engine="netcdf4")
                paths.append(path)
    return paths


def split_timings(value: object, path: str = "") -> tuple[object, dict[str, float]]:
    """Separate wall-clock measurements (keys ending in 'seconds') from the results, so that summary.json is the
    same for the same inputs and the timings go to timings.json (keyed by their path in the summary)."""
    timings: dict[str, float] = {}
    if isinstance(value, dict):
        clean = {}
        for key, item in value.items():
            where = f"{path}/{key}"
            if str(key).endswith("seconds") and isinstance(item, (int, float)):
                timings[where] = item
                continue
            clean[key], inner = split_timings(item, where)
            timings.update(inner)
        return clean, timings
    if isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            cleaned, inner = split_timings(item, f"{path}[{i}]")
            items.append(cleaned)
            timings.update(inner)
        return items, timings
    return value, timings


class ReportWriter:
    """Writes a report into a temporary sibling of ``out_dir`` that replaces it only when complete.

    The constructor checks ``out_dir`` (refusing a folder bayesmeta did not write, or one holding any of
    ``inputs``), locks it against a concurrent run and creates the temporary folder, so a refusal comes before
    any work. :meth:`start_figures` may be called early (e.g. as ``run_plan``'s ``while_waiting``) to draw the
    figures in the background; :meth:`finish` writes everything else and moves the folder into place;
    :meth:`abort` removes the temporary folder and releases the lock. With ``reuse_figures``, figures whose
    inputs are unchanged since an earlier report are copied from the user's cache folder
    (:mod:`bayesmeta.report.figure_cache`). ``figure_formats``: the files written per figure
    (:func:`bayesmeta.report.figures.figure_formats`); by default PNG (300 dpi), SVG and PDF, and for a quick
    run (a check of the plan, not journal output) the PNG only, at screen resolution (110 dpi). ``figure_dpi``:
    the PNG's resolution instead of those defaults (:func:`bayesmeta.report.figures.figure_dpi`)."""

    def __init__(self, out_dir: str | Path, inputs: Iterable[str | Path | None] = (),
                 reuse_figures: bool = False, figure_formats: Sequence[str] | None = None,
                 figure_dpi: int | None = None) -> None:
        self.folder = OutputFolder(out_dir, inputs)
        self.out = self.folder.path
        self.tmp = self.folder.open()
        self.job: FigureJob | None = None
        self.reuse_figures = reuse_figures
        self.figure_formats = figure_formats
        self.figure_dpi = None if figure_dpi is None else checked_dpi(figure_dpi)
        self.dpi = PNG_DPI

    def start_figures(self, result: ReanalysisResult) -> None:
        if self.job is None:
            quick = result.plan.quick
            formats = self.figure_formats or (("png",) if quick else FORMATS)
            store = FigureStore(result.cache_key) if self.reuse_figures and result.cache_key else None
            self.dpi = self.figure_dpi or (SCREEN_DPI if quick else PNG_DPI)
            self.job = FigureJob(figure_specs(result), self.tmp / "figures", store, formats, self.dpi)

    def finish(self, result: ReanalysisResult) -> ReportFiles:
        try:
            self.start_figures(result)
            figures = self.job.result()
            summary = report_summary(result, figures, self.dpi)
            sections = build_sections(summary, figures)
            title = result.plan.title
            subtitle = (f"Generated by bayesmeta {result.versions.get('bayesmeta', '')} from "
                        f"{result.plan.path.name}; every number is in summary.json.")
            (self.tmp / "report.html").write_text(render_html(title, sections, subtitle), encoding="utf-8")
            (self.tmp / "report.md").write_text(render_markdown(title, sections), encoding="utf-8")
            write_journal_outputs(self.tmp, title, summary, sections, figures)
            summary, timings = split_timings(summary)
            (self.tmp / "summary.json").write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n",
                                                   encoding="utf-8")
            (self.tmp / "timings.json").write_text(json.dumps(timings, indent=1, allow_nan=False) + "\n",
                                                   encoding="utf-8")
            posteriors = _write_posteriors(result, self.tmp / "posteriors")
            self.folder.commit()
        except BaseException:
            self.abort()
            raise
        out = self.out
        return ReportFiles(
            folder=out, html=out / "report.html", markdown=out / "report.md", summary=out / "summary.json",
            figures=sorted((out / "figures").glob("*")), posteriors=[out / "posteriors" / p.name for p in posteriors],
        )

    def abort(self) -> None:
        if self.job is not None:
            self.job.cancel()
        self.folder.discard()


def plan_inputs(plan: Any) -> tuple[Path | None, ...]:
    """The files a plan reads (the plan and its data), which a report folder must not contain."""
    return (plan.path, plan.studies, plan.outcomes_file, plan.published, plan.priors_file)


def write_report(result: ReanalysisResult, out_dir: str | Path, inputs: Iterable[str | Path | None] = (),
                 figure_formats: Sequence[str] | None = None, figure_dpi: int | None = None) -> ReportFiles:
    """Write every output of the report into ``out_dir`` (replaced as a whole, only once complete, and only if
    it is new, empty or a report bayesmeta wrote, and holds none of the plan's files nor ``inputs``); figures in
    ``figure_formats``, the PNG at ``figure_dpi`` (see :class:`ReportWriter`)."""
    return ReportWriter(out_dir, (*plan_inputs(result.plan), *inputs), figure_formats=figure_formats,
                        figure_dpi=figure_dpi).finish(result)
