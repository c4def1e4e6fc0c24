"""nutpie models whose machine code is kept in the user's cache folder, so it is compiled once per machine.

nutpie turns the PyMC log density and its gradient into two numba C callbacks (``numba.cfunc``) that inline the
PyTensor graph; compiling them takes 10-25 s of CPU and is repeated by every new process. numba can cache such
callbacks, but its cache key hashes the callbacks' closures, which hold objects that differ in every process
(dispatcher UUIDs), so nutpie's own ``cache=True`` never hits (nutpie issue #115, pull request #334).

Each entry is named by its key, :func:`model_key`: a SHA-256 of the model structure, the sampled variables,
the model's graph as built (its log density and the variables nutpie expands to, with their types), PyTensor's
flags that steer its rewrites and numba code, and the versions of Python, numpy, numba, llvmlite, PyTensor, PyMC
and nutpie and of :mod:`bayesmeta.mcmc.shape_check` and :mod:`bayesmeta.mcmc.callbacks` (the callbacks' source),
beside numba's own target description (CPU and its features). PyTensor's rewrites and numba's code generation
are deterministic given these, so the key names the machine code without compiling anything: it takes about
0.1 s, where building the PyTensor functions whose graphs the code comes from takes about 3 s. The data
(effects, standard errors, prior scales) are not compiled in: they are read through pointers at run time, so one
entry serves every refit of a structure.

:func:`compile_cached` builds the model as ``nutpie.compile_pymc_model`` does for its numba backend (nutpie
0.16), with the callbacks of :mod:`bayesmeta.mcmc.callbacks`, and compiles them with a numba ``FunctionCache``
keyed by :func:`model_key`. Beside numba's files an entry holds ``layout.json``: the sizes, variable slices and
the order, types and shapes of the shared arrays, in which the compiled code reads nutpie's user data. A process
that finds a complete entry loads the code and rebuilds the rest from the layout and the model's data, without
building the PyTensor functions.

numba stores its entries as pickled object code, i.e. code: they are written and read only under
:func:`bayesmeta.cachedir.cache_dir` ``("compiled")`` (the user's cache folder, or ``$BAYESMETA_CACHE_DIR``),
never a project folder. Each index and object file is written with a ``.sha256`` file beside it holding the
SHA-256 of the key and the file's bytes (:class:`_CheckedCacheFile`), and so is the layout (plain JSON); a file
whose checksum is missing or does not match (truncated, corrupted, or written by something else) is not unpickled
or read but treated as absent, and the model is compiled again. This guards against damage, not against someone
who can write the user's own cache folder (they could write the checksum too).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bayesmeta.cachedir import cache_dir, prune, write_atomic
from bayesmeta.mcmc import callbacks, shape_check
from bayesmeta.versions import installed_version

KEEP = 32  # compiled structures kept; a reanalysis uses one, a test run a dozen
ENTRY = "?" * 32  # an entry folder's name: the first 32 hex digits of its key
LIBRARIES = ("numpy", "numba", "llvmlite", "pytensor", "pymc", "nutpie")


def _versions() -> str:
    parts = [f"python={sys.version}"]
    for name in LIBRARIES:
        parts.append(f"{name}={installed_version(name) or 'none'}")
    return ";".join(parts)


def _graph_text(outputs: list[Any]) -> str:
    """The PyTensor graph of ``outputs`` as text: every op with its type, inputs and constants, without the names
    of intermediate variables (PyTensor numbers those per process)."""
    import pytensor

    out = io.StringIO()
    pytensor.printing.debugprint(outputs, file=out, print_type=True)
    return re.sub(r" '[^'\n]*'$", "", out.getvalue(), flags=re.MULTILINE)


def _pytensor_flags() -> str:
    """PyTensor's settings that can change the rewritten graph or its numba code."""
    import pytensor

    config = pytensor.config
    names = ("floatX", "cast_policy", "optimizer", "optimizer_excluding", "optimizer_including",
             "optimizer_requiring", "numba__fastmath")
    return ";".join([f"{name}={getattr(config, name, None)}" for name in names] + [config.get_config_hash()])


