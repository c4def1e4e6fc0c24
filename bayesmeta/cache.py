"""On-disk cache of reanalysis results, so a run with no changes re-uses its fits.

The key is a SHA-256 of the plan's settings and input files (:meth:`bayesmeta.plan.Plan.fingerprint`), the
package version, the source of the package itself (so an edited engine never serves stale numbers) and the
versions of the numerical libraries. Entries are plain data (a JSON tree and numeric arrays in an ``.npz`` read
without pickle, see :mod:`bayesmeta.plaindata`) with a SHA-256 checksum of key and content beside them, in the
user's cache folder (:mod:`bayesmeta.cachedir`), written atomically (temporary file, then rename). Nothing that
can carry code is loaded: a result cache can be shared or tampered with and still only yield numbers, which the
checksum guards against corruption.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import bayesmeta
from bayesmeta import plaindata
from bayesmeta.cachedir import cache_dir, prune, write_atomic
from bayesmeta.plan import Plan
from bayesmeta.versions import installed_version

log = logging.getLogger(__name__)
LIBRARIES = ("numpy", "scipy", "pandas", "pymc", "pytensor", "nutpie", "numba", "arviz", "xarray", "netCDF4",
             "matplotlib")


def library_versions() -> dict[str, str]:
    """Installed versions of bayesmeta and the libraries its numbers depend on."""
    out = {"python": ".".join(map(str, __import__("sys").version_info[:3])), "bayesmeta": bayesmeta.__version__}
    for name in LIBRARIES:
        out[name] = installed_version(name) or "not installed"
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


class CacheEntryError(ValueError):
    """A stored entry that is unreadable, tampered with or for another key."""


class ResultCache:
    """A folder of results stored as plain data (:mod:`bayesmeta.plaindata`) keyed by :func:`cache_key`; only the
    ``keep`` most recently stored entries are kept.

    Entry ``<key>.npz`` holds the numeric arrays and the JSON tree (as bytes), read with ``allow_pickle=False``;
    ``<key>.sha256`` beside it holds the SHA-256 of the key and the entry's bytes, checked before anything is
    parsed. An entry that fails the check or cannot be rebuilt is reported, removed and recomputed. The default
    folder is ``results/`` in the user's cache folder (:func:`bayesmeta.cachedir.cache_root`)."""

    FORMAT = 1

    def __init__(self, root: str | Path | None = None, keep: int = 8) -> None:
        self.root = Path(root) if root is not None else cache_dir("results")
        self.keep = keep

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def checksum_path(self, key: str) -> Path:
        return self.root / f"{key}.sha256"

    @staticmethod
    def digest(key: str, content: bytes) -> str:
        """SHA-256 over the key and the entry's bytes."""
        return hashlib.sha256(key.encode() + b"\0" + content).hexdigest()

    def load(self, key: str) -> Any | None:
        """The stored value, or None when absent; an entry that fails its checksum or cannot be rebuilt is
        logged as a warning, removed and treated as absent."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return self._read(key, path)
        except (CacheEntryError, OSError) as exc:
            log.warning("ignoring cache entry %s (%s); recomputing", path, exc)
            self.remove(key)
            return None

    def _read(self, key: str, path: Path) -> Any:
        content = path.read_bytes()
        try:
            expected = self.checksum_path(key).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CacheEntryError(f"no readable checksum: {exc}") from exc
        if expected != self.digest(key, content):
            raise CacheEntryError("checksum mismatch")
        try:
            with np.load(io.BytesIO(content), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            header = json.loads(arrays.pop("__tree__").tobytes().decode("utf-8"))
            if header.get("format") != self.FORMAT or header.get("key") != key:
                raise CacheEntryError("entry written for another key or format")
            return plaindata.decode(header["value"], arrays)
        except (ValueError, KeyError, TypeError, OSError, RecursionError, zipfile.BadZipFile) as exc:
            raise CacheEntryError(f"cannot be read as plain data: {exc}") from exc

    def store(self, key: str, value: Any) -> Path | None:
        """Store ``value`` as plain data, atomically (temporary files, then rename); returns the entry's path, or
        None (with a warning) when ``value`` holds something that cannot be stored as plain data or the folder
        cannot be written."""
        try:
            tree, arrays = plaindata.encode(value)
        except TypeError as exc:
            log.warning("result not cached: %s", exc)
            return None
        header = json.dumps({"format": self.FORMAT, "key": key, "value": tree}, allow_nan=False).encode("utf-8")
        buffer = io.BytesIO()
        np.savez(buffer, __tree__=np.frombuffer(header, dtype=np.uint8), **arrays)
        content = buffer.getvalue()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path(key), content)
            write_atomic(self.checksum_path(key), (self.digest(key, content) + "\n").encode("ascii"))
            self._prune()
        except OSError as exc:
            log.warning("result not cached: %s", exc)
            return None
        return self.path(key)

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
        self.checksum_path(key).unlink(missing_ok=True)

    def _prune(self) -> None:
        prune(self.root, self.keep, "*.npz")
        for orphan in self.root.glob("*.sha256"):
            if not orphan.with_suffix(".npz").exists():
                orphan.unlink(missing_ok=True)

