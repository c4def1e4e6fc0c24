"""Compiled NUTS models kept in the user's cache folder (bayesmeta.mcmc.diskcache): a compile loads the machine
code from the user's cache folder only, computes the log density and gradient that PyTensor's Python
implementation computes, and samples exactly as a freshly compiled model; a damaged or planted entry is compiled
again (never unpickled) and the new entry is loaded next time; the key follows the model graph; nothing is written
to the project.

The model is the suite's common structure (32 slots, normal mu, a positive tau family), so the entry that seeds the
user's cache here is the one the other NUTS tests compile or load; the one compile of this module's own is the
recompile of the damaged entry."""

from __future__ import annotations

import ctypes

import numpy as np
import nutpie
import pytest

from bayesmeta.mcmc.diskcache import compile_cached, key_of
from bayesmeta.mcmc.models import ParamSpec, Structure, build_model
from bayesmeta.mcmc.prior_forms import prior_form
from bayesmeta.priors import parse_prior

K = 32
RNG = np.random.default_rng(11)
DATA = {"y": RNG.normal(-0.3, 0.3, K), "sei": RNG.uniform(0.1, 0.4, K), "mask": np.ones(K),
        "mu_loc": np.asarray(0.0), "mu_scale": np.asarray(4.0), "tau_scale": np.asarray(0.5),
        "tau_family": np.asarray(0.0), "tau_shape": np.ones(2)}


def _structure(tau: str = "halfnormal(0.5)") -> Structure:
    forms = {name: prior_form(parse_prior(text)) for name, text in (("mu", "normal(0, 4)"), ("tau", tau))}
    return Structure("normal", K, ParamSpec.from_form(forms["mu"]), ParamSpec.from_form(forms["tau"]))


def _logp_and_grad(compiled, x: np.ndarray) -> tuple[float, np.ndarray]:
    """The cached C callback evaluated at unconstrained point ``x``."""
    grad, logp = np.zeros_like(x), np.zeros(1)
    double_p = ctypes.POINTER(ctypes.c_double)
    status = compiled.compiled_logp_func.ctypes(x.size, x.ctypes.data_as(double_p), grad.ctypes.data_as(double_p),
                                               logp.ctypes.data_as(double_p), compiled.user_data.ctypes.data)
    assert status == 0
    return float(logp[0]), grad


@pytest.fixture(scope="module")
def common_key() -> str:
    """key_of the module's model (computing a key builds the model's PyTensor functions, about 2 s)."""
    structure = _structure()
    return key_of(build_model(structure), structure.var_names, structure)


@pytest.fixture(scope="module")
def compiled_twice(common_key, tmp_path_factory):
    """(base folder, project folder, structure, (model, loaded) from the session's cache folder, (model, loaded)
    from a user cache folder seeded with a copy of that entry, in a process whose working folder is the
    project)."""
    import shutil

    from bayesmeta.cachedir import cache_dir

    structure = _structure()
    first = compile_cached(build_model(structure), structure.var_names, structure)  # the session's folder
    key = common_key
    base = tmp_path_factory.mktemp("diskcache")
    project = base / "project"
    project.mkdir()
    shutil.copytree(cache_dir("compiled") / key[:32], base / "user-cache" / "compiled" / key[:32])
    mp = pytest.MonkeyPatch()
    mp.setenv("BAYESMETA_CACHE_DIR", str(base / "user-cache"))
    mp.chdir(project)
    try:
        second = compile_cached(build_model(structure), structure.var_names, structure)
    finally:
        mp.undo()
    return base, project, structure, first, second


def test_the_second_compile_loads_from_the_user_cache_only(compiled_twice):
    base, project, _, _, (_, loaded_second) = compiled_twice
    assert loaded_second
    assert list(project.rglob("*")) == []
    assert any((base / "user-cache" / "compiled").rglob("*.nbc"))


def test_the_loaded_model_matches_pytensors_python_implementation(compiled_twice):
    _, _, structure, _, (compiled, _) = compiled_twice
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


def test_the_key_follows_the_model_graph(common_key):
    a, b = _structure("halfnormal(0.5)"), _structure("uniform(0, 1)")
    key_a = common_key  # the same structure's key, computed in another call
    assert key_a == key_of(build_model(a), a.var_names, a)
    # another scale, and another positive family, are data, not code: the same entry serves them
    for text in ("halfnormal(1.5)", "halfcauchy(0.5)", "invgamma(1, 0.15)"):
        other = _structure(text)
        assert key_a == key_of(build_model(other), other.var_names, other)
    assert key_a != key_of(build_model(b), b.var_names, b)
    c = Structure("normal", K + 8, a.mu, a.tau)
    assert key_a != key_of(build_model(c), c.var_names, c)


class _Planted:
    """A pickle that would create a file when loaded (the crafted cache entry of issue 13)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


@pytest.fixture(scope="module")
def recompiled(compiled_twice, tmp_path_factory):
    """The user cache's entry damaged (its object code replaced by a planted pickle): (file that the pickle
    would create, (model, loaded) of the compile that follows, (model, loaded) of the compile after that)."""
    import pickle

    base, _, structure, _, _ = compiled_twice
    files = [p for p in (base / "user-cache" / "compiled").rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert files and all(p.with_name(p.name + ".sha256").is_file() for p in files)
    target = tmp_path_factory.mktemp("planted") / "ran"
    for path in files:
        if path.suffix == ".nbc":
            path.write_bytes(pickle.dumps(_Planted(str(target))))  # its checksum no longer matches
    mp = pytest.MonkeyPatch()
    mp.setenv("BAYESMETA_CACHE_DIR", str(base / "user-cache"))
    try:
        again = compile_cached(build_model(structure), structure.var_names, structure)
        after = compile_cached(build_model(structure), structure.var_names, structure)
    finally:
        mp.undo()
    return target, again, after


def test_entries_carry_checksums_and_a_damaged_or_planted_entry_is_compiled_again(recompiled):
    target, (compiled, loaded), (_, loaded_again) = recompiled
    assert not loaded and not target.exists()
    x = np.zeros(compiled.n_dim)
    assert np.isfinite(_logp_and_grad(compiled.with_data(**DATA), x)[0])
    assert loaded_again and not target.exists()  # the recompiled entry was stored with fresh checksums


def test_the_loaded_model_samples_exactly_as_the_fresh_one(recompiled):
    _, (fresh, loaded), (stored, loaded_again) = recompiled
    assert not loaded and loaded_again
    draws = [nutpie.sample(c.with_data(**DATA), draws=300, tune=300, chains=2, cores=1, seed=5,
                           progress_bar=False).posterior for c in (fresh, stored)]
    for name in ("mu", "tau", "z"):
        assert np.array_equal(draws[0][name].values, draws[1][name].values)


def test_a_compile_holds_its_entrys_lock_so_a_concurrent_process_waits(tmp_path):
    import subprocess
    import sys

    from bayesmeta.mcmc.diskcache import _exclusive

    lock = tmp_path / "locks" / "entry"
    probe = ("import fcntl, sys; fh = open(sys.argv[1], 'a')\n"
             "try:\n    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n")
    with _exclusive(lock):
        held = subprocess.run([sys.executable, "-c", probe, str(lock)]).returncode
    assert held == 3  # another process cannot take the lock while the compile holds it
    assert subprocess.run([sys.executable, "-c", probe, str(lock)]).returncode == 0  # released afterwards
