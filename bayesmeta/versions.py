"""Installed versions of the libraries whose code gives bayesmeta's numbers, read once per process.

:func:`importlib.metadata.version` scans every folder on ``sys.path`` for each name it is asked (about 25 ms a
name in a full environment); a process runs the code it imported, so the versions it read first stay true for it.
"""

from __future__ import annotations

import functools
from importlib import metadata


@functools.lru_cache(maxsize=None)
def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
