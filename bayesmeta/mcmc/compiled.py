"""Compile once per model structure; refits swap data into the compiled model.

The sampler is nutpie (Seyboldt et al., https://github.com/pymc-devs/nutpie): it compiles the PyMC log-density
and its gradient with numba once, and ``CompiledPyMCModel.with_data`` returns a copy pointing at new ``pm.Data``
values without compiling again. The cache lives for the Python process; the machine code behind it is kept in
the user's cache folder (:mod:`bayesmeta.mcmc.diskcache`), so a new process loads it instead of compiling.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nutpie

from bayesmeta.mcmc.diskcache import compile_cached
from bayesmeta.mcmc.models import Structure, build_model

log = logging.getLogger(__name__)


@dataclass
class CompiledModelCache:
    """Compiled models keyed by their structure (:class:`Structure`, or any hashable record with ``var_names``
    that ``build`` turns into a PyMC model); ``compiles`` counts the models built in this process and ``loaded``
    those of them whose machine code came from the user's cache folder."""

    build: Callable[[Any], Any] = build_model
    models: dict[Any, object] = field(default_factory=dict)
    compiles: int = 0
    loaded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, structure: Any) -> tuple[object, bool, float]:
        """``(compiled model, cache hit, seconds spent compiling)`` for ``structure``."""
        with self._lock:
            if structure in self.models:
                return self.models[structure], True, 0.0
            start = time.perf_counter()
            model = self.build(structure)
            with warnings.catch_warnings():
                # the log-density runs in numba; PyTensor's C/BLAS linkage only serves the initial-point helper
                warnings.filterwarnings(
                    "ignore", message="PyTensor could not link to a BLAS"
                )
                try:
                    compiled, from_disk = compile_cached(model, structure.var_names, structure)
                except (AttributeError, ImportError, OSError, TypeError) as exc:
                    # compile_cached relies on nutpie 0.16 and numba internals; without them, compile as usual
                    log.warning("compiling without the on-disk model cache (%s)", exc)
                    compiled = nutpie.compile_pymc_model(model, var_names=structure.var_names)
                    from_disk = False
            seconds = time.perf_counter() - start
            self.models[structure] = compiled
            self.compiles += 1
            self.loaded += int(from_disk)
            return compiled, False, seconds

    def clear(self) -> None:
        with self._lock:
            self.models.clear()


CACHE = CompiledModelCache()
