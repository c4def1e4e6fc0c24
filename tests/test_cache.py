"""The result cache holds plain data only: a planted pickle never runs, a corrupted or tampered entry is detected
by its checksum and recomputed, and a cache hit gives back exactly the numbers that were stored."""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from bayesmeta import plaindata
from bayesmeta.benefit import Benefit
from bayesmeta.cache import ResultCache, cache_key
from bayesmeta.plan import load_plan
from bayesmeta.reanalysis import run_plan
from conftest import TEST_DPI, TEST_FIGURES

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "tests" / "reference" / "reanalysis_synthetic" / "plan.toml"


class Payload:
    """Unpickling this creates ``marker``: what a crafted cache entry would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _summary(result) -> str:
    return json.dumps(result.to_summary(), allow_nan=False, sort_keys=True)


@pytest.fixture(scope="module")
def plan():
    return load_plan(SYNTHETIC)


@pytest.fixture(scope="module")
def computed(plan, tmp_path_factory):
    """A reanalysis stored in a fresh cache folder, and its summary."""
    root = tmp_path_factory.mktemp("results")
    result = run_plan(plan, parallel=False, cache=ResultCache(root))
    return root, _summary(result)


def _plant_everywhere(project: Path, cache_root: Path, key: str, marker: Path) -> None:
    """Crafted pickles where the old cache looked (.cache/bayesmeta/<key>.pkl in the project) and in the new
    folder: as <key>.pkl, as <key>.npz with a valid checksum, and as an object array inside a valid npz."""
    crafted = pickle.dumps(Payload(marker))
    for folder in (project / ".cache" / "bayesmeta", cache_root):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{key}.pkl").write_bytes(crafted)
    cache = ResultCache(cache_root)
    cache.path(key).write_bytes(crafted)
    cache.checksum_path(key).write_text(cache.digest(key, crafted))
    return cache


def test_a_planted_pickle_never_runs_and_the_entry_is_recomputed(plan, computed, tmp_path, monkeypatch, caplog):
    _, expected = computed
    project, cache_root, marker = tmp_path / "project", tmp_path / "user-cache" / "results", tmp_path / "pwned"
    key = cache_key(plan)
    cache = _plant_everywhere(project, cache_root, key, marker)
    monkeypatch.chdir(project)
    monkeypatch.setenv("BAYESMETA_CACHE_DIR", str(tmp_path / "user-cache"))
    with caplog.at_level(logging.WARNING, logger="bayesmeta.cache"):
        result = run_plan(plan, parallel=False, cache=ResultCache())
    assert not marker.exists()
    assert not result.cache_hit and _summary(result) == expected
    assert "ignoring cache entry" in caplog.text
    # the crafted entry was replaced by a plain-data one, which is now a hit with the same numbers
    again = run_plan(plan, parallel=False, cache=cache)
    assert again.cache_hit and _summary(again) == expected and not marker.exists()


def test_an_object_array_inside_a_checksummed_npz_is_not_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    cache = ResultCache(tmp_path)
    header = json.dumps({"format": 1, "key": "k", "value": {"$": "ndarray", "ref": "a0"}}).encode()
    evil = np.empty(1, dtype=object)
    evil[0] = Payload(marker)
    buffer = io.BytesIO()
    np.savez(buffer, __tree__=np.frombuffer(header, dtype=np.uint8), a0=evil)
    cache.path("k").write_bytes(buffer.getvalue())
    cache.checksum_path("k").write_text(cache.digest("k", buffer.getvalue()))
    assert cache.load("k") is None
    assert not marker.exists() and not cache.path("k").exists()


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "wrong checksum", "no checksum", "other key"])
def test_a_damaged_entry_is_detected_and_recomputed(plan, computed, tmp_path, damage):
    root, expected = computed
    key = cache_key(plan)
    cache = ResultCache(tmp_path)
    for suffix in (".npz", ".sha256"):
        (tmp_path / f"{key}{suffix}").write_bytes((root / f"{key}{suffix}").read_bytes())
    assert cache.load(key) is not None  # intact copy first
    content = cache.path(key).read_bytes()
    if damage == "flip a byte":
        at = len(content) // 2
        cache.path(key).write_bytes(content[:at] + bytes([content[at] ^ 0xFF]) + content[at + 1:])
    elif damage == "truncate":
        cache.path(key).write_bytes(content[: len(content) // 3])
    elif damage == "wrong checksum":
        cache.checksum_path(key).write_text("0" * 64)
    elif damage == "no checksum":
        cache.checksum_path(key).unlink()
    else:  # a valid entry of another key copied under this key's name
        cache.checksum_path(key).write_text(cache.digest(key, content))
        other = ResultCache(tmp_path / "other")
        other.store("another-key", {"mu": 1.0})
        cache.path(key).write_bytes(other.path("another-key").read_bytes())
        cache.checksum_path(key).write_text(cache.digest(key, cache.path(key).read_bytes()))
    assert cache.load(key) is None and not cache.path(key).exists()
    if damage == "wrong checksum":  # the reanalysis then recomputes and stores a sound entry (the same path for all)
        result = run_plan(plan, parallel=False, cache=cache)
        assert not result.cache_hit and _summary(result) == expected
        assert cache.load(key) is not None


def test_an_unwritable_cache_folder_costs_only_the_caching(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="bayesmeta.cache"):
        assert ResultCache(blocker / "results").store("k", {"mu": 1.0}) is None
    assert "result not cached" in caplog.text


def test_a_cache_hit_returns_the_stored_numbers(plan, computed):
    root, expected = computed
    hit = run_plan(plan, parallel=False, cache=ResultCache(root))
    assert hit.cache_hit and _summary(hit) == expected
    assert all(type(o.benefit) is Benefit for o in hit.plan.outcomes)  # a str enum comes back as the enum
    a = hit.outcomes["AE"]
    assert a.idata.posterior["mu"].dtype == np.float64 and a.effects["yi"].dtype == np.float64


def test_entries_hold_no_pickles(plan, computed):
    root, _ = computed
    content = ResultCache(root).path(cache_key(plan)).read_bytes()
    with np.load(io.BytesIO(content), allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)


def test_the_default_folder_is_the_user_cache_not_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BAYESMETA_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert ResultCache().root == tmp_path / "elsewhere" / "results"
    monkeypatch.delenv("BAYESMETA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ResultCache().root == tmp_path / "xdg" / "bayesmeta" / "results"


def test_the_decoder_builds_only_bayesmeta_records(tmp_path):
    marker = tmp_path / "pwned"
    for name in ("os:system", "builtins:open", "subprocess:Popen", "bayesmeta.plan:load_plan", "bayesmeta:os",
                 "bayesmeta.x;y:Z", "bayesmeta.not_a_module:Thing", "bayesmeta.plan:Plan.__init__"):
        with pytest.raises(ValueError):
            plaindata.decode({"$": "dataclass", "class": name, "fields": {}}, {})
        with pytest.raises(ValueError):
            plaindata.decode({"$": "namedtuple", "class": name, "items": [str(marker), "w"]}, {})
        with pytest.raises(ValueError):
            plaindata.decode({"$": "enum", "class": name, "value": str(marker)}, {})
    assert not marker.exists()
    with pytest.raises(TypeError):
        plaindata.encode(Payload(marker))


def test_plain_data_round_trip_keeps_types():
    import pandas as pd

    from bayesmeta.sequential import StopEvent

    frame = pd.DataFrame({"x": [1.5, np.nan], "n": [1, 2], "s": ["a", None], "b": pd.array([True, pd.NA])},
                         index=pd.Index(["p", "q"], name="id"))
    frame.attrs["full"] = {"median": -0.5}
    value = {"f": frame, "t": (1, "a"), 3: [np.float64(2.5), float("inf")], "p": Path("x/y.csv"),
             "e": StopEvent(*range(len(StopEvent._fields))), "d": Benefit.ABOVE}
    tree, arrays = plaindata.encode(value)
    back = plaindata.decode(json.loads(json.dumps(tree, allow_nan=False)), arrays)
    assert back["f"].equals(frame) and list(back["f"].dtypes) == list(frame.dtypes)
    assert back["f"].index.equals(frame.index) and back["f"].attrs == frame.attrs
    assert back["t"] == (1, "a") and back[3] == [2.5, float("inf")] and back["p"] == Path("x/y.csv")
    assert back["e"] == value["e"] and type(back["e"]) is StopEvent
    assert back["d"] is Benefit.ABOVE
    assert os.fspath(back["p"]) == "x/y.csv"


def test_figures_are_reused_only_for_unchanged_inputs_and_intact_entries(plan, computed, tmp_path):
    from bayesmeta.report.figure_cache import FigureStore
    from bayesmeta.report.figures import FigureJob, figure_specs

    result = run_plan(plan, parallel=False, cache=ResultCache(computed[0]))  # the stored reanalysis
    # three figures of the report, among the quickest to draw: the LOO-PIT of each outcome
    specs = [spec for spec in figure_specs(result) if spec.id.startswith("loo_pit_")]
    assert len(specs) == 3
    store_root = tmp_path / "figures"

    def job(folder: str, key: str = result.cache_key) -> FigureJob:
        # PNG only, at the tests' resolution: that every format and the default resolution are stored and reused
        # is tests/test_figure_formats.py's
        return FigureJob(specs, tmp_path / folder, FigureStore(key, root=store_root), formats=("png",),
                         dpi=TEST_DPI)

    first = job("a")
    assert first.store.reused == 0
    second = job("b")
    assert second.store.reused == len(specs)
    for spec, (png, w, h), (png2, w2, h2) in zip(specs, first.drawn, second.drawn):
        assert png == png2 and (w, h) == (w2, h2)
        assert (tmp_path / "b" / f"{spec.id}.png").read_bytes() == png
    # a damaged entry is drawn again (and replaced); other inputs reuse nothing
    damaged = store_root / f"{second.store.key(specs[0], TEST_DPI, second.formats)}.png"
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
    third = job("c")
    assert third.store.reused == len(specs) - 1 and third.drawn[0][0] == first.drawn[0][0]
    assert job("d").store.reused == len(specs)
    assert job("e", key="other inputs").store.reused == 0


def test_a_report_folder_is_current_only_with_its_own_note_and_unchanged_files(tmp_path, monkeypatch):
    from bayesmeta.freshness import record_report, report_is_current

    monkeypatch.setenv("BAYESMETA_CACHE_DIR", str(tmp_path / "user-cache"))
    folder = tmp_path / "report"
    (folder / "figures").mkdir(parents=True)
    (folder / "report.html").write_text("<html></html>")
    (folder / "figures" / "f.png").write_bytes(b"png")
    assert not report_is_current(folder, "k")  # someone else's folder: no note of ours
    record_report(folder, "k")
    assert report_is_current(folder, "k") and not report_is_current(folder, "other inputs")
    (folder / "figures" / "f.png").write_bytes(b"edited")
    assert not report_is_current(folder, "k")
    record_report(folder, "k")
    (folder / "extra.txt").write_text("x")
    assert not report_is_current(folder, "k")
    (folder / "extra.txt").unlink()
    assert report_is_current(folder, "k")
    (folder / "report.html").unlink()
    assert not report_is_current(folder, "k")


def test_an_unchanged_rerun_keeps_the_report_and_a_changed_one_rewrites_it(synthetic_report, tmp_path, monkeypatch,
                                                                           capsys):
    import shutil

    import bayesmeta.report.writer as writer
    from bayesmeta.cachedir import cache_dir
    from bayesmeta.cli import main

    # a user cache without report notes whose result and figure stores hold this plan's results and figures
    # (from conftest.synthetic_report: the key does not depend on where the plan's folder is), so that only the
    # changed run below computes
    shutil.copytree(cache_dir("figures"), tmp_path / "user-cache" / "figures")
    shutil.copytree(synthetic_report[1], tmp_path / "user-cache" / "results")
    monkeypatch.setenv("BAYESMETA_CACHE_DIR", str(tmp_path / "user-cache"))
    project = tmp_path / "synthetic"
    shutil.copytree(SYNTHETIC.parent, project)
    plan_file, out = project / "plan.toml", tmp_path / "report"
    assert main(["reanalyze", str(plan_file), "--out", str(out), "--quiet", *TEST_FIGURES]) == 0
    assert "from cached fits" in capsys.readouterr().out
    assert (out / "summary.json").read_bytes() == synthetic_report[3][0]
    html = (out / "report.html").stat()
    assert main(["reanalyze", str(plan_file), "--out", str(out), "--quiet", *TEST_FIGURES]) == 0
    assert "is up to date" in capsys.readouterr().out
    assert (out / "report.html").stat().st_mtime_ns == html.st_mtime_ns
    plan_file.write_text(plan_file.read_text().replace("seed = 7", "seed = 8"))
    # new inputs: fresh fits and a new report; its figures are not drawn here (the figure store's reuse is
    # tested above)
    monkeypatch.setattr(writer, "figure_specs", lambda result: [])
    assert main(["reanalyze", str(plan_file), "--out", str(out), "--quiet", *TEST_FIGURES]) == 0
    printed = capsys.readouterr().out
    assert "from fresh fits" in printed and "is up to date" not in printed
    assert json.loads((out / "summary.json").read_text())["seeds"]["plan"] == 8
