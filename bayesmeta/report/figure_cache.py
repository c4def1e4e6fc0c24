"""Report figures re-used when their inputs are unchanged, so an unchanged re-run does not draw them again.

A figure's key is a SHA-256 of the reanalysis' cache key (:func:`bayesmeta.cache.cache_key`: the input files,
the plan, the package source and the library versions, from which every figure is computed deterministically),
the figure's id, title, caption, resolution and formats. Entries live in ``figures/`` of the user's cache folder
(:mod:`bayesmeta.cachedir`): ``<key>.png`` (and ``<key>.svg``, ``<key>.pdf``, as asked) and ``<key>.json`` with
the pixel size and a SHA-256 of the key and every file, checked before an entry is used; a damaged entry is
drawn again and replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable, Sequence

from bayesmeta.cachedir import cache_dir, prune, write_atomic

log = logging.getLogger(__name__)

Drawn = tuple[bytes, int, int]
"""PNG bytes, width and height in pixels, as returned by the figure saver."""
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


class FigureStore:
    """Saved figures keyed by ``inputs_key`` and each figure's description; ``reused`` counts the hits."""

    def __init__(self, inputs_key: str, root: str | Path | None = None, keep: int = 600) -> None:
        self.inputs_key = inputs_key
        self.root = Path(root) if root is not None else cache_dir("figures")
        self.keep = keep
        self.reused = 0

    def key(self, spec, dpi: int, formats: Sequence[str] = ("png", "svg")) -> str:
        h = hashlib.sha256()
        for part in (self.inputs_key, spec.id, spec.title, spec.caption, str(dpi), ",".join(formats)):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()

    @staticmethod
    def digest(key: str, *blobs: bytes) -> str:
        h = hashlib.sha256(key.encode())
        for blob in blobs:
            h.update(len(blob).to_bytes(8, "little"))
            h.update(blob)
        return h.hexdigest()

    def save(self, spec, folder: Path, dpi: int, draw: Callable[[object, Path, Sequence[str]], Drawn],
             formats: Sequence[str] = ("png", "svg")) -> Drawn:
        """Write ``<id>.<format>`` of ``spec`` into ``folder`` for each of ``formats`` (PNG first): copied from
        the store when an intact entry with the same inputs exists, else drawn by ``draw(spec, folder, formats)``
        and stored."""
        formats = tuple(formats)
        key = self.key(spec, dpi, formats)
        found = self._load(key, formats)
        if found is not None:
            blobs, width, height = found
            for fmt, blob in zip(formats, blobs):
                (folder / f"{spec.id}.{fmt}").write_bytes(blob)
            self.reused += 1
            return blobs[0], width, height
        png, width, height = draw(spec, folder, formats)
        try:
            blobs = [png] + [(folder / f"{spec.id}.{fmt}").read_bytes() for fmt in formats[1:]]
            self._store(key, formats, blobs, width, height)
        except OSError as exc:  # an unwritable cache only costs the reuse
            log.warning("figure %s not cached: %s", spec.id, exc)
        return png, width, height

    def _load(self, key: str, formats: tuple[str, ...]) -> tuple[list[bytes], int, int] | None:
        meta_path = self.root / f"{key}.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            blobs = [(self.root / f"{key}.{fmt}").read_bytes() for fmt in formats]
            if meta.get("sha256") != self.digest(key, *blobs):
                raise ValueError("checksum mismatch")
            width, height = int(meta["width"]), int(meta["height"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring cached figure %s (%s); drawing it again", key, exc)
            for suffix in (".json", *(f".{fmt}" for fmt in formats)):
                (self.root / f"{key}{suffix}").unlink(missing_ok=True)
            return None
        os.utime(meta_path)
        return blobs, width, height

    def _store(self, key: str, formats: tuple[str, ...], blobs: list[bytes], width: int, height: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        meta = {"width": width, "height": height, "formats": list(formats), "sha256": self.digest(key, *blobs)}
        for fmt, blob in zip(formats, blobs):
            write_atomic(self.root / f"{key}.{fmt}", blob)
        write_atomic(self.root / f"{key}.json", json.dumps(meta).encode("utf-8"))  # last: marks it complete

    def tidy(self) -> None:
        """Keep the ``keep`` most recently used entries; drop images an interrupted store left without metadata."""
        prune(self.root, self.keep, "*.json")
        stale = time.time() - 600
        for image in [p for suffix in IMAGE_SUFFIXES for p in self.root.glob(f"*{suffix}")]:
            try:
                if not image.with_suffix(".json").exists() and image.stat().st_mtime < stale:
                    image.unlink(missing_ok=True)
            except OSError:
                continue
