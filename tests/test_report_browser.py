"""report.html in headless Chromium (Debian's chromium package): every figure loads and no section is empty.

The page's own script writes a marker element (#report-check) on window load listing broken images and empty
sections; Chromium dumps the DOM after load and the test reads the marker. Chromium must be installed (CI
installs it); the test fails, not skips, without it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bayesmeta.plan import load_plan
from bayesmeta.reanalysis import run_plan
from bayesmeta.report import write_report
from bayesmeta.report.sections import SECTION_TITLES

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "tests" / "reference" / "reanalysis_synthetic" / "plan_one_outcome.toml"
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
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report"
    write_report(run_plan(load_plan(PLAN), parallel=False), out)
    return out


def test_every_figure_loads_and_no_section_is_empty(report, tmp_path):
    marker = loaded_marker(report / "report.html", tmp_path / "profile")
    n_figures = len(list((report / "figures").glob("*.png")))
    assert int(marker["images"]) == n_figures > 5
    assert int(marker["sections"]) == len(SECTION_TITLES)
    assert marker["broken"] == ""
    assert marker["empty"] == ""


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
