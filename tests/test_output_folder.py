"""`--out` may only replace a folder bayesmeta wrote; the report is swapped in whole; runs into one folder do not
interleave; interrupted runs (SIGINT, SIGKILL) leave the previous report and do not block the next run.

Every refusal is checked to leave the folder's contents byte for byte as they were."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bayesmeta import output_folder as of
from bayesmeta.cli import main
from bayesmeta.errors import InputError
from conftest import TEST_FIGURES

ROOT = Path(__file__).resolve().parents[1]
PLAN_DIR = ROOT / "tests" / "reference" / "reanalysis_synthetic"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fake_report(folder: Path, text: str = "previous") -> Path:
    """A folder as bayesmeta writes it: the marker and a summary."""
    folder.mkdir(parents=True)
    (folder / of.MARKER).write_text(json.dumps({"written_by": "bayesmeta", "version": "0"}))
    (folder / "summary.json").write_text(json.dumps({"run": text}))
    return folder


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A user's folder: plan.toml, data/ with the plan's inputs, an unrelated notes.txt and results.docx."""
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    for name in ("studies.csv", "outcomes.csv", "published.csv", "priors.toml"):
        shutil.copy(PLAN_DIR / name, proj / "data" / name)
    plan = (PLAN_DIR / "plan_one_outcome.toml").read_text()
    for name in ("studies.csv", "outcomes.csv", "published.csv", "priors.toml"):
        plan = plan.replace(f'"{name}"', f'"data/{name}"')
    (proj / "plan.toml").write_text(plan)
    (proj / "notes.txt").write_text("my notes\n")
    (proj / "results.docx").write_bytes(b"PK\x03\x04 a word document")
    monkeypatch.chdir(proj)
    return proj