def model_key(structure: Any, var_names: list[str], model) -> str:
    """SHA-256 naming the compiled code of ``model`` (see the module docstring)."""
    graph = _graph_text([model.logp(), *model.unobserved_value_vars])
    h = hashlib.sha256()
    for part in (repr(structure), repr(list(var_names)), _versions(), _pytensor_flags(),
                 f"check_bounds {model.check_bounds}", f"shape_check {shape_check.SALT}",
                 f"callbacks {callbacks.VERSION}", graph):
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


def _cfunc(py_func, signature, folder: Path, key: str, load_only: bool = False):
    """``py_func`` as a C callback, loaded from ``folder`` when an entry for ``key`` exists, else compiled (and
    stored); with ``load_only``, None instead of compiling."""
    from numba.core import sigutils
    from numba.core.ccallback import CFunc

    func = CFunc(py_func, sigutils.normalize_signature(signature), locals={}, options={})
    func._cache = _function_cache(py_func, folder, key)
    if not load_only:
        func.compile()
        return func
    # CFunc.compile without its fall-back to compiling: the callbacks built from a layout have no graph to compile
    cres = func._cache.load_overload(func._sig, func._targetdescr.target_context)
    if cres is None:
        return None
    func._cache_hits += 1
    func._library = cres.library
    func._wrapper_name = cres.fndesc.llvm_cfunc_wrapper_name
    func._wrapper_address = func._library.get_pointer_to_function(func._wrapper_name)
    return func


def _initial_point(model):
    """PyMC's initial-point function of ``model`` as nutpie 0.16 wraps it (support point, jittered)."""
    from nutpie import compile_pymc as cp
    from pymc.initial_point import make_initial_point_fn

    return cp._wrap_with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point", jitter_rvs=set(model.free_RVs),
        return_transformed=True))


def _shared_value(var):
    """A read-only C-ordered copy of a shared variable's value, as nutpie passes it to the callbacks."""
    import numpy as np

    value = np.array(var.get_value(), order="C", copy=True)
    value.flags.writeable = False
    return value


def _functions(model, var_names: list[str]):
    """The PyTensor functions, initial point, shapes and shared data that nutpie 0.16 builds for ``model``."""
    from nutpie import compile_pymc as cp

    shape_check.install()
    n_dim, n_expanded, logp_fn, expand_fn, initial_point_fn, shape_info = cp._make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=_initial_point(model),
        var_names=var_names)
    shared_data, shared_vars = {}, {}
    for val in [*logp_fn.get_shared(), *expand_fn.get_shared()]:
        if val.name in shared_vars and shared_vars[val.name] is not val:
            raise ValueError(f"Shared variables must have unique names: {val.name}")
        shared_data[val.name], shared_vars[val.name] = _shared_value(val), val
    return n_dim, n_expanded, logp_fn, expand_fn, initial_point_fn, shape_info, shared_data, shared_vars


def key_of(model, var_names: list[str], structure: Any) -> str:
    """:func:`model_key` of ``model`` (compiles nothing)."""
    return model_key(structure, var_names, model)


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


def _callback_functions(n_dim: int, n_expanded: int, logp_fn, expand_fn, user_data, logp_names: list[str],
                        expand_names: list[str], shared_data: dict[str, Any]):
    """The two C callbacks to compile or load, each as ``(python function, signature)``. ``logp_fn`` and
    ``expand_fn`` are the PyTensor functions' numba code (None when the callbacks are only loaded)."""
    return (callbacks.logp_callback(n_dim, logp_fn, user_data, logp_names, shared_data),
            callbacks.expand_callback(n_dim, n_expanded, expand_fn, user_data, expand_names, shared_data))


