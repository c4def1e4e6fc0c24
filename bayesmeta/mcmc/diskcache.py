"""nutpie models whose machine code is kept in the user's cache folder, so it is compiled once per machine.

nutpie turns the PyMC log density and its gradient into two numba C callbacks (``numba.cfunc``) that inline the
PyTensor graph; compiling them takes 10-25 s of CPU and is repeated by every new process. numba can cache such
callbacks, but its cache key hashes the callbacks' closures, which hold objects that differ in every process
(dispatcher UUIDs), so nutpie's own ``cache=True`` never hits (nutpie issue #115, pull request #334).

:func:`compile_cached` therefore builds the model as ``nutpie.compile_pymc_model`` does for its numba backend
(nutpie 0.16), with the callbacks of :mod:`bayesmeta.mcmc.callbacks`, but compiles them with a numba ``FunctionCache`` keyed by :func:`model_key`: a
SHA-256 of the PyTensor graphs of both functions, the model structure and the versions of Python, numpy,
numba, llvmlite, PyTensor, PyMC and nutpie and of :mod:`bayesmeta.mcmc.shape_check` and
:mod:`bayesmeta.mcmc.callbacks` (the callbacks' source), beside numba's own
target description (CPU and its features). The
data (effects, standard errors, prior scales) are not compiled in: they are read through pointers at run time,
so one entry serves every refit of a structure.

numba stores its entries as pickled object code, i.e. code: they are written and read only under
:func:`bayesmeta.cachedir.cache_dir` ``("compiled")`` (the user's cache folder, or ``$BAYESMETA_CACHE_DIR``),
never a project folder. Each index and object file is written with a ``.sha256`` file beside it holding the
SHA-256 of the key and the file's bytes (:class:`_CheckedCacheFile`); a file whose checksum is missing or does
not match (truncated, corrupted, or written by something else) is not unpickled but treated as absent, and the
model is compiled again. This guards against damage, not against someone who can write the user's own cache
folder (they could write the checksum too).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from bayesmeta.cachedir import cache_dir, prune
from bayesmeta.mcmc import callbacks, shape_check

KEEP = 32  # compiled structures kept; a reanalysis uses one, a test run a dozen
ENTRY = "?" * 32  # an entry folder's name: the first 32 hex digits of its key
LIBRARIES = ("numpy", "numba", "llvmlite", "pytensor", "pymc", "nutpie")


def _versions() -> str:
    parts = [f"python={sys.version}"]
    for name in LIBRARIES:
        try:
            parts.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}=none")
    return ";".join(parts)


def _graph_text(fn) -> str:
    """The compiled PyTensor graph of ``fn`` as text: every op with its type, inputs and constants, without the
    names of intermediate variables (PyTensor numbers those per process)."""
    import pytensor

    out = io.StringIO()
    pytensor.printing.debugprint(fn.maker.fgraph, file=out, print_type=True)
    return re.sub(r" '[^'\n]*'$", "", out.getvalue(), flags=re.MULTILINE)


def model_key(structure: Any, var_names: list[str], logp_fn, expand_fn, shared: dict[str, Any]) -> str:
    """SHA-256 naming the compiled code of a model (see the module docstring)."""
    h = hashlib.sha256()
    for part in (repr(structure), repr(list(var_names)), _versions(), f"shape_check {shape_check.SALT}",
                 f"callbacks {callbacks.VERSION}", _graph_text(logp_fn), _graph_text(expand_fn), repr(sorted((name, str(v.dtype), v.ndim) for name, v in shared.items()))):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _checksum(key: str, content: bytes) -> str:
    return hashlib.sha256(key.encode() + b"\0" + content).hexdigest()


def _checked_cache_file_class():
    """numba's IndexDataCacheFile with a checksum of (key, bytes) beside every file, verified before unpickling."""
    import pickle

    from numba.core.caching import IndexDataCacheFile

    class _CheckedCacheFile(IndexDataCacheFile):
        def _verified(self, path: str) -> bytes | None:
            try:
                with open(path, "rb") as fh:
                    content = fh.read()
                with open(path + ".sha256", encoding="ascii") as fh:
                    expected = fh.read().strip()
            except (OSError, UnicodeDecodeError):
                return None
            return content if expected == _checksum(self._source_stamp, content) else None

        def _write_checked(self, path: str, content: bytes) -> None:
            # the checksum first: a reader never finds new content with an old checksum that matches
            with self._open_for_write(path + ".sha256") as fh:
                fh.write(_checksum(self._source_stamp, content).encode("ascii"))
            with self._open_for_write(path) as fh:
                fh.write(content)

        def _load_index(self):
            content = self._verified(self._index_path)
            if content is None:
                return {}
            stream = io.BytesIO(content)
            if pickle.load(stream) != self._version:
                return {}
            stamp, overloads = pickle.loads(stream.read())
            return overloads if stamp == self._source_stamp else {}

        def _save_index(self, overloads):
            stream = io.BytesIO()
            pickle.dump(self._version, stream, protocol=-1)
            stream.write(self._dump((self._source_stamp, overloads)))
            self._write_checked(self._index_path, stream.getvalue())

        def _load_data(self, name):
            content = self._verified(self._data_path(name))
            if content is None:
                raise OSError(f"no verified cache entry {name}")  # load() then reports a miss
            return pickle.loads(content)

        def _save_data(self, name, data):
            self._write_checked(self._data_path(name), self._dump(data))

    return _CheckedCacheFile


