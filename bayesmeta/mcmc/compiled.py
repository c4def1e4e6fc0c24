"""Compile once per model structure; refits swap data into the compiled model.

The sampler is nutpie (Seyboldt et al., https://github.com/pymc-devs/nutpie): it compiles the PyMC log-density
and its gradient with numba once, and ``CompiledPyMCModel.with_data`` returns a copy pointing at new ``pm.Data``
values without compiling again. The cache lives for the Python process.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field

import nutpie

from bayesmeta.mcmc.models import Structure, build_model


@dataclass
class CompiledModelCache:
    """Compiled models keyed by :class:`Structure`; ``compiles`` counts the compilations done."""

    models: dict[Structure, object] = field(default_factory=dict)
    compiles: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, structure: Structure) -> tuple[object, bool, float]:
        """``(compiled model, cache hit, seconds spent compiling)`` for ``structure``."""
        with self._lock:
            if structure in self.models:
                return self.models[structure], True, 0.0
            start = time.perf_counter()
            model = build_model(structure)
            with warnings.catch_warnings():
                # the log-density runs in numba; PyTensor's C/BLAS linkage only serves the initial-point helper
                warnings.filterwarnings(
                    "ignore", message="PyTensor could not link to a BLAS"
                )
                compiled = nutpie.compile_pymc_model(
                    model, var_names=structure.var_names
                )
            seconds = time.perf_counter() - start
            self.models[structure] = compiled
            self.compiles += 1
            return compiled, False, seconds

    def clear(self) -> None:
        with self._lock:
            self.models.clear()


CACHE = CompiledModelCache()
