"""The outputs a journal takes, from the first case's full report (models/haic.toml with its short NUTS
cross-check: conftest.haic_report, shared with test_claims.py, test_report_browser.py and test_summary_schema.py):
report.docx (opened with python-docx; its tables checked against summary.json at the printed precision, its
figures and its methods paragraph) and tables/*.csv (each report table, checked against summary.json and against
the tables of report.md)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import docx
import pytest

from bayesmeta.report.docx import MAIN_FIGURE_SECTIONS, engines_used, methods_paragraph

pytestmark = pytest.mark.slow  # the full report of the HAIC plan


@pytest.fixture(scope="module")
def report(haic_report):
    """(report folder, its summary.json, its report.docx)."""
    _, files = haic_report
    return files.folder, json.loads(files.summary.read_text()), docx.Document(str(files.folder / "report.docx"))


def _cells(table) -> list[list[str]]:
    return [[c.text for c in row.cells] for row in table.rows]


def _csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _ci(x: dict, digits: int = 2) -> str:
    return f"{x['median']:.{digits}f} ({x['ci_lower']:.{digits}f} to {x['ci_upper']:.{digits}f})"


def _p(p: float) -> str:
    return "> 0.999" if p > 0.999 else "< 0.001" if p < 0.001 else f"= {p:.3f}"


def test_table_1_matches_summary_at_the_printed_precision(report):
    _, summary, document = report
    rows = _cells(document.tables[0])
    fitted = [(n, o) for n, o in summary["outcomes"].items() if o["bayes"]]
    assert rows[0][:2] == ["Outcome", "k"] and len(rows) == 1 + len(fitted) == 5
    for row, (name, o) in zip(rows[1:], fitted):
        nat = o["bayes"]["reported"]
        assert row[0] == f"{o['label']} ({o['measure']})" and row[1] == str(o["k"])
        assert row[2] == _ci(nat["mu"]) and row[3] == _ci(nat["tau"]) and row[4] == _ci(nat["predictive"])
        for col, mu in ((5, True), (6, False)):
            expected = [f"{p['statement']} {_p(p['probability'])}" for p in o["bayes"]["probabilities"]
                        if (p["parameter"] == "mu") == mu]
            assert row[col].split("; ") == expected and len(expected) == len(o["thresholds"])
        pub = o["published"]
        assert row[7] == f"{pub['estimate']:.2f} ({pub['ci_lower']:.2f} to {pub['ci_upper']:.2f})"
        recomputed = next(r for r in summary["comparison"] if r["outcome"] == name and r["analysis"] == "pooled")
        assert row[8].startswith(f"{recomputed['recomputed_value']:.2f} (")
    # HAIC OS: k = 10 studies with data (the paper pooled 17); published HR 0.52 (0.48-0.58), Lu et al. 2025
    assert rows[1][1] == "10" and rows[1][7] == "0.52 (0.48 to 0.58)"


def test_table_2_is_the_comparison_of_summary(report):
    _, summary, document = report
    rows = _cells(document.tables[1])
    assert rows[0][4:8] == ["Published", "Recomputed (frequentist)", "Bayesian", "Status"]
    assert len(rows) == 1 + len(summary["comparison"])
    for row, r in zip(rows[1:], summary["comparison"]):
        assert row[:2] == [r["outcome"], r["quantity"]] and row[3] == str(r["k_used"])
        assert row[4:8] == [r["published"], r["recomputed"], r["bayesian"], r["status"] or "-"]


def test_the_main_figures_are_embedded(report):
    out, summary, document = report
    main_figures = [f for f in summary["figures"] if f["section"] in MAIN_FIGURE_SECTIONS]
    assert len(document.inline_shapes) == len(main_figures) >= 5  # 4 forest plots and the densities
    captions = [p.text for p in document.paragraphs if p.text.startswith("Figure ")]
    assert [c.split(". ")[1] for c in captions] == [f["title"] for f in main_figures]
    embedded = {part.blob for part in document.part.package.parts if part.content_type == "image/png"}
    assert {(out / f["png"]).read_bytes() for f in main_figures} == embedded


def test_the_methods_paragraph_names_priors_engines_gates_and_versions(report):
    _, summary, document = report
    texts = [p.text for p in document.paragraphs]
    methods = texts[texts.index("Methods") + 1]
    for name, prior in summary["priors"].items():
        assert f"'{name}' (mu ~ {prior['mu']}, tau ~ {prior['tau']}; {prior['source'].rstrip('.')})" in methods
    engines = {o["bayes"]["engine"] for o in summary["outcomes"].values() if o["bayes"]}
    assert engines == {"exact"} and all(f"the {e} engine" in methods for e in engines)
    # the NUTS cross-check ran for every fitted outcome: its settings and the gates of Vehtari et al. 2021
    # (rank-normalised R-hat < 1.01, bulk and tail ESS >= 400, no divergences)
    settings = summary["mcmc_settings"]
    labels = [o["label"] for o in summary["outcomes"].values() if o["mcmc"]]
    assert len(labels) == 4 and f"for {', '.join(labels)}; " in methods
    assert f"{settings['chains']} chains of {settings['tune']} tuning and {settings['draws']} draws" in methods
    assert "R-hat < 1.01, bulk and tail effective sample sizes >= 400 and no divergent transitions" in methods
    assert "No MCMC cross-check" not in methods
    for package in ("bayesmeta", "numpy", "scipy", "pymc", "arviz"):
        assert f"{package} {summary['versions'][package]}" in methods
    cited = {int(n) for n in re.findall(r"\[(\d)\]", methods)}
    references = [t for t in texts if re.match(r"\[\d\] ", t)]
    assert cited <= set(range(1, len(references) + 1)) and "Roever" in references[0]


def _markdown_tables(text: str) -> list[list[list[str]]]:
    """The tables of report.md as lists of rows (header first), cells unescaped."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("| "):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            current = [cells] if current is None else current + [cells]
        elif line.startswith("|---"):
            continue
        elif current is not None:
            tables.append(current)
            current = None
    return tables


