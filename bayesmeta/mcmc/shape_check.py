"""PyTensor's shape assertion (``SpecifyShape``) for numba, without a formatted error message.

PyMC's log density of the models here holds ``SpecifyShape`` nodes on the padded data (mask, design matrix).
PyTensor's numba implementation asserts each dimension with an f-string message; compiling that message pulls
numba's unicode formatting (integer to text, concatenation) into the model, which costs about 13 s of CPU per
fresh process with an empty PyTensor cache (measured on the normal model: 49 s to 36 s for the first fit). The
check itself stays: a wrong shape still raises ``AssertionError``, with a fixed message.
"""

from __future__ import annotations

SALT = 1
"""Part of PyTensor's cache key of the compiled check: its numba cache never mixes it with PyTensor's own."""

_installed = False


def install() -> None:
    """Register the implementation with PyTensor's numba dispatch (once per process). It takes effect for graphs
    compiled afterwards; PyTensor keys its cache of compiled operations by this module's :data:`SALT`."""
    global _installed
    if _installed:
        return
    import pytensor.link.numba.dispatch  # noqa: F401  (PyTensor's own registrations first, so ours replaces them)
    from pytensor.link.numba.dispatch import basic as numba_basic
    from pytensor.link.utils import compile_function_src
    from pytensor.tensor import NoneConst
    from pytensor.tensor.shape import SpecifyShape

    @numba_basic.register_funcify_default_op_cache_key(SpecifyShape)
    def numba_funcify_SpecifyShape(op, node, **kwargs):
        names = [f"shape_{i}" for i in range(len(node.inputs) - 1)]
        checks = [f"    assert x.shape[{i}] == {name}, 'SpecifyShape: the input does not have the specified shape'"
                  for i, (dim, name) in enumerate(zip(node.inputs[1:], names, strict=True)) if dim is not NoneConst]
        source = f"def specify_shape(x, {', '.join(names)}):\n" + "".join(c + "\n" for c in checks) + "    return x\n"
        return numba_basic.numba_njit(compile_function_src(source, "specify_shape", {})), SALT

    _installed = True
