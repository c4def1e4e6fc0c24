"""Outputs a journal takes: report.docx (the main tables, the main figures and a methods paragraph an author can
paste) and every report table as CSV in tables/. Both are written from the same records as report.md and
report.html (the section tables of :func:`bayesmeta.report.sections.build_sections`, built from summary.json),
so every number is one of summary.json's at the printed precision; nothing is recomputed here."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any, Sequence

from bayesmeta.report.claims import CLAIMS_CAPTION, claims_table, verdict_rule
from bayesmeta.report.figures import SavedFigure
from bayesmeta.report.formatting import interval, stated
from bayesmeta.report.sections import COMPARISON_CAPTION, Section, Table

# The figures of these report sections go into the Word document (the rest stay in report.html).
MAIN_FIGURE_SECTIONS = ("forest", "densities")
# Whose versions the methods paragraph names.
METHODS_PACKAGES = ("bayesmeta", "numpy", "scipy", "pymc", "nutpie", "arviz")
REFERENCES = (
    "Roever C. Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat Softw 2020;93(6):1-51.",
    "Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw 2010;36(3):1-48.",
    "Vehtari A, Gelman A, Simpson D, Carpenter B, Buerkner PC. Rank-normalization, folding, and localization: an "
    "improved R-hat for assessing convergence of MCMC. Bayesian Anal 2021;16(2):667-718.",
    "Wetterslev J, Thorlund K, Brok J, Gluud C. Trial sequential analysis may establish when firm evidence is "
    "reached in cumulative meta-analysis. J Clin Epidemiol 2008;61(1):64-75.",
    "Salvatier J, Wiecki TV, Fonnesbeck C. Probabilistic programming in Python using PyMC3. PeerJ Comput Sci "
    "2016;2:e55.",
    "Daniels MJ, Hughes MD. Meta-analysis for the evaluation of potential surrogate markers. Stat Med "
    "1997;16(17):1965-82.",
    "Bujkiewicz S, Thompson JR, Riley RD, Abrams KR. Bayesian meta-analytical methods to incorporate multiple "
    "surrogate endpoints in drug development process. Stat Med 2016;35(7):1063-89.",
    "IQWiG. Validity of surrogate endpoints in oncology. Rapid report A10-05. Cologne: Institute for Quality and "
    "Efficiency in Health Care; 2011.",
)


def main_table(summary: dict[str, Any]) -> Table:
    """Table 1: per outcome with a posterior, k, the pooled effect, tau and the new-study effect (median and
    interval, on the reported scale; tau on the analysis scale), the posterior probabilities beyond the plan's
    thresholds, and the published pooled estimate beside its frequentist recomputation (the report's comparison
    records)."""
    level = f"{100 * summary['level']:g}%"
    pooled: dict[str, dict[str, Any]] = {}
    for r in summary["comparison"]:  # the pooled estimate's row (not the I² row) of each outcome
        if r["analysis"] == "pooled" and str(r["quantity"]).startswith("pooled"):
            pooled.setdefault(r["outcome"], r)
    rows = []
    for name, o in summary["outcomes"].items():
        if not o["bayes"]:
            continue
        nat = o["bayes"]["reported"]
        pred = nat["predictive"]
        comparison = pooled.get(name, {})
        rows.append([
            f"{o['label']} ({o['measure']})", f"{int(o['k'])}",
            interval(nat["mu"]["median"], nat["mu"]["ci_lower"], nat["mu"]["ci_upper"]),
            interval(nat["tau"]["median"], nat["tau"]["ci_lower"], nat["tau"]["ci_upper"]),
            "-" if pred is None else interval(pred["median"], pred["ci_lower"], pred["ci_upper"]),
            "; ".join(stated(p["statement"], p["probability"]) for p in o["bayes"]["probabilities"]
                      if p["parameter"] == "mu"),
            "; ".join(stated(p["statement"], p["probability"]) for p in o["bayes"]["probabilities"]
                      if p["parameter"] != "mu") or "-",
            comparison.get("published") or "-", comparison.get("recomputed") or "-",
        ])
    columns = ["Outcome", "k", f"pooled, median ({level} CrI)", "tau, median (CrI)",
               f"new study, median ({level} predictive interval)", "P(pooled effect beyond threshold)",
               "P(new study's effect beyond threshold)", "Published", "Recomputed (frequentist)"]
    return Table(columns, rows, "Bayesian reanalysis under the main prior, beside the published pooled estimate "
                                "and its frequentist recomputation")


def engines_used(summary: dict[str, Any]) -> list[str]:
    """The engines behind the summary's numbers: 'exact' (and any other main engine) and 'NUTS' if any outcome
    was cross-checked by NUTS."""
    engines = sorted({o["bayes"]["engine"] for o in summary["outcomes"].values() if o["bayes"]})
    if any(o.get("mcmc") for o in summary["outcomes"].values()):
        engines.append("NUTS")
    return engines


def methods_paragraph(summary: dict[str, Any]) -> str:
    """A methods paragraph from summary.json: model, priors with their sources, engines, diagnostic gates,
    software versions and references (numbered as in :data:`REFERENCES`)."""
    priors = list(summary["priors"].items())
    likelihoods = sorted({o["bayes"]["likelihood"] for o in summary["outcomes"].values() if o["bayes"]})
    described = [f"'{name}' (mu ~ {p['mu']}, tau ~ {p['tau']}; "
                 f"{(p.get('source') or 'source not stated').rstrip('.')})" for name, p in priors]
    level = f"{100 * summary['level']:g}%"
    mc = summary["mcmc_settings"]
    nuts = [o["label"] for o in summary["outcomes"].values() if o.get("mcmc")]
    versions = summary["versions"]
    main = [e for e in engines_used(summary) if e != "NUTS"]
    software = ", ".join(f"{k} {versions[k]}" for k in METHODS_PACKAGES if k in versions)
    text = (
        f"We reanalysed the published meta-analysis with a Bayesian normal-normal hierarchical model "
        f"(y_i ~ N(theta_i, s_i^2), theta_i ~ N(mu, tau^2); likelihood: {', '.join(likelihoods)}), with ratio "
        f"measures analysed on the log scale. Posteriors were computed by the {' and '.join(main)} engine"
        + (" (numerical integration over tau [1])" if "exact" in main else "")
        + f". The main prior was {described[0]}"
        + (f"; sensitivity analyses used {'; '.join(described[1:])}" if len(described) > 1 else "")
        + f". We report posterior medians with {level} equal-tailed credible intervals, the "
        f"{level} predictive interval for the effect in a new study, and posterior probabilities of effects beyond "
        f"the prespecified thresholds. Published pooled estimates were recomputed with the frequentist "
        f"random-effects model (REML and the paper's own pooling, reproducing R metafor [2]). ")
    if nuts:
        from bayesmeta.mcmc.diagnostics import ESS_MIN, RHAT_MAX  # only here: bayesmeta.mcmc loads PyMC

        text += (
            f"The exact results were cross-checked with the NUTS engine (PyMC [5], sampled by nutpie; "
            f"{mc['chains']} chains of {mc['tune']} tuning and {mc['draws']} draws, target acceptance "
            f"{mc['target_accept']}) for {', '.join(nuts)}; a NUTS fit was accepted only with rank-normalised "
            f"R-hat < {RHAT_MAX}, bulk and tail effective sample sizes >= {ESS_MIN} and no divergent transitions "
            f"[3]. ")
    binomial = [o["label"] for o in summary["outcomes"].values() if o.get("binomial")]
    if binomial:
        from bayesmeta.mcmc.diagnostics import ESS_MIN, RHAT_MAX

        text += (f"For {', '.join(binomial)}, the binomial-normal model on the arm counts (exact binomial likelihood, "
                 f"normal random effects on the log odds ratio; Smith, Spiegelhalter & Thomas 1995) was fitted beside "
                 f"the normal-normal model by NUTS (PyMC [5], sampled by nutpie; {mc['chains']} chains of "
                 f"{mc['tune']} tuning and {mc['draws']} draws) under the same main prior, with the studies' zero "
                 f"cells as they are, and checked for R-hat < {RHAT_MAX}, bulk and tail effective sample sizes >= "
                 f"{ESS_MIN} and no divergent transitions (each failure is reported as a warning). ")
    elif not nuts:
        text += ("No MCMC cross-check was run for this report (quick run), so no convergence diagnostics "
                 "apply. ")
    if any(o.get("tsa") for o in summary["outcomes"].values()):
        text += "Trial sequential analysis followed Wetterslev et al. [4]. "
    if summary.get("subgroups"):
        text += ("Published subgroup estimates were reanalysed one characteristic at a time with the same "
                 "normal-normal model over the characteristic's levels (partial pooling), treating the subgroup "
                 "estimates as independent. ")
    if summary.get("surrogacy"):
        text += ("Trial-level surrogacy was assessed with a bivariate normal-normal model of the two treatment "
                 "effects per trial [6][7]. ")
    if summary.get("claims"):
        from bayesmeta.reanalysis.claims import HIGH_CORRELATION, SUPPORTED_LOW, SUPPORTED_P, WEAKER_P

        text += (f"Each conclusion of the paper was restated as the posterior probability P of the claimed event "
                 f"and judged by a prespecified rule: supported when P >= {SUPPORTED_P:g} under the main prior and "
                 f">= {SUPPORTED_LOW:g} under every prior set, weaker than stated when P >= {WEAKER_P:g} otherwise "
                 f"(or when a sufficiency claim's trial sequential analysis was inconclusive, or a surrogacy "
                 f"claim's 95% interval of the trial-level correlation did not lie beyond {HIGH_CORRELATION:g} "
                 f"[8]), and not supported when P < {WEAKER_P:g}. ")
    text += (f"Software: {software} (Python {versions.get('python', '-')}); plan seed "
             f"{summary['seeds'].get('plan', '-')} (the seed of every random step is listed in summary.json).")
    return text


def report_tables(sections: Sequence[Section], summary: dict[str, Any]) -> list[tuple[str, Table]]:
    """Every table of the report with a file stem: the main table first, then each section's tables in order
    ('<section>_<n>_<caption words>')."""
    out = [("main_table", main_table(summary))]
    for section in sections:
        n = 0
        for block in section.blocks:
            if isinstance(block, Table):
                n += 1
                words = re.sub(r"[^a-z0-9]+", "_", block.caption.lower()).strip("_")[:48].rstrip("_")
                out.append((f"{section.id.replace('-', '_')}_{n}" + (f"_{words}" if words else ""), block))
    return out


def write_tables_csv(tables: Sequence[tuple[str, Table]], folder: Path) -> list[Path]:
    """Each table as ``folder/<stem>.csv`` (header row, then the cells as printed in the report)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, table in tables:
        path = folder / f"{stem}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(table.columns)
            writer.writerows(table.rows)
        paths.append(path)
    return paths