def test_every_report_table_is_a_csv_with_the_same_cells(report):
    out, _, document = report
    by_name = {p.name: _csv(p) for p in (out / "tables").glob("*.csv")}
    assert by_name.pop("main_table.csv") == _cells(document.tables[0])
    md_tables = _markdown_tables((out / "report.md").read_text(encoding="utf-8"))
    assert len(md_tables) == len(by_name) > 20
    assert sorted(map(str, md_tables)) == sorted(map(str, by_name.values()))


def test_csv_tables_match_summary(report):
    out, summary, _ = report
    tables = out / "tables"
    comparison = _csv(next(tables.glob("comparison_1_*.csv")))[1:]
    assert [r[4:8] for r in comparison] == [[r["published"], r["recomputed"], r["bayesian"], r["status"] or "-"]
                                            for r in summary["comparison"]]
    coverage = _csv(next(tables.glob("overview_1_*.csv")))
    assert coverage[0][:4] == ["Outcome", "k published", "rows in data", "k used"]
    assert [(r[1], r[3]) for r in coverage[1:]] == [("-" if c["k_published"] is None else str(int(c["k_published"])),
                                                     str(c["k_used"]))
                                                    for c in summary["coverage"]]
    os_forest = _csv(next(tables.glob("forest_1_overall_survival*.csv")))[1:]
    assert [(r[0], r[3]) for r in os_forest] == [(s["study"], f"{s['shrinkage']:.2f}")
                                                for s in summary["outcomes"]["OS"]["shrinkage"]]
    priors = _csv(next(tables.glob("methods_1_prior_sets*.csv")))[1:]
    assert [r[:3] for r in priors] == [[n, p["mu"], p["tau"]] for n, p in summary["priors"].items()]
    versions = dict(_csv(next(tables.glob("methods_3_package_versions*.csv")))[1:])
    assert versions == summary["versions"]


def test_the_methods_paragraph_of_a_quick_run_says_no_cross_check_ran(report):
    _, summary, _ = report
    quick = json.loads(json.dumps(summary))
    for o in quick["outcomes"].values():  # as a quick run writes them: no NUTS, no binomial-normal fit
        o["mcmc"] = o["binomial"] = None
    text = methods_paragraph(quick)
    assert "No MCMC cross-check was run for this report (quick run)" in text and "R-hat" not in text
    assert engines_used(quick) == ["exact"] and engines_used(summary) == ["exact", "NUTS"]


def test_the_document_carries_no_time_of_writing(report):
    """Same inputs, same bytes: every zip member and the document properties carry fixed dates."""
    import zipfile

    folder, _, document = report
    with zipfile.ZipFile(folder / "report.docx") as z:
        assert {info.date_time for info in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert document.core_properties.created.year == 2000
    assert document.core_properties.modified.year == 2000