def entry_files(model, var_names: list[str], structure: Any, folder: Path | None = None) -> list[Path]:
    """The files numba reads for ``model``'s entry in ``folder`` (default ``cache_dir("compiled")``), whether
    or not they exist: each callback's index (``.nbi``) and first object file (``.nbc``)."""
    import numpy as np

    root = Path(folder) if folder is not None else cache_dir("compiled")
    key = model_key(structure, var_names, model)
    files = []
    for py_func, _ in _callback_functions(0, 0, None, None, np.zeros(()), [], [], {}):  # names only
        cache_file = _function_cache(py_func, root / key[:32], key)._cache_file
        files += [Path(cache_file._index_path), Path(cache_file._data_path(cache_file._data_name(1)))]
    return files


LAYOUT = "layout.json"
LAYOUT_FORMAT = 1
"""The layout's format: a layout of another format is not read (the model is compiled and its layout rewritten)."""


def _layout(n_dim: int, n_expanded: int, shape_info, logp_fn, expand_fn, shared_data: dict[str, Any]) -> dict:
    """What a compiled entry needs besides its machine code, as plain data."""
    names, slices, shapes = shape_info
    return {"format": LAYOUT_FORMAT, "n_dim": int(n_dim), "n_expanded": int(n_expanded),
            "variables": [[name, [int(sl.start), int(sl.stop)], [int(n) for n in shape]]
                          for name, sl, shape in zip(names, slices, shapes)],
            "shared": [[name, str(value.dtype), [int(n) for n in value.shape]] for name, value in shared_data.items()],
            "logp_shared": [v.name for v in logp_fn.get_shared()],
            "expand_shared": [v.name for v in expand_fn.get_shared()]}


def _save_layout(entry: Path, key: str, layout: dict) -> None:
    content = json.dumps(layout, sort_keys=True).encode()
    write_atomic(entry / (LAYOUT + ".sha256"), _checksum(key, content).encode("ascii"))
    write_atomic(entry / LAYOUT, content)


def _load_layout(entry: Path, key: str) -> dict | None:
    """The entry's layout when its checksum matches and it has this format, else None."""
    try:
        content = (entry / LAYOUT).read_bytes()
        expected = (entry / (LAYOUT + ".sha256")).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if expected != _checksum(key, content):
        return None
    try:
        layout = json.loads(content)
    except ValueError:
        return None
    return layout if isinstance(layout, dict) and layout.get("format") == LAYOUT_FORMAT else None


def _from_layout(model, layout: dict):
    """``(n_dim, n_expanded, initial point function, shape info, shared data, shared variables)`` of ``model``
    from a stored layout, as :func:`_functions` returns them; None when the model's data do not have the stored
    names, types and ranks."""
    from nutpie import compile_pymc as cp

    shared_data, shared_vars = {}, {}
    for name, dtype, shape in layout["shared"]:
        var = model.named_vars.get(name)
        if var is None or not hasattr(var, "get_value"):
            return None
        value = _shared_value(var)
        if str(value.dtype) != dtype or value.ndim != len(shape):
            return None
        shared_data[name], shared_vars[name] = value, var
    names = [name for name, _, _ in layout["variables"]]
    slices = [slice(start, stop) for _, (start, stop), _ in layout["variables"]]
    shapes = [tuple(shape) for _, _, shape in layout["variables"]]
    free = len(model.free_RVs)
    initial_point_fn = cp._rv_dict_to_flat_array_wrapper(_initial_point(model), names=names[:free],
                                                         shapes=shapes[:free])
    return (layout["n_dim"], layout["n_expanded"], initial_point_fn, (names, slices, shapes), shared_data,
            shared_vars)


