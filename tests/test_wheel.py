"""The built wheel works on its own: it ships the package data (prior sets, summary schema), installs into a
fresh virtual environment without downloading anything (its dependencies are seen from this environment through
a .pth file), and from an empty folder elsewhere `bayesmeta init` and `bayesmeta reanalyze --quick` run on a copy
of one gallery case's files. Nothing is written into the repository: the sources are copied to a temporary folder
before building."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "data" / "gallery" / "glp1_mace"
PACKAGE_DATA = ("bayesmeta/resources/priors.toml", "bayesmeta/resources/summary.schema.json")


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder of a fresh venv with the wheel installed, environment for its commands, the wheel)."""
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    import matplotlib

    # the font list Matplotlib keeps for this environment is reused (building it anew is not what is tested)
    env.update(MPLCONFIGDIR=matplotlib.get_cachedir(), XDG_CACHE_HOME=str(base / "cache"), PIP_NO_INDEX="1")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "bayesmeta", source / "bayesmeta", ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(base / "dist")],
         source, env)
    wheel, = (base / "dist").glob("bayesmeta-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base, env)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base, env)
    # the project environment's packages (numpy, pymc, ...) are seen after the venv's own: no download
    (Path(purelib.stdout.strip()) / "project_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
         base, env)
    return venv / "bin", env, wheel


@pytest.mark.slow
def test_the_wheel_ships_the_package_data(installed):
    _, _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGE_DATA) <= names
    assert not any(n.startswith(("tests/", "data/", "models/")) for n in names)


@pytest.mark.slow
def test_init_and_quick_reanalysis_from_an_empty_folder_with_the_installed_wheel(installed, tmp_path):
    bin_dir, env, _ = installed
    work = tmp_path / "elsewhere"
    work.mkdir()
    for name in ("outcomes.csv", "published.csv"):
        shutil.copy(CASE / name, work / name)
    where = _run([str(bin_dir / "python"), "-c", "import bayesmeta; print(bayesmeta.__file__)"], work, env)
    assert Path(where.stdout.strip()).is_relative_to(bin_dir.parent)  # the installed copy, not the sources
    _run([str(bin_dir / "bayesmeta"), "init", "--outcomes", "outcomes.csv", "--published", "published.csv"], work, env)
    _run([str(bin_dir / "bayesmeta"), "reanalyze", "plan.toml", "--out", "report", "--quick", "--no-cache", "--quiet"],
         work, env)
    summary = json.loads((work / "report" / "summary.json").read_text())
    assert summary["quick"] is True and summary["outcomes"]["MACE"]["k"] == 7
    assert summary["inputs"]["priors"] == "priors.toml"  # the packaged prior sets, read from the wheel's files
    validate = ("import json, sys, jsonschema; from importlib.resources import files; "
                "schema = json.loads(files('bayesmeta').joinpath('resources/summary.schema.json').read_text()); "
                "jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[1])))")
    _run([str(bin_dir / "python"), "-c", validate, str(work / "report" / "summary.json")], work, env)
    assert sorted(p.name for p in work.iterdir()) == ["outcomes.csv", "plan.toml", "published.csv", "report"]