def _function_cache(py_func, folder: Path, key: str):
    """A numba FunctionCache for ``py_func`` that lives in ``folder`` and is indexed by ``key`` (plus numba's
    target description) instead of the function's closure."""
    from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator

    class Locator(_CacheLocator):
        def __init__(self) -> None:
            self._path = str(folder)

        def get_cache_path(self) -> str:
            return self._path

        def get_source_stamp(self) -> str:
            return key

        def get_disambiguator(self) -> str:
            return "bm"

        @classmethod
        def from_function(cls, py_func, py_file):
            self = cls()
            self.ensure_cache_path()
            return self

    class Impl(CompileResultCacheImpl):
        _locator_classes = [Locator]

    checked_file = _checked_cache_file_class()

    class Cache(FunctionCache):
        _impl_class = Impl

        def __init__(self, py_func) -> None:
            super().__init__(py_func)
            self._cache_file = checked_file(cache_path=self._cache_path, filename_base=self._impl.filename_base,
                                            source_stamp=self._impl.locator.get_source_stamp())

        def _index_key(self, sig, codegen):
            return (sig, codegen.magic_tuple(), key)

    return Cache(py_func)


def _cfunc(py_func, signature, folder: Path, key: str):
    """Compile ``py_func`` as a C callback, loading it from ``folder`` when an entry for ``key`` exists."""
    from numba.core import sigutils
    from numba.core.ccallback import CFunc

    func = CFunc(py_func, sigutils.normalize_signature(signature), locals={}, options={})
    func._cache = _function_cache(py_func, folder, key)
    func.compile()
    return func


def _functions(model, var_names: list[str]):
    """The PyTensor functions, initial point, shapes and shared data that nutpie 0.16 builds for ``model``."""
    import numpy as np
    from nutpie import compile_pymc as cp
    from pymc.initial_point import make_initial_point_fn

    shape_check.install()
    initial_point = cp._wrap_with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point", jitter_rvs=set(model.free_RVs),
        return_transformed=True))
    n_dim, n_expanded, logp_fn, expand_fn, initial_point_fn, shape_info = cp._make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=initial_point,
        var_names=var_names)
    shared_data, shared_vars = {}, {}
    for val in [*logp_fn.get_shared(), *expand_fn.get_shared()]:
        if val.name in shared_vars and shared_vars[val.name] is not val:
            raise ValueError(f"Shared variables must have unique names: {val.name}")
        shared_data[val.name] = np.array(val.get_value(), order="C", copy=True)
        shared_data[val.name].flags.writeable = False
        shared_vars[val.name] = val
    return n_dim, n_expanded, logp_fn, expand_fn, initial_point_fn, shape_info, shared_data, shared_vars


