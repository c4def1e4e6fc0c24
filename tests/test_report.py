"""The report written by `bayesmeta reanalyze`: files, sections, self-containment, numbers traceable to
summary.json and to the library, cache re-use, and atomic writing."""

from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import arviz as az
import numpy as np
import pytest
from PIL import Image

from bayesmeta.cli import main
from bayesmeta.exact import fit_exact
from bayesmeta.report.sections import SECTION_TITLES
from conftest import TEST_DPI, TEST_FIGURES

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "tests" / "reference" / "reanalysis_synthetic" / "plan.toml"


@pytest.fixture(scope="module")
def built(synthetic_report):
    """The CLI run twice on the synthetic plan with one cache folder: a fresh run, then a cached one
    (conftest.synthetic_report, shared with test_report_browser and test_cache)."""
    return synthetic_report


def test_the_command_prints_the_pooled_comparison(built, capsys):
    out, cache, _, _ = built
    assert main(["reanalyze", str(PLAN), "--out", str(out), "--cache-dir", str(cache), "--quiet", *TEST_FIGURES]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    pooled = [r for r in summary["comparison"] if r["analysis"] == "pooled"]
    assert pooled and "Pooled results: published vs recomputed" in printed
    for r in pooled:
        assert r["published"] in printed and r["recomputed"].split(";")[0] in printed


def test_a_report_is_current_only_for_the_figure_formats_and_resolution_it_holds(built, capsys):
    from bayesmeta.cli.reanalyze import _report_is_current
    from bayesmeta.plan import load_plan

    out, _, _, _ = built
    plan = load_plan(PLAN)
    assert _report_is_current(plan, str(out), ("png",), TEST_DPI)
    assert "is up to date" in capsys.readouterr().out
    assert not _report_is_current(plan, str(out), ("png",), 150)
    assert not _report_is_current(plan, str(out), ("png",))  # a full run's default: 300 dpi
    assert not _report_is_current(plan, str(out), ("png", "svg"), TEST_DPI)
    assert "is up to date" not in capsys.readouterr().out


def test_the_command_writes_every_output(built):
    out, _, codes, _ = built
    assert codes == [0, 0]
    summary = json.loads((out / "summary.json").read_text())
    for f in summary["figures"]:
        assert (out / f["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f["svg"] == f["pdf"] == ""  # --figure-formats png (conftest.TEST_FIGURES); the other formats are
        assert f["dpi"] == TEST_DPI == round(Image.open(out / f["png"]).info["dpi"][0])
    assert {p.suffix for p in (out / "figures").iterdir()} == {".png"}  # tested in test_figure_formats.py
    ids = {f["id"] for f in summary["figures"]}
    assert {"forest_AE", "forest_PFS", "forest_ORR", "densities", "metareg_AE", "ppc_studies_AE",
            "prior_grid_AE", "influence_AE", "monitoring_AE", "monitoring_ORR", "funnel"} <= ids
    sections = {f["id"]: f["section"] for f in summary["figures"]}
    for name in ("AE", "PFS", "ORR"):
        assert sections[f"loo_pit_{name}"] == "ppc" and sections[f"power_scaling_{name}"] == "sensitivity"
    assert sections["reinterpretation"] == "reinterpretation"
    for name in ("AE", "PFS", "ORR"):
        idata = az.from_netcdf(out / "posteriors" / f"{name}_exact.nc")
        assert idata.posterior["theta"].sizes["study"] == summary["outcomes"][name]["k"]
        assert abs(float(np.median(idata.posterior["mu"])) - summary["outcomes"][name]["bayes"]["mu"]["median"]) < 0.02


def test_second_run_reuses_the_cache_and_writes_the_same_summary(built):
    out, cache, _, summaries = built
    assert summaries[0] == summaries[1]
    assert len(list(cache.glob("*.npz"))) == 1


class _Sections(HTMLParser):
    """Collects each report section's text and counts its tables, images and list items."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.current: str | None = None
        self.depth = 0
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and "report-section" in (a.get("class") or ""):
            self.current, self.depth = a["id"], 0
            self.sections[self.current] = {"text": "", "tables": 0, "images": 0, "items": 0}
        elif self.current is not None:
            if tag == "section":
                self.depth += 1
            key = {"table": "tables", "img": "images", "li": "items"}.get(tag)
            if key:
                self.sections[self.current][key] += 1
        if tag == "img":
            self.images.append(a.get("src", ""))
        for attr in ("src", "href"):
            value = a.get(attr) or ""
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)
        if tag == "link":
            self.external.append(str(a))

    def handle_endtag(self, tag):
        if tag == "section" and self.current is not None:
            if self.depth == 0:
                self.current = None
            else:
                self.depth -= 1

    def handle_data(self, data):
        if self.current is not None:
            self.sections[self.current]["text"] += data


def test_html_is_self_contained_with_every_section_filled(built):
    out, *_ = built
    parser = _Sections()
    parser.feed((out / "report.html").read_text())
    assert list(parser.sections) == [sid for sid, _ in SECTION_TITLES]
    for sid, content in parser.sections.items():
        body = re.sub(r"\s+", " ", content["text"]).strip()
        assert len(body) > 80, f"section {sid} is nearly empty"
        assert content["tables"] + content["images"] + content["items"] > 0, f"section {sid} has no content"
    summary = json.loads((out / "summary.json").read_text())
    assert len(parser.images) == len(summary["figures"])
    for sid in ("ppc", "sensitivity", "reinterpretation"):
        expected = sum(1 for f in summary["figures"] if f["section"] == sid)
        assert parser.sections[sid]["images"] == expected >= 1
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert parser.external == []


def test_markdown_has_every_section_and_links_existing_figures(built):
    out, *_ = built
    md = (out / "report.md").read_text()
    for sid, title in SECTION_TITLES:
        assert f"## {title}" in md and f'<a id="{sid}"></a>' in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all((out / link).is_file() for link in links)


def test_report_numbers_come_from_summary_and_the_library(built):
    """The probability printed in both reports is summary.json's, which is fit_exact's."""
    out, *_ = built
    summary = json.loads((out / "summary.json").read_text())
    effects = summary["outcomes"]["ORR"]["effects"]
    post = fit_exact([e["yi"] for e in effects], [e["sei"] for e in effects], mu_prior="normal(0, 4)",
                     tau_prior="halfnormal(0.5)", measure="RR")
    p = post.prob_above(1.5)
    row = next(r for r in summary["outcomes"]["ORR"]["bayes"]["probabilities"]
               if r["parameter"] == "mu" and r["threshold"] == 1.5)
    assert row["probability"] == pytest.approx(p, abs=1e-12)
    text = f"P(RR > 1.5) = {p:.3f}"
    assert text in (out / "report.md").read_text()
    assert text in html.unescape((out / "report.html").read_text())
    reml = summary["outcomes"]["AE"]["frequentist"]["reml"]
    assert f"{np.exp(reml['estimate']):.2f} ({np.exp(reml['ci_lower']):.2f} to {np.exp(reml['ci_upper']):.2f})" \
        in (out / "report.md").read_text()


def test_report_states_warnings_seeds_versions_and_coverage(built):
    out, *_ = built
    summary = json.loads((out / "summary.json").read_text())
    md = (out / "report.md").read_text()
    assert summary["warnings"], "the synthetic plan is expected to raise prior-sensitivity warnings"
    for w in summary["warnings"]:
        assert w["message"] in md
    for step, seed in summary["seeds"].items():
        assert f"| {step} | {seed} |" in md
    for package, version in summary["versions"].items():
        assert f"| {package} | {version} |" in md
    assert "X1Unread2009" in md and "not readable" in md


def test_failed_write_leaves_the_previous_report_untouched(built, tmp_path, monkeypatch):
    from bayesmeta.cache import ResultCache
    from bayesmeta.plan import load_plan
    from bayesmeta.reanalysis import run_plan
    from bayesmeta.report import figures, writer

    out, cache, _, summaries = built
    target = tmp_path / "report"
    shutil.copytree(out, target)
    result = run_plan(load_plan(PLAN), cache=ResultCache(cache))
    assert result.cache_hit
    before = (target / "summary.json").read_bytes()

    def broken(spec_result):
        specs = figures.figure_specs(spec_result)
        specs[0].draw = lambda: (_ for _ in ()).throw(RuntimeError("figure failed"))
        return specs[:2]

    monkeypatch.setattr(writer, "figure_specs", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        writer.write_report(result, target)
    assert (target / "summary.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_plan_errors_exit_2_naming_the_key(tmp_path, capsys):
    bad = tmp_path / "plan.toml"
    bad.write_text(PLAN.read_text().replace('main = "weakly_informative"', 'main = "nonexistent"')
                   .replace('"studies.csv"', f'"{PLAN.parent / "studies.csv"}"')
                   .replace('"outcomes.csv"', f'"{PLAN.parent / "outcomes.csv"}"')
                   .replace('"published.csv"', f'"{PLAN.parent / "published.csv"}"')
                   .replace('"priors.toml"', f'"{PLAN.parent / "priors.toml"}"'))
    assert main(["reanalyze", str(bad), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "key 'priors.main'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_loo_pit_band_is_the_binomial_band_of_k_uniform_ecdf_values(built):
    """The band the LOO-PIT figure draws is stored in summary.json: at u, the 95% interval of Binomial(k, u)/k."""
    from scipy import stats

    out, *_ = built
    summary = json.loads((out / "summary.json").read_text())
    for name in ("AE", "PFS", "ORR"):
        ppc = summary["outcomes"][name]["ppc"]
        k = summary["outcomes"][name]["k"]
        band = ppc["loo_pit_band"]
        u = np.array([b["u"] for b in band])
        lo, hi = stats.binom.interval(0.95, k, u)
        np.testing.assert_allclose([b["ci_lower"] for b in band], lo / k)
        np.testing.assert_allclose([b["ci_upper"] for b in band], hi / k)
        assert len(ppc["loo_pit"]) == k


def test_fresh_runs_give_the_same_summary_and_report(built, tmp_path, monkeypatch):
    """A second run from fresh fits writes the same summary.json, report.md and report.html. The first figure of
    each plotting function (forest, LOO-PIT, monitoring, ...) is drawn again and gives the same bytes (SVG and
    PDF: tests/test_figure_formats.py); the others, which differ from it only in their data (in summary.json),
    are copied from the first run."""
    import bayesmeta.report.figures as figures

    out, _, _, summaries = built
    save_one, kinds, drawn = figures._save_one, set(), []

    def first_of_each_kind(spec, folder, formats, dpi):
        kind = spec.id.removesuffix(f"_{spec.outcome}") if spec.outcome else spec.id
        if kind not in kinds:
            kinds.add(kind)
            drawn.append(spec.id)
            return save_one(spec, folder, formats, dpi)
        png = (out / "figures" / f"{spec.id}.png").read_bytes()
        (folder / f"{spec.id}.png").write_bytes(png)
        width, height = (int(round(v * figures.SCREEN_DPI)) for v in spec.draw().get_size_inches())
        return png, width, height

    monkeypatch.setattr(figures, "_save_one", first_of_each_kind)
    again = tmp_path / "again"
    assert main(["reanalyze", str(PLAN), "--out", str(again), "--no-cache", "--quiet", *TEST_FIGURES]) == 0
    assert (again / "summary.json").read_bytes() == summaries[0]
    assert (again / "report.md").read_bytes() == (out / "report.md").read_bytes()
    assert (again / "report.html").read_bytes() == (out / "report.html").read_bytes()
    assert len(drawn) >= 12 and {"forest_AE", "loo_pit_AE", "monitoring_AE", "funnel"} <= set(drawn)
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(p.name for p in (again / "figures").iterdir())
    for name in drawn:
        assert (again / "figures" / f"{name}.png").read_bytes() == (out / "figures" / f"{name}.png").read_bytes(), name
    timings = json.loads((again / "timings.json").read_text())
    assert isinstance(timings, dict)
    assert all(key.endswith("seconds") and value >= 0 for key, value in timings.items())


def test_split_timings_moves_only_seconds():
    from bayesmeta.report.writer import split_timings

    clean, timings = split_timings({"a": {"seconds": 1.5, "x": 2}, "b": [{"compile_seconds": 3.0, "y": "s"}]})
    assert clean == {"a": {"x": 2}, "b": [{"y": "s"}]}
    assert timings == {"/a/seconds": 1.5, "/b[0]/compile_seconds": 3.0}


def test_bias_section_numbers_equal_a_direct_fit_and_its_figures_exist(built):
    """The plan has no [bias] section: the defaults fit the pet-peese ensemble to AE (k = 13 >= min_k 10; RR with
    benefit below 1, so fitted to -yi) and skip PFS and ORR; the section, figures, summary and Egger row agree."""
    import jsonschema

    from bayesmeta.bias import fit_bias
    from bayesmeta.reanalysis.bias import bias_ensemble
    from bayesmeta.report.formatting import interval, prob

    out, _, _, _ = built
    summary = json.loads((out / "summary.json").read_text())
    schema = json.loads((ROOT / "bayesmeta" / "resources" / "summary.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(summary)
    ae = summary["outcomes"]["AE"]
    b = ae["bias"]
    yi = np.array([e["yi"] for e in ae["effects"]])
    sei = np.array([e["sei"] for e in ae["effects"]])
    direct = fit_bias(-yi, sei, measure="RR", ensemble=bias_ensemble("pet-peese"))
    assert b["ensemble"] == "pet-peese" and b["flipped"] and b["k"] == 13
    np.testing.assert_allclose([m["post_prob"] for m in b["models"]], [m.post_prob for m in direct.models],
                               rtol=1e-9, atol=1e-300)
    assert b["inclusion"]["bias"]["bf"] == pytest.approx(direct.inclusion["bias"].bf, rel=1e-9)
    assert b["mu"]["reported"]["median"] == pytest.approx(np.exp(-direct.mu.median()), rel=1e-9)
    for name in ("PFS", "ORR"):
        assert summary["outcomes"][name]["bias"] is None
        assert "bias.min_k = 10" in summary["outcomes"][name]["skipped"]["publication bias and model averaging"]

    md = (out / "report.md").read_text()
    section = md.split("## Publication bias and model averaging", 1)[1].split("\n## ", 1)[0]
    for key in ("mu", "mu_unadjusted"):
        r = b[key]["reported"]
        assert interval(r["median"], r["ci_lower"], r["ci_upper"]) in section
    inc = b["inclusion"]["bias"]
    assert f"bias {inc['bf']:.3g} (posterior probability {prob(inc['post_prob'])})" in section
    est = direct.estimates(b["level"])[0]  # the estimates table: tau as fitted, PET's slope on the outcome's sign
    assert b["estimates"]["tau"]["mean"] == pytest.approx(est["tau"].mean, rel=1e-9)
    assert b["estimates"]["PET"]["ci_lower"] == pytest.approx(-est["PET"].ci_upper, rel=1e-9)
    for key in ("tau", "PET"):
        e = b["estimates"][key]
        assert interval(e["median"], e["ci_lower"], e["ci_upper"], 3) in section
    figures = {f["id"]: f for f in summary["figures"]}
    for fid in ("bias_funnel_AE", "bias_models_AE", "bias_posterior_AE"):
        assert figures[fid]["section"] == "bias"
        assert (out / figures[fid]["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({figures[fid]['png']})" in section
    egger = [r for r in summary["comparison"] if r["outcome"] == "AE" and r["analysis"] == "egger"]
    assert len(egger) == 1 and egger[0]["bayesian_value"] == pytest.approx(inc["post_prob"])
    assert f"P(bias) = {inc['post_prob']:.2f}" in egger[0]["bayesian"]
    pet = [r for r in summary["comparison"] if r["outcome"] == "AE" and r["analysis"] == "pet_peese"]
    assert len(pet) == 1 and pet[0]["bayesian_value"] == pytest.approx(b["mu"]["reported"]["median"])


def test_clinically_important_benefit_is_benefit_beyond_the_mcid(built):
    """The synthetic AE outcome has thresholds [0.7, 1.0] and mcid 0.8: the MCID joins the thresholds, and the
    main table's "P(clinically important benefit)" is P(RR < 0.8), the probability beyond the MCID, not beyond the
    most demanding threshold 0.7; the sensitivity bands use it too."""
    from bayesmeta.reanalysis.statements import stated

    out, _, _, _ = built
    summary = json.loads((out / "summary.json").read_text())
    ae = summary["outcomes"]["AE"]
    assert ae["mcid"] == 0.8 and ae["thresholds"] == [0.7, 0.8, 1.0]
    p = next(p for p in ae["bayes"]["probabilities"] if p["parameter"] == "mu" and p["threshold"] == 0.8)
    row = next(line for line in (out / "report.md").read_text().splitlines()
               if line.startswith("| BCG trials (tuberculosis) (RR) |"))
    assert row.rstrip(" |").endswith(stated(p["statement"], p["probability"])) and "P(RR < 0.8)" in row
    assert ae["sensitivity"]["clinical_threshold"] == 0.8


@pytest.mark.parametrize("all_agree, warnings, words", [
    (True, [], "all quantities agree with the exact engine."),
    (True, ["R-hat 1.012 > 1.01: run longer chains before using these numbers"],
     "all quantities agree with the exact engine, but the sampler's diagnostics call for longer chains"),
    (False, [], "some quantities disagree with the exact engine"),
])
def test_the_nuts_cross_check_sentence_does_not_contradict_its_warnings(all_agree, warnings, words):
    """Agreement with the exact engine and a failed diagnostic are both said: the sentence no longer reads
    'all quantities agree' alone above a warning to run longer chains."""
    from bayesmeta.report.sections import Paragraph, _diagnostics

    mcmc = {"chains": 2, "draws": 200, "seed": 1, "all_agree": all_agree, "warnings": warnings,
            "diagnostics": {"rhat_max": 1.012, "ess_bulk_min": 300, "ess_tail_min": 250, "divergences": 0},
            "agreement": [{"parameter": "mu", "quantity": "median", "exact": 0.1, "nuts": 0.1, "mcse": 0.01,
                           "z": 0.0}]}
    summary = {"outcomes": {"X": {"label": "Outcome X", "bayes": {"mu": {}}, "mcmc": mcmc, "skipped": {}}},
               "warnings": []}
    texts = [b.text for b in _diagnostics(summary) if isinstance(b, Paragraph)]
    assert any(t.startswith("Outcome X: 2 chains x 200 draws") and words in t for t in texts)


def test_every_power_scaling_diagnosis_is_explained_in_its_warning():
    from bayesmeta.reanalysis.outcome import POWER_SCALING_READING
    from bayesmeta.sensitivity import DIAGNOSES

    assert set(POWER_SCALING_READING) == set(DIAGNOSES) - {"-"}
    assert all(len(text) > 40 for text in POWER_SCALING_READING.values())
