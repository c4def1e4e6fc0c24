"""report.html in headless Chromium (Debian's chromium package): every figure loads and no section is empty;
and the HAIC plan end to end.

The page's own script writes a marker element (#report-check) on window load listing broken images and empty
sections; Chromium dumps the DOM after load and the test reads the marker. Chromium must be installed (CI
installs it); the test fails, not skips, without it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from bayesmeta.report.sections import SECTION_TITLES

MARKER = re.compile(r'<div id="report-check"([^>]*)>')


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("Chromium is not installed (Debian: apt-get install chromium); the report test needs it")


def loaded_marker(page: Path, profile: Path) -> dict[str, str]:
    """Open ``page`` in headless Chromium, let it load, and return the attributes of its #report-check marker."""
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    match = MARKER.search(done.stdout)
    assert match, f"no #report-check marker in the DOM (exit {done.returncode}): {done.stderr[-500:]}"
    return dict(re.findall(r'data-([a-z]+)="([^"]*)"', match.group(1)))


@pytest.fixture(scope="module")
def report(synthetic_report) -> Path:
    """The synthetic plan's report (conftest.synthetic_report, shared with test_report and test_cache)."""
    return synthetic_report[0]


def test_every_figure_loads_and_no_section_is_empty(report, tmp_path):
    marker = loaded_marker(report / "report.html", tmp_path / "profile")
    n_figures = len(list((report / "figures").glob("*.png")))
    assert int(marker["images"]) == n_figures > 5
    assert int(marker["sections"]) == len(SECTION_TITLES)
    assert marker["broken"] == ""
    assert marker["empty"] == ""
    assert marker["first"] == "summary"


def test_the_check_catches_a_broken_figure_and_an_empty_section(report, tmp_path):
    """The same check on a damaged copy: one image's data replaced by junk, one section emptied."""
    html = (report / "report.html").read_text()
    damaged = re.sub(r'(data-figure="forest_AE"[^>]*src="data:image/png;base64,)[^"]+', r"\1AAAA", html, count=1)
    damaged = re.sub(r'(<section class="report-section" id="funnel"><h2>[^<]*</h2><div class="section-body">)'
                     r'.*?(</div></section>)', r"\1\2", damaged, count=1, flags=re.S)
    assert damaged != html
    page = tmp_path / "damaged.html"
    page.write_text(damaged)
    marker = loaded_marker(page, tmp_path / "profile")
    assert marker["broken"] == "forest_AE"
    assert marker["empty"] == "funnel"


@pytest.mark.slow
def test_haic_plan_end_to_end(haic_report, tmp_path):
    """The whole HAIC plan with a short NUTS cross-check (conftest.haic_report, shared with
    test_summary_schema): the report builds, its numbers are the library's, and it loads in Chromium with every
    figure and section."""
    from bayesmeta.data import load_outcomes, load_studies
    from bayesmeta.effects import effects_for
    from bayesmeta.exact import fit_exact

    plan, files = haic_report
    s = json.loads(files.summary.read_text())
    timings = json.loads((files.folder / "timings.json").read_text())
    assert any(key.endswith("sampling_seconds") for key in timings)
    assert "seconds" not in files.summary.read_text()
    studies = load_studies(plan.studies)
    os_effects = effects_for("OS", load_outcomes(plan.outcomes_file, studies=studies), studies)
    post = fit_exact(os_effects["yi"].to_numpy(), os_effects["sei"].to_numpy(), mu_prior="normal(0, 4)",
                     tau_prior="halfnormal(0.5)", measure="HR")
    assert s["outcomes"]["OS"]["bayes"]["prob_below"]["0.7"] == pytest.approx(post.prob_below(0.7), abs=1e-12)
    pooled = {r["outcome"]: r for r in s["comparison"]
              if r["analysis"] == "pooled" and r["quantity"].startswith("pooled")}
    assert {k: pooled[k]["k_published"] for k in pooled} == {"OS": 17, "PFS": 14, "ORR": 16, "DCR": 15}
    assert all(pooled[k]["k_used"] < pooled[k]["k_published"] for k in pooled)
    for name in ("OS", "PFS", "ORR", "DCR"):
        agreement = pd.DataFrame(s["outcomes"][name]["mcmc"]["agreement"])
        assert len(agreement) >= 10 and agreement["z"].abs().median() < 3
    marker = loaded_marker(files.html, tmp_path / "profile")
    assert int(marker["images"]) == len(s["figures"]) >= 20
    assert int(marker["sections"]) == len(SECTION_TITLES)
    assert marker["broken"] == "" and marker["empty"] == ""
    assert marker["first"] == "summary"  # the one-screen summary (claims and main posterior tables) opens the page
