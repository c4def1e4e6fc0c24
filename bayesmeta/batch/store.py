"""The output folder of a batch: partitions written atomically (a temporary file renamed into place), a manifest
that ties them to the table and the options, and a lock against two runs into one folder.

A re-run with the same table and options skips every partition already written, and the split of the table
(``split/``, :mod:`bayesmeta.batch.split`) when it is complete; with a different table or options the old
partitions and split are removed first (they would mix two analyses)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from bayesmeta.errors import InputError
from bayesmeta.output_folder import MARKER, _marker_text, check_output_folder

PARTS = "parts"
SPLIT = "split"
MANIFEST = "manifest.json"


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write) -> None:
    """``write(tmp_path)`` then rename over ``path``: readers see the old file or the complete new one."""
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class BatchFolder:
    """``--out`` of a batch: checked like every report folder (new, empty or written by bayesmeta), locked while
    a run writes into it."""

    def __init__(self, out: str | Path, inputs: tuple[str | Path | None, ...] = ()) -> None:
        self.path = check_output_folder(out, inputs)
        self.parts = self.path / PARTS
        self.split = self.path / SPLIT
        self._fd: int | None = None

    def open(self, manifest: dict[str, Any]) -> None:
        """Create, lock, and clear partitions written under another manifest."""
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot write the output folder: {exc.strerror or exc}", file=str(self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError("--out is being written by another bayesmeta run; wait for it or choose another folder",
                             file=str(self.path)) from None
        self._fd = fd
        (self.path / MARKER).write_text(_marker_text(), encoding="utf-8")
        old = self.path / MANIFEST
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        for leftover in self.path.glob(f".{SPLIT}.tmp-*"):  # a split interrupted by a killed run
            shutil.rmtree(leftover, ignore_errors=True)
        if not old.exists() or old.read_text(encoding="utf-8") != text:
            shutil.rmtree(self.parts)
            shutil.rmtree(self.split, ignore_errors=True)
            self.parts.mkdir()
            atomic_write(old, lambda p: p.write_text(text, encoding="utf-8"))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def part_path(self, index: int) -> Path:
        return self.parts / f"part-{index:05d}.parquet"

    def done(self, index: int) -> bool:
        return self.part_path(index).exists()

    def write_part(self, index: int, frame: pd.DataFrame) -> None:
        atomic_write(self.part_path(index), lambda p: frame.to_parquet(p, index=False))
