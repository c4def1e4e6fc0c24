"""Compiled NUTS models kept in the user's cache folder (bayesmeta.mcmc.diskcache): a crafted entry planted where a
model's entry goes (pickles that would run a command if loaded, as its index and object files) is never
unpickled: the model is compiled and its new entry, with fresh checksums, is loaded next time; a compile loads the
machine code from the user's cache folder only, computes the log density and gradient that PyTensor's Python
implementation computes, and samples exactly as the freshly compiled model; a process that finds a complete entry
loads it from its layout (plain JSON, checksummed) without building PyTensor's functions, and a damaged layout is
not trusted but written again; the key follows the model graph; nothing is written to the project.

The model is the binomial-normal model on arm counts (32 study slots) that test_cli, test_vocabulary and
test_mcmc_binomial fit. This module runs first in their pytest-xdist group (tests/conftest.py) and plants its
crafted entry in the session's compiled folder before anything has compiled the model there, so the one compile
that follows is the one the group needs, and the others load its entry."""

from __future__ import annotations

import ctypes
import json
import pickle
import shutil

import numpy as np
import nutpie
import pytest

from bayesmeta.cachedir import cache_dir
from bayesmeta.mcmc.diskcache import _exclusive, compile_cached, entry_files, key_of
from bayesmeta.mcmc.models import ParamSpec, Structure, build_model, prior_data
from bayesmeta.mcmc.prior_forms import prior_form
from bayesmeta.priors import parse_prior

K = 32
PRIORS = {"mu": "normal(0, 4)", "tau": "halfnormal(0.5)", "baseline_mean": "normal(0, 10)",
          "baseline_sd": "halfnormal(2.5)"}  # fit_binomial_nuts's defaults
RNG = np.random.default_rng(11)


def _data() -> dict[str, np.ndarray]:
    total = RNG.integers(40, 200, size=(2, K)).astype(float)
    events = np.floor(total * RNG.uniform(0.1, 0.4, size=(2, K)))
    data = {"events_t": events[0], "total_t": total[0], "events_c": events[1], "total_c": total[1],
            "mask": np.ones(K), "centred": (RNG.uniform(size=K) < 0.5).astype(float)}
    for name, text in PRIORS.items():
        form = prior_form(parse_prior(text))
        data.update(prior_data(name, ParamSpec.from_form(form), form, loc=name in ("mu", "baseline_mean")))
    return data


DATA = _data()


def _structure(tau: str = PRIORS["tau"], k: int = K) -> Structure:
    spec = {name: ParamSpec.from_form(prior_form(parse_prior(text))) for name, text in {**PRIORS, "tau": tau}.items()}
    return Structure("binomial", k, spec["mu"], spec["tau"], baseline_mean=spec["baseline_mean"],
                     baseline_sd=spec["baseline_sd"])


def _compile(structure: Structure, folder=None):
    return compile_cached(build_model(structure), structure.var_names, structure, folder)


def _logp_and_grad(compiled, x: np.ndarray) -> tuple[float, np.ndarray]:
    """The cached C callback evaluated at unconstrained point ``x``."""
    grad, logp = np.zeros_like(x), np.zeros(1)
    double_p = ctypes.POINTER(ctypes.c_double)
    status = compiled.compiled_logp_func.ctypes(x.size, x.ctypes.data_as(double_p), grad.ctypes.data_as(double_p),
                                               logp.ctypes.data_as(double_p), compiled.user_data.ctypes.data)
    assert status == 0
    return float(logp[0]), grad


class _Planted:
    """A pickle that would create a file when loaded (the crafted cache entry of issue 13)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A crafted entry planted in the session's compiled folder where the model's entry goes (replacing the entry
    if one is there): every index and object file a pickle that would create a file when loaded, the indexes
    without checksums and the object files with checksums that do not match. Returns (structure, the entry's
    files, the file the pickles would create, (model, loaded) of the compile that follows, (model, loaded) of the
    compile after that)."""
    structure = _structure()
    files = entry_files(build_model(structure), structure.var_names, structure)
    target = tmp_path_factory.mktemp("planted") / "ran"
    with _exclusive(cache_dir("compiled") / "locks" / files[0].parent.name):  # no other worker compiles it now
        for path in files:
            path.write_bytes(pickle.dumps(_Planted(str(target))))
            checksum = path.with_name(path.name + ".sha256")
            if path.suffix == ".nbi":
                checksum.unlink(missing_ok=True)
            else:
                checksum.write_text("0" * 64)
    return structure, files, target, _compile(structure), _compile(structure)


@pytest.fixture(scope="module")
def loaded_elsewhere(planted, tmp_path_factory):
    """(base folder, project folder, (model, loaded) from a user cache folder holding a copy of the stored entry,
    compiled in a process whose working folder is the project)."""
    structure, files, *_ = planted
    base = tmp_path_factory.mktemp("diskcache")
    project = base / "project"
    project.mkdir()
    shutil.copytree(files[0].parent, base / "user-cache" / "compiled" / files[0].parent.name)
    mp = pytest.MonkeyPatch()
    mp.setenv("BAYESMETA_CACHE_DIR", str(base / "user-cache"))
    mp.chdir(project)
    try:
        return base, project, _compile(structure)
    finally:
        mp.undo()