# -- the folder check -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("out, why", [
    (".", "working folder"),
    ("", "is empty"),
    ("   ", "is empty"),
    ("..", "working folder"),
    ("/", "working folder"),
    ("data", "contains an input"),
    ("data/studies.csv", "is an input"),
    ("results.docx", "existing file"),
    ("notes.txt", "existing file"),
])
def test_cli_refuses_an_out_that_is_not_a_report_folder_and_changes_nothing(project, capsys, out, why):
    before = snapshot(project)
    assert main(["reanalyze", "plan.toml", "--out", out, "--quiet", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert snapshot(project) == before
    assert sorted(p.name for p in project.iterdir()) == ["data", "notes.txt", "plan.toml", "results.docx"]


def test_a_folder_without_the_marker_is_refused(project):
    other = project / "figures_by_hand"
    other.mkdir()
    (other / "keep.png").write_bytes(b"png")
    with pytest.raises(InputError, match="did not write"):
        of.check_output_folder(other)
    (other / of.MARKER).write_text("not json")  # a marker must be bayesmeta's JSON
    with pytest.raises(InputError, match="did not write"):
        of.check_output_folder(other)


def test_the_plan_folder_and_the_cache_are_refused_as_containing_inputs(project):
    (project / of.MARKER).write_text(json.dumps({"written_by": "bayesmeta"}))  # even when marked
    elsewhere = project.parent / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    with pytest.raises(InputError, match="contains an input"):
        of.check_output_folder(project, [project / "plan.toml"])
    cache = fake_report(project.parent / "report") / "cache"
    cache.mkdir()
    with pytest.raises(InputError, match="contains an input"):
        of.check_output_folder(project.parent / "report", [cache])


def legacy_report(folder: Path) -> Path:
    """A report as bayesmeta wrote it before the marker existed."""
    (folder / "figures").mkdir(parents=True)
    (folder / "posteriors").mkdir()
    for name in ("report.html", "report.md", "summary.json", "timings.json"):
        (folder / name).write_text("{}")
    (folder / "figures" / "forest.png").write_bytes(b"png")
    (folder / "figures" / "forest.svg").write_text("<svg/>")
    (folder / "posteriors" / "AE_exact.nc").write_bytes(b"nc")
    return folder


def test_a_report_written_before_the_marker_is_recognised_by_its_exact_contents(project):
    old = legacy_report(project / "reports" / "haic")
    assert of.check_output_folder(old) == old
    folder = of.OutputFolder(old)
    folder.open()
    folder.commit()
    assert of.is_report_folder(old) and not (old / "report.html").exists()
    for extra in ("notes.txt", "figures/mine.pdf", "posteriors/keep.csv"):
        other = legacy_report(project / "others" / extra.replace("/", "_"))
        (other / extra).write_text("mine")
        with pytest.raises(InputError, match="did not write"):
            of.check_output_folder(other)


def test_a_symbolic_link_is_refused(project):
    target = fake_report(project / "real")
    (project / "link").symlink_to(target)
    with pytest.raises(InputError, match="symbolic link"):
        of.check_output_folder(project / "link")


def test_new_empty_and_marked_folders_are_accepted(project):
    assert of.check_output_folder("new/report") == project / "new" / "report"
    (project / "empty").mkdir()
    assert of.check_output_folder("empty") == project / "empty"
    fake_report(project / "old")
    assert of.check_output_folder("old") == project / "old"


# -- writing and swapping ---------------------------------------------------------------------------------------
def test_commit_replaces_a_previous_report_whole_and_leaves_nothing_beside_it(tmp_path):
    out = fake_report(tmp_path / "report")
    (out / "stale.png").write_bytes(b"old figure")
    folder = of.OutputFolder(out)
    tmp = folder.open()
    assert tmp.parent == tmp_path and of.is_report_folder(tmp)
    assert folder.lock_path.exists()
    (tmp / "summary.json").write_text(json.dumps({"run": "new"}))
    folder.commit()
    assert sorted(p.name for p in out.iterdir()) == [of.MARKER, "summary.json"]
    assert json.loads((out / "summary.json").read_text()) == {"run": "new"}
    assert json.loads((out / of.MARKER).read_text())["written_by"] == "bayesmeta"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no lock, temporary or old folder left


def test_discard_leaves_the_previous_report_untouched(tmp_path):
    out = fake_report(tmp_path / "report")
    before = snapshot(out)
    with pytest.raises(RuntimeError, match="figure failed"):
        with of.OutputFolder(out) as tmp:
            (tmp / "summary.json").write_text("half")
            raise RuntimeError("figure failed")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_the_report_folder_gets_the_usual_permissions(tmp_path):
    folder = of.OutputFolder(tmp_path / "report")
    folder.open()
    folder.commit()
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "report").stat().st_mode & 0o777 == 0o777 & ~umask


def test_an_unwritable_output_is_a_user_error(project, capsys, monkeypatch):
    # a parent that is a file
    assert main(["reanalyze", "plan.toml", "--out", "results.docx/report", "--quiet", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "results.docx" in err and "Traceback" not in err
    # a folder that refuses writing (simulated: the tests may run as root, whom permissions do not stop)
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(of.tempfile, "mkdtemp", denied)
    assert main(["reanalyze", "plan.toml", "--out", "report", "--quiet", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and "report" in err
    assert not (project / "report").exists() and not (project / ".report.lock").exists()


# -- the lock -----------------------------------------------------------------------------------------------------
def test_a_second_run_into_the_same_folder_is_refused_while_the_first_holds_it(project, capsys):
    first = of.OutputFolder("report")
    first.open()
    try:
        with pytest.raises(InputError, match=f"another bayesmeta run \\(PID {os.getpid()}\\)"):
            of.OutputFolder("report").open()
        assert main(["reanalyze", "plan.toml", "--out", "report", "--quiet", "--no-cache"]) == 2
        assert "another bayesmeta run" in capsys.readouterr().err
    finally:
        first.discard()
    second = of.OutputFolder("report")
    second.open()
    second.discard()


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    """A process holding the folder is killed (SIGKILL): its lock file (with its PID) and temporary folder stay
    on disk, but the kernel has dropped the lock; the next run takes it and removes the leftover."""
    out = fake_report(tmp_path / "report")
    before = snapshot(out)
    code = (f"import os, signal; from bayesmeta.output_folder import OutputFolder; "
            f"t = OutputFolder({str(out)!r}).open(); (t / 'summary.json').write_text('half'); "
            f"os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.wait(timeout=120) == -signal.SIGKILL
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "report")
    assert leftovers[0] == ".report.lock" and leftovers[1].startswith(".report.tmp-")
    assert (tmp_path / ".report.lock").read_text().strip() == str(proc.pid)
    assert snapshot(out) == before
    folder = of.OutputFolder(out)
    folder.open()
    folder.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


# -- interrupting a real run ----------------------------------------------------------------------------------------
def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as in a terminal, even if this test runner ignores SIGINT


def _start(project: Path, out: str) -> subprocess.Popen:
    """`bayesmeta reanalyze` in its own process group, which the signals go to (as a terminal's Ctrl-C does), so
    that worker processes end with it."""
    return subprocess.Popen(
        [sys.executable, "-m", "bayesmeta.cli", "reanalyze", "plan.toml", "--out", out, "--quiet", "--no-cache"],
        cwd=project, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, preexec_fn=_default_sigint,
    )


def _wait_until_writing(proc: subprocess.Popen, parent: Path, name: str, timeout: float = 120.0) -> Path:
    """The run's temporary folder, once it exists and the run has gone on for a moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(parent.glob(f".{name}.tmp-*"))
        if found:
            time.sleep(0.3)
            assert proc.poll() is None, proc.communicate()
            return found[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the run did not start writing")


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_an_interrupted_run_leaves_the_previous_report_and_a_concurrent_run_is_refused(project, capsys, how):
    out = fake_report(project / "report")
    before = snapshot(out)
    proc = _start(project, "report")
    _wait_until_writing(proc, project, "report")
    # meanwhile a second run into the same folder is refused at once
    assert main(["reanalyze", "plan.toml", "--out", "report", "--quiet", "--no-cache"]) == 2
    assert f"another bayesmeta run (PID {proc.pid})" in capsys.readouterr().err
    os.killpg(proc.pid, getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert b"Traceback" not in err
    assert snapshot(out) == before
    if how == "SIGINT":  # cleaned up on the way out
        assert sorted(p.name for p in project.iterdir()) == ["data", "notes.txt", "plan.toml", "report",
                                                              "results.docx"]


def test_the_run_after_a_killed_one_completes_and_cleans_up(project, monkeypatch):
    import bayesmeta.report.writer as writer

    out = fake_report(project / "report")
    proc = _start(project, "report")
    _wait_until_writing(proc, project, "report")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert json.loads((out / "summary.json").read_text()) == {"run": "previous"}
    assert (project / ".report.lock").exists()  # stale: its owner is dead
    # the next run (here in this process: what matters is the dead process's lock and leftovers) completes; it
    # draws no figures (they take most of a report's time; a run that draws them is test_report.py's)
    monkeypatch.setattr(writer, "figure_specs", lambda result: [])
    assert main(["reanalyze", "plan.toml", "--out", "report", "--quiet", "--no-cache", *TEST_FIGURES]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcomes"].keys() == {"AE"}
    assert of.is_report_folder(out) and (out / "report.html").is_file()
    assert sorted(p.name for p in project.iterdir()) == ["data", "notes.txt", "plan.toml", "report",
                                                          "results.docx"]


def test_a_failed_swap_puts_the_previous_report_back(tmp_path, monkeypatch):
    out = fake_report(tmp_path / "report")
    before = snapshot(out)
    folder = of.OutputFolder(out)
    tmp = folder.open()
    real_replace = os.replace

    def failing(src, dst):
        if Path(src) == tmp:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(of.os, "replace", failing)
    with pytest.raises(InputError, match="No space left on device"):
        folder.commit()
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_folder_names_with_glob_characters_are_cleaned_up_exactly(tmp_path):
    out = fake_report(tmp_path / "report[1]")
    stray = fake_report(tmp_path / ".report1.tmp-x")  # matches the unescaped pattern, not ours
    folder = of.OutputFolder(out)
    folder.open()
    folder.commit()
    assert stray.exists() and sorted(p.name for p in tmp_path.iterdir()) == [".report1.tmp-x", "report[1]"]


def test_a_ctrl_c_while_the_worker_starts_is_delayed_not_lost():
    """The cross-check worker is started with SIGINT blocked (so it inherits the block and prints no traceback of
    its own); a SIGINT to this process in that moment is delivered when the block ends."""
    import threading

    from bayesmeta.reanalysis.crosscheck import _sigint_blocked_for_children

    # Python's own Ctrl-C handler, sent to this thread: what runs before this test in the same worker (threads,
    # libraries' handlers) must not decide where the signal goes
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with _sigint_blocked_for_children():
                signal.pthread_kill(threading.get_ident(), signal.SIGINT)
                assert signal.SIGINT in signal.sigpending()
                child = subprocess.run([sys.executable, "-c", "import signal; print(int(signal.SIGINT in "
                                        "signal.pthread_sigmask(signal.SIG_BLOCK, [])))"], capture_output=True,
                                       text=True)
                assert child.stdout.strip() == "1"
            time.sleep(1.0)  # not reached: the pending SIGINT is raised first
    finally:
        signal.signal(signal.SIGINT, previous)