def key_of(model, var_names: list[str], structure: Any) -> str:
    """:func:`model_key` of ``model`` (builds its PyTensor functions; compiles nothing with numba)."""
    _, _, logp_fn, expand_fn, _, _, shared_data, _ = _functions(model, var_names)
    return model_key(structure, var_names, logp_fn, expand_fn, shared_data)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (``fcntl.flock``), so that processes compiling the same model at once
    (parallel reanalyses, test workers) compile it once: the second waits and loads the first's entry. Where
    locking is unavailable (no ``fcntl``, an unwritable folder) it runs unlocked, as before."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _callbacks(model, var_names: list[str], structure: Any):
    """The model's PyTensor functions (:func:`_functions`), nutpie's user data, the entry's key and the two C
    callbacks to compile, each as ``(python function, signature)``."""
    from nutpie import compile_pymc as cp

    functions = _functions(model, var_names)
    n_dim, n_expanded, logp_fn_pt, expand_fn_pt, _, _, shared_data, shared_vars = functions
    user_data = cp.make_user_data(shared_vars, shared_data)
    key = model_key(structure, var_names, logp_fn_pt, expand_fn_pt, shared_data)
    logp = callbacks.logp_callback(
        n_dim, logp_fn_pt.vm.jit_fn, user_data, [v.name for v in logp_fn_pt.get_shared()], shared_data)
    expand = callbacks.expand_callback(
        n_dim, n_expanded, expand_fn_pt.vm.jit_fn, user_data, [v.name for v in expand_fn_pt.get_shared()],
        shared_data)
    return functions, user_data, key, (logp, expand)


def entry_files(model, var_names: list[str], structure: Any, folder: Path | None = None) -> list[Path]:
    """The files numba reads for ``model``'s entry in ``folder`` (default ``cache_dir("compiled")``), whether
    or not they exist: each callback's index (``.nbi``) and first object file (``.nbc``)."""
    root = Path(folder) if folder is not None else cache_dir("compiled")
    _, _, key, callbacks = _callbacks(model, var_names, structure)
    files = []
    for py_func, _ in callbacks:
        cache_file = _function_cache(py_func, root / key[:32], key)._cache_file
        files += [Path(cache_file._index_path), Path(cache_file._data_path(cache_file._data_name(1)))]
    return files


def compile_cached(model, var_names: list[str], structure: Any, folder: Path | None = None) -> tuple[Any, bool]:
    """``(nutpie CompiledPyMCModel, loaded from disk)`` for ``model``, as ``nutpie.compile_pymc_model`` builds
    it; the C callbacks are compiled once per machine and loaded from ``folder`` (default
    ``cache_dir("compiled")``) afterwards."""
    import numba
    from nutpie import compile_pymc as cp

    root = Path(folder) if folder is not None else cache_dir("compiled")
    functions, user_data, key, ((logp_raw, logp_sig), (expand_raw, expand_sig)) = _callbacks(
        model, var_names, structure)
    n_dim, n_expanded, logp_fn_pt, expand_fn_pt, initial_point_fn, shape_info, shared_data, _ = functions
    entry = root / key[:32]
    with warnings.catch_warnings(), _exclusive(root / "locks" / key[:32]):
        warnings.filterwarnings("ignore", message="Cannot cache compiled function", category=numba.NumbaWarning)
        logp = _cfunc(logp_raw, logp_sig, entry, key)
        expand = _cfunc(expand_raw, expand_sig, entry, key)
    loaded = logp.cache_hits > 0 and expand.cache_hits > 0
    if entry.is_dir():
        os.utime(entry)  # most recently used first when pruning
        prune(root, KEEP, ENTRY)
    dims, coords = cp._prepare_dims_and_coords(model, shape_info)
    compiled = cp.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp, compiled_expand_func=expand, initial_point_func=initial_point_fn,
        shared_data=shared_data, user_data=user_data, n_expanded=n_expanded, shape_info=shape_info,
        logp_func=logp_fn_pt, expand_func=expand_fn_pt)
    return compiled, loaded
