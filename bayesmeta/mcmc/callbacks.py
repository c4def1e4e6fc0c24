"""nutpie's two C callbacks (the log density with its gradient, and the expansion to the sampled variables), as
nutpie 0.16 writes them (``nutpie.compile_pymc._make_c_logp_func`` and ``_make_c_expand_func``), with two changes
that only make them quicker to compile:

- the shared arrays (data and prior scales) are read from nutpie's user data by a function written out one
  statement per array (:func:`extraction_fn`), not by nutpie's ``literal_unroll`` over a tuple of them, and it is
  called, not inlined into the callback. numba's typing of the unrolled loop cost about 0.9 s of CPU per shared
  array; the normal model (11 arrays) compiled in 23 s of CPU with nutpie's extraction and in 11-13 s with this one;
- the results are copied into nutpie's buffers element by element instead of by ``out[...] = values``. numba
  compiles a slice assignment with a formatted shape-mismatch message (``raise_shape_mismatch_error``, integer
  to text and concatenation), which cost about 4 s of CPU in each model's compile. A result of another length
  returns the status the caught error returned (1 for the log density, -2 for the expansion), so nutpie sees the
  same codes.
"""

from __future__ import annotations

from typing import Any

VERSION = 2
"""Part of the compiled models' cache key (:func:`bayesmeta.mcmc.diskcache.model_key`)."""


def extraction_fn(inner, shared_data: dict[str, Any], shared_names: list[str], record_dtype):
    """A numba function ``(x, user data pointer) -> inner(x, *shared arrays)`` that reads each shared array from
    nutpie's user data (its address, size and shape), as ``nutpie.compile_pymc.make_extraction_fn`` does, but
    written out one statement per array instead of by ``literal_unroll`` over a tuple."""
    import numba
    from nutpie.compile_pymc import address_as_void_pointer

    env: dict[str, Any] = {"carray": numba.carray, "as_pointer": address_as_void_pointer, "inner": inner,
                           "record_dtype": record_dtype}
    lines = ["def extract(x, user_data_):"]
    if shared_names:
        lines.append("    shared = carray(user_data_, (), record_dtype)['shared']")
    for i, name in enumerate(shared_names):
        env[f"dtype{i}"] = shared_data[name].dtype
        ndim = shared_data[name].ndim
        lines.append(f"    data{i} = carray(as_pointer(shared['data'][{name!r}][()]), "
                     f"int(shared['size'][{name!r}][()]), dtype{i})")
        if ndim:
            lines.append(f"    shape{i} = shared['shape'][{name!r}]")
        shape = "".join(f"int(shape{i}[{j}]), " for j in range(ndim))
        lines.append(f"    array{i} = data{i}.reshape(({shape}))")
    lines.append("    return inner(x, " + "".join(f"array{i}, " for i in range(len(shared_names))) + ")")
    exec("\n".join(lines), env)  # noqa: S102  (the source is built above from the arrays' names and ranks)
    return numba.njit(env["extract"])


def logp_callback(n_dim: int, logp_fn, user_data, shared_names: list[str], shared_data: dict[str, Any]):
    """``(python function, numba signature)`` of the log-density callback: status 0, or -1 (wrong dimension),
    1 (an error), 3 (a non-finite gradient), 4 (a non-finite log density)."""
    import numba
    import numpy as np

    extract = extraction_fn(logp_fn, shared_data, shared_names, user_data.dtype)
    signature = numba.types.int64(numba.types.uint64, numba.types.CPointer(numba.types.double),
                                  numba.types.CPointer(numba.types.double), numba.types.CPointer(numba.types.double),
                                  numba.types.voidptr)

    def logp_numba(dim, x_, out_, logp_, user_data_):
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_dim,))
            logp = numba.carray(logp_, ())
            logp_val, grad = extract(x, user_data_)
            if grad.size != n_dim:
                return 1
            logp[()] = logp_val
            flat = grad.ravel()
            for i in range(n_dim):
                out[i] = flat[i]
            if not np.all(np.isfinite(out)):
                return 3
            if not np.isfinite(logp_val):
                return 4
        except Exception:  # noqa: BLE001  (nutpie reads the status)
            return 1
        return 0

    return logp_numba, signature


def expand_callback(n_dim: int, n_expanded: int, expand_fn, user_data, shared_names: list[str],
                    shared_data: dict[str, Any]):
    """``(python function, numba signature)`` of the expansion callback: status 0, -1 (wrong dimensions) or -2 (an
    error)."""
    import numba

    extract = extraction_fn(expand_fn, shared_data, shared_names, user_data.dtype)
    signature = numba.types.int64(numba.types.uint64, numba.types.uint64, numba.types.CPointer(numba.types.double),
                                  numba.types.CPointer(numba.types.double), numba.types.voidptr)

    def expand_numba(dim, expanded, x_, out_, user_data_):
        if dim != n_dim:
            return -1
        if expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_expanded,))
            (values,) = extract(x, user_data_)
            if values.size != n_expanded:
                return -2
            flat = values.ravel()
            for i in range(n_expanded):
                out[i] = flat[i]
        except Exception:  # noqa: BLE001  (nutpie reads the status)
            return -2
        return 0

    return expand_numba, signature