def _load(model, entry: Path, key: str):
    """The compiled model from a complete entry (layout and both callbacks), or None."""
    from nutpie import compile_pymc as cp

    layout = _load_layout(entry, key)
    built = None if layout is None else _from_layout(model, layout)
    if built is None:
        return None
    n_dim, n_expanded, initial_point_fn, shape_info, shared_data, shared_vars = built
    user_data = cp.make_user_data(shared_vars, shared_data)
    (logp_raw, logp_sig), (expand_raw, expand_sig) = _callback_functions(
        n_dim, n_expanded, None, None, user_data, layout["logp_shared"], layout["expand_shared"], shared_data)
    logp = _cfunc(logp_raw, logp_sig, entry, key, load_only=True)
    expand = None if logp is None else _cfunc(expand_raw, expand_sig, entry, key, load_only=True)
    if expand is None:
        return None
    return _compiled_model(model, n_dim, n_expanded, initial_point_fn, shape_info, shared_data, user_data, logp,
                           expand, None, None)


def _compile(model, var_names: list[str], entry: Path, key: str):
    """``(compiled model, loaded)``: the PyTensor functions built, the callbacks compiled (or loaded, when
    numba's files are there without a layout) and the layout stored."""
    from nutpie import compile_pymc as cp

    n_dim, n_expanded, logp_fn, expand_fn, initial_point_fn, shape_info, shared_data, shared_vars = _functions(
        model, var_names)
    user_data = cp.make_user_data(shared_vars, shared_data)
    (logp_raw, logp_sig), (expand_raw, expand_sig) = _callback_functions(
        n_dim, n_expanded, logp_fn.vm.jit_fn, expand_fn.vm.jit_fn, user_data,
        [v.name for v in logp_fn.get_shared()], [v.name for v in expand_fn.get_shared()], shared_data)
    logp = _cfunc(logp_raw, logp_sig, entry, key)
    expand = _cfunc(expand_raw, expand_sig, entry, key)
    if entry.is_dir():
        try:
            _save_layout(entry, key, _layout(n_dim, n_expanded, shape_info, logp_fn, expand_fn, shared_data))
        except OSError:  # numba caches nothing in an unwritable folder either
            pass
    compiled = _compiled_model(model, n_dim, n_expanded, initial_point_fn, shape_info, shared_data, user_data,
                               logp, expand, logp_fn, expand_fn)
    return compiled, logp.cache_hits > 0 and expand.cache_hits > 0


def _compiled_model(model, n_dim, n_expanded, initial_point_fn, shape_info, shared_data, user_data, logp, expand,
                    logp_fn, expand_fn):
    from nutpie import compile_pymc as cp

    dims, coords = cp._prepare_dims_and_coords(model, shape_info)
    return cp.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp, compiled_expand_func=expand, initial_point_func=initial_point_fn,
        shared_data=shared_data, user_data=user_data, n_expanded=n_expanded, shape_info=shape_info,
        logp_func=logp_fn, expand_func=expand_fn)


def compile_cached(model, var_names: list[str], structure: Any, folder: Path | None = None) -> tuple[Any, bool]:
    """``(nutpie CompiledPyMCModel, loaded from disk)`` for ``model``, as ``nutpie.compile_pymc_model`` builds
    it; the C callbacks are compiled once per machine and loaded from ``folder`` (default
    ``cache_dir("compiled")``) afterwards. A loaded model has no PyTensor functions (``logp_func`` and
    ``expand_func`` are None; nutpie samples with the callbacks alone)."""
    import numba

    root = Path(folder) if folder is not None else cache_dir("compiled")
    key = model_key(structure, var_names, model)
    entry = root / key[:32]
    with warnings.catch_warnings(), _exclusive(root / "locks" / key[:32]):
        warnings.filterwarnings("ignore", message="Cannot cache compiled function", category=numba.NumbaWarning)
        compiled = _load(model, entry, key)
        loaded = compiled is not None
        if compiled is None:
            compiled, loaded = _compile(model, var_names, entry, key)
    if entry.is_dir():
        os.utime(entry)  # most recently used first when pruning
        prune(root, KEEP, ENTRY)
    return compiled, loaded