def _add_table(document: Any, table: Table, number: int) -> None:
    document.add_paragraph(f"Table {number}. {table.caption}", style="Caption")
    grid = document.add_table(rows=1, cols=len(table.columns))
    grid.style = "Table Grid"
    for cell, text in zip(grid.rows[0].cells, table.columns):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in table.rows:
        for cell, text in zip(grid.add_row().cells, row):
            cell.text = str(text)


def write_docx(path: Path, title: str, summary: dict[str, Any], sections: Sequence[Section],
               figures: Sequence[SavedFigure], folder: Path) -> Path:
    """report.docx: title, Table 1 (:func:`main_table`), Table 2 (published vs recomputed vs Bayesian; when the
    plan has published numbers), Table 3 (the paper's conclusions, tested; when the plan lists claims; numbered 2
    without published numbers), the figures of :data:`MAIN_FIGURE_SECTIONS`
    (PNG files under ``folder``), the methods paragraph and the references."""
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.shared import Inches

    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.created = document.core_properties.modified = _FIXED_TIME
    document.core_properties.author = f"bayesmeta {summary['versions'].get('bayesmeta', '')}".strip()
    page = document.sections[0]
    page.orientation = WD_ORIENT.LANDSCAPE
    page.page_width, page.page_height = page.page_height, page.page_width
    document.add_heading(title, level=0)
    document.add_heading("Results", level=1)
    # without published numbers the comparison section is a note, and the tables after it move up
    comparison = next((b for s in sections if s.id == "comparison" for b in s.blocks
                       if isinstance(b, Table) and b.caption == COMPARISON_CAPTION), None)
    tables = [main_table(summary)] + ([comparison] if comparison is not None else [])
    for number, table in enumerate(tables, 1):
        _add_table(document, table, number)
    if summary.get("claims"):
        document.add_heading(CLAIMS_CAPTION, level=1)
        document.add_paragraph(verdict_rule())
        _add_table(document, claims_table(summary), len(tables) + 1)
    number = 0
    for f in figures:
        if f.section in MAIN_FIGURE_SECTIONS:
            number += 1
            document.add_picture(str(folder / f.png), width=Inches(8.5))
            document.add_paragraph(f"Figure {number}. {f.title}. {f.caption}", style="Caption")
    document.add_heading("Methods", level=1)
    document.add_paragraph(methods_paragraph(summary))
    document.add_heading("References", level=1)
    for i, ref in enumerate(REFERENCES, 1):
        document.add_paragraph(f"[{i}] {ref}")
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_fixed_zip_times(buffer.getvalue()))
    return path


# The same inputs give the same bytes: a fixed time in the document properties and on every zip entry.
_FIXED_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def _fixed_zip_times(data: bytes) -> bytes:
    """The .docx package ``data`` rewritten with every member dated 1980-01-01 (zip's epoch)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), src.read(info.filename),
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def write_journal_outputs(folder: Path, title: str, summary: dict[str, Any], sections: Sequence[Section],
                          figures: Sequence[SavedFigure]) -> list[Path]:
    """report.docx and tables/*.csv in the report folder ``folder``."""
    tables = write_tables_csv(report_tables(sections, summary), folder / "tables")
    return [write_docx(folder / "report.docx", title, summary, sections, figures, folder), *tables]
