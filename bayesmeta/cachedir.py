"""Where bayesmeta keeps its caches: the user's cache folder, never a project folder.

``$BAYESMETA_CACHE_DIR`` when set (tests point it at a temporary folder), else the platform's user cache folder
(``$XDG_CACHE_HOME/bayesmeta`` or ``~/.cache/bayesmeta`` on Linux, via platformdirs). Compiled NUTS models go to
``compiled/``, reanalysis results to ``results/`` and report figures to ``figures/``. A project folder someone
else packed is therefore never a source of cached results, figures or machine code.
"""

from __future__ import annotations

import os
from pathlib import Path

# shutil and tempfile are imported where used: `bayesmeta --help` answered from the help cache needs neither

ENV = "BAYESMETA_CACHE_DIR"


def cache_root() -> Path:
    """The root of bayesmeta's caches (see the module docstring)."""
    override = os.environ.get(ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("bayesmeta")


def cache_dir(kind: str) -> Path:
    """``cache_root() / kind`` (not created)."""
    return cache_root() / kind


def prune(folder: Path, keep: int, pattern: str = "*") -> None:
    """Remove all but the ``keep`` most recently modified entries (files or folders) matching ``pattern``."""
    import shutil

    if not folder.is_dir():
        return
    entries = []
    for path in folder.glob(pattern):
        try:
            entries.append((path.stat().st_mtime, path))
        except OSError:
            continue
    for _, old in sorted(entries, reverse=True)[keep:]:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to a temporary file beside ``path`` and rename it into place, so that readers see
    the old file or the whole new one."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