def test_a_planted_entry_never_runs_and_the_model_is_compiled_and_stored_with_checksums(planted):
    _, files, target, (compiled, loaded), (_, loaded_again) = planted
    assert not loaded and not target.exists()
    assert all(path.with_name(path.name + ".sha256").is_file() for path in files)
    assert np.isfinite(_logp_and_grad(compiled.with_data(**DATA), np.zeros(compiled.n_dim))[0])
    assert loaded_again and not target.exists()  # the new entry was stored with fresh checksums


def test_the_second_compile_loads_from_the_user_cache_only(loaded_elsewhere):
    base, project, (compiled, loaded) = loaded_elsewhere
    assert loaded
    assert compiled.logp_func is None and compiled.expand_func is None  # from the layout: no PyTensor functions
    assert list(project.rglob("*")) == []
    assert any((base / "user-cache" / "compiled").rglob("*.nbc"))


def test_the_loaded_model_matches_pytensors_python_implementation(planted, loaded_elsewhere):
    structure = planted[0]
    _, _, (compiled, _) = loaded_elsewhere
    model = build_model(structure)
    import pymc as pm

    with model:
        pm.set_data(DATA)
    # the reference: PyTensor's own Python implementations of the graph (no C or numba code generated)
    logp_c, dlogp_c = model.compile_logp(mode="FAST_COMPILE"), model.compile_dlogp(mode="FAST_COMPILE")
    compiled = compiled.with_data(**DATA)
    names, slices, shapes = compiled.shape_info
    for _ in range(3):
        x = RNG.normal(0, 0.7, compiled.n_dim)
        point = {v.name: x[slices[names.index(v.name)]].reshape(shapes[names.index(v.name)])
                 for v in model.value_vars}
        logp, grad = _logp_and_grad(compiled, x)
        assert logp == pytest.approx(float(logp_c(point)), rel=1e-10, abs=1e-10)
        assert np.allclose(grad, dlogp_c(point), rtol=1e-9, atol=1e-10)


def test_the_loaded_model_samples_exactly_as_the_fresh_one(planted):
    *_, (fresh, loaded), (stored, loaded_again) = planted
    assert not loaded and loaded_again
    draws = [nutpie.sample(c.with_data(**DATA), draws=300, tune=300, chains=2, cores=1, seed=5,
                           progress_bar=False).posterior for c in (fresh, stored)]
    for name in ("mu", "tau", "z", "a"):
        assert np.array_equal(draws[0][name].values, draws[1][name].values)


def test_an_edited_layout_is_not_trusted_and_is_written_again(planted, tmp_path):
    structure, files, *_ = planted
    entry = tmp_path / "compiled" / files[0].parent.name
    shutil.copytree(files[0].parent, entry)
    layout = entry / "layout.json"
    good = json.loads(layout.read_text())
    # a plausible edit: another number of sampled dimensions (its checksum no longer matches)
    layout.write_text(json.dumps({**good, "n_dim": good["n_dim"] + 1}, sort_keys=True))
    compiled, loaded = _compile(structure, tmp_path / "compiled")
    assert loaded  # numba's intact files were used
    assert compiled.logp_func is not None and compiled.n_dim == good["n_dim"]  # the layout came from the functions
    assert json.loads(layout.read_text()) == good
    _, reloaded = _compile(structure, tmp_path / "compiled")
    assert reloaded
    x = RNG.normal(0, 0.7, compiled.n_dim)
    assert _logp_and_grad(compiled.with_data(**DATA), x)[0] == _logp_and_grad(planted[3][0].with_data(**DATA), x)[0]


def test_a_layout_of_another_format_is_not_read(tmp_path):
    from bayesmeta.mcmc.diskcache import LAYOUT_FORMAT, _checksum, _load_layout, _save_layout

    layout = {"format": LAYOUT_FORMAT, "n_dim": 3}
    _save_layout(tmp_path, "k", layout)
    assert _load_layout(tmp_path, "k") == layout and _load_layout(tmp_path, "other key") is None
    older = json.dumps({**layout, "format": LAYOUT_FORMAT - 1}).encode()  # with a checksum that matches
    (tmp_path / "layout.json").write_bytes(older)
    (tmp_path / "layout.json.sha256").write_text(_checksum("k", older))
    assert _load_layout(tmp_path, "k") is None


def test_the_key_follows_the_model_graph(planted):
    structure, files, *_ = planted
    # the same structure built again (PyTensor numbers intermediate variables per build): the same entry
    assert key_of(build_model(structure), structure.var_names, structure)[:32] == files[0].parent.name
    # another scale, and another positive family, are data, not code: the same structure, so the same entry
    assert all(_structure(text) == structure for text in ("halfnormal(1.5)", "halfcauchy(0.5)", "invgamma(1, 0.15)"))
    # another graph under the same structure (a uniform tau is compiled as written): another entry
    other = build_model(_structure("uniform(0, 1)"))
    assert key_of(other, structure.var_names, structure)[:32] != files[0].parent.name


def test_a_compile_holds_its_entrys_lock_so_a_concurrent_process_waits(tmp_path):
    import subprocess
    import sys

    lock = tmp_path / "locks" / "entry"
    probe = ("import fcntl, sys; fh = open(sys.argv[1], 'a')\n"
             "try:\n    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n")
    with _exclusive(lock):
        held = subprocess.run([sys.executable, "-c", probe, str(lock)]).returncode
    assert held == 3  # another process cannot take the lock while the compile holds it
    assert subprocess.run([sys.executable, "-c", probe, str(lock)]).returncode == 0  # released afterwards
