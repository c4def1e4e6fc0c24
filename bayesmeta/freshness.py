"""Whether a report folder already holds the report of the current inputs, so an unchanged re-run can keep it.

After a report is written, :func:`record_report` notes the reanalysis' cache key (:func:`bayesmeta.cache.cache_key`:
inputs, plan, package source and library versions) and the SHA-256 of every file in the folder, in
``reports/`` of the user's cache folder (:mod:`bayesmeta.cachedir`), never in the report folder itself: a report
folder received from someone else is therefore never taken as current. :func:`report_is_current` is true only
when that note exists for the folder, its key is the current one and the folder holds exactly the noted files
with the noted contents; the report would then be rewritten byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from bayesmeta.cachedir import cache_dir, prune, write_atomic

KEEP = 64
log = logging.getLogger(__name__)


def _note_path(folder: Path) -> Path:
    name = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()
    return cache_dir("reports") / f"{name}.json"


def _contents(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def record_report(folder: str | Path, key: str) -> None:
    """Note that ``folder`` holds the report of the reanalysis with cache key ``key`` (a cache folder that cannot
    be written only costs the next run its shortcut)."""
    folder = Path(folder).resolve()
    note = _note_path(folder)
    try:
        note.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(note, json.dumps({"folder": str(folder), "key": key, "files": _contents(folder)}).encode())
        prune(note.parent, KEEP, "*.json")
    except OSError as exc:
        log.warning("report not noted as current: %s", exc)


def report_is_current(folder: str | Path, key: str) -> bool:
    """True when ``folder`` holds, unchanged, the report last written there for cache key ``key``."""
    folder = Path(folder).resolve()
    try:
        note = json.loads(_note_path(folder).read_text(encoding="utf-8"))
        return (bool(key) and note.get("key") == key and note.get("folder") == str(folder)
                and folder.is_dir() and note.get("files") == _contents(folder))
    except (OSError, ValueError):
        return False
