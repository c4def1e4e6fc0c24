"""On-disk cache of reanalysis results, so a run with no changes re-uses its fits.

The key is a SHA-256 of the plan's settings and input files (:meth:`bayesmeta.plan.Plan.fingerprint`), the
package version, the source of the package itself (so an edited engine never serves stale numbers) and the
versions of the numerical libraries. Entries are pickles under ``.cache/bayesmeta/`` (gitignored), written
atomically (temporary file, then rename).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import bayesmeta
from bayesmeta.plan import Plan

DEFAULT_DIR = Path(".cache") / "bayesmeta"
LIBRARIES = ("numpy", "scipy", "pandas", "pymc", "pytensor", "nutpie", "numba", "arviz", "xarray", "netCDF4",
             "matplotlib")


def library_versions() -> dict[str, str]:
    """Installed versions of bayesmeta and the libraries its numbers depend on."""
    out = {"python": ".".join(map(str, __import__("sys").version_info[:3])), "bayesmeta": bayesmeta.__version__}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """SHA-256 over the package's Python source files (path and bytes), computed once per process: the code
    this process runs is the code it imported."""
    root = Path(bayesmeta.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(plan: Plan) -> str:
    """The cache key of a plan's results: inputs, plan settings, package source and library versions."""
    h = hashlib.sha256()
    h.update(plan.fingerprint().encode())
    h.update(source_fingerprint().encode())
    for name, version in sorted(library_versions().items()):
        h.update(f"{name}={version};".encode())
    return h.hexdigest()


class ResultCache:
    """A folder of pickled results keyed by :func:`cache_key`; only the ``keep`` most recently stored entries
    are kept."""

    def __init__(self, root: str | Path | None = None, keep: int = 8) -> None:
        self.root = Path(root) if root is not None else Path(os.environ.get("BAYESMETA_CACHE_DIR", DEFAULT_DIR))
        self.keep = keep

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pkl"

    def load(self, key: str) -> Any | None:
        """The stored object, or None when absent or unreadable (a corrupt entry is removed)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            path.unlink(missing_ok=True)
            return None

    def store(self, key: str, value: Any) -> Path:
        """Pickle ``value`` atomically and return its path."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path(key))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._prune()
        return self.path(key)

    def _prune(self) -> None:
        entries = sorted(self.root.glob("*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[self.keep:]:
            old.unlink(missing_ok=True)
