"""A report folder that bayesmeta may replace, and only that one.

``--out`` names a folder that a run replaces as a whole. It may be a path that does not exist yet, an empty
folder, or a folder bayesmeta wrote before, recognised by the marker file :data:`MARKER` (JSON naming the
package and its version) or, for reports written before the marker existed, by holding exactly the files the
report writer wrote (:func:`is_legacy_report`). Anything else is refused with an :class:`~bayesmeta.errors.InputError` (exit 2)
before any work is done: an empty name, a file, a symbolic link, a folder with other contents, the working
folder or one that contains it, and a folder that contains an input of the run (the plan, its data, the cache).

A run (:class:`OutputFolder`) holds an advisory lock beside the folder (``.NAME.lock``, ``fcntl.flock``, with
the owner's PID in it), so a second run into the same folder is refused instead of interleaving; the kernel
drops the lock when its process ends, even by SIGKILL, so a killed run never blocks the next one. The report is
written into a temporary sibling that holds the marker from the start, and moved into place only when
complete: the previous report is renamed aside, the new one renamed in, the old one removed. A run interrupted
at any point therefore leaves the previous complete report or, between the two renames, none (the previous
one then waits beside it as ``.NAME.old-*``); leftovers of interrupted runs are removed by the next run.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from bayesmeta.errors import InputError

MARKER = ".bayesmeta-report"
_VALID = "a new folder, an empty one, or a report folder bayesmeta wrote before"


def _refuse(path: str | Path, why: str) -> InputError:
    return InputError(f"--out {why}; nothing was written", file=str(path), valid=_VALID)


def is_report_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding bayesmeta's marker file."""
    marker = path / MARKER
    if not marker.is_file():
        return False
    try:
        content = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and content.get("written_by") == "bayesmeta"


# A report written before the marker existed: exactly what the writer produced then, nothing else.
_LEGACY_FILES = {"report.html", "report.md", "summary.json", "timings.json"}
_LEGACY_FOLDERS = {"figures": (".png", ".svg"), "posteriors": (".nc",)}


def is_legacy_report(path: Path) -> bool:
    """Whether ``path`` is a report of an earlier bayesmeta without the marker: report.html and summary.json,
    at most report.md, timings.json, figures/ (PNG, SVG) and posteriors/ (NetCDF), and nothing else."""
    if not (path / "report.html").is_file() or not (path / "summary.json").is_file():
        return False
    for item in path.iterdir():
        if item.is_symlink():
            return False
        if item.name in _LEGACY_FILES and item.is_file():
            continue
        suffixes = _LEGACY_FOLDERS.get(item.name)
        if suffixes is None or not item.is_dir():
            return False
        if not all(f.is_file() and not f.is_symlink() and f.suffix in suffixes for f in item.iterdir()):
            return False
    return True


def _marker_text() -> str:
    from bayesmeta import __version__

    return json.dumps({"written_by": "bayesmeta", "version": __version__}) + "\n"


def check_output_folder(out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None] = ()) -> Path:
    """The absolute path of ``out`` if a run may replace it, else :class:`InputError` naming the path and why.

    ``inputs``: files and folders the run reads (plan, data, cache); ``out`` must not be one of them or contain
    one."""
    text = os.fspath(out)
    if not text.strip():
        raise _refuse(repr(text), "is empty (it would name the working folder)")
    path = Path(os.path.abspath(text))
    if path.is_symlink():
        raise _refuse(path, "is a symbolic link; name the folder itself")
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise _refuse(path, "is the working folder or contains it")
    for item in inputs:
        if item is None:
            continue
        source = Path(item).resolve()
        if resolved == source:
            raise _refuse(path, "is an input of this run")
        if resolved in source.parents:
            raise _refuse(path, f"contains an input of this run ({source})")
    if resolved.exists() or path.is_symlink():
        if not resolved.is_dir():
            raise _refuse(path, "is an existing file, not a folder bayesmeta wrote")
        if not (is_report_folder(resolved) or is_legacy_report(resolved)) and any(resolved.iterdir()):
            raise _refuse(path, f"is a folder that bayesmeta did not write (it has no {MARKER} file)")
    return path


def _os_error(path: Path, exc: OSError, doing: str) -> InputError:
    return InputError(f"cannot {doing}: {exc.strerror or exc}", file=str(path),
                      valid="a folder you can write to")


class OutputFolder:
    """One run's hold on a report folder: :meth:`open` (check, lock, create the temporary sibling),
    :meth:`commit` (swap it in) or :meth:`discard`; usable as a context manager that discards on error."""

    def __init__(self, out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None] = ()) -> None:
        self.inputs = tuple(inputs)
        self.path = check_output_folder(out, self.inputs)
        self.parent = self.path.parent
        self.lock_path = self.parent / f".{self.path.name}.lock"
        self.tmp: Path | None = None
        self._fd: int | None = None

    # -- lock ----------------------------------------------------------------------------------------------
    def _lock(self) -> None:
        for _ in range(10):
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise _os_error(self.parent, exc, "create a lock file in the output folder's parent") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise _refuse(self.path, f"is being written by another bayesmeta run (PID {owner}); wait for it to "
                                         "finish or choose another folder") from None
            try:
                same = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder removed the file between our open and flock: take a fresh one
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return
        raise _refuse(self.path, "could not be locked (the lock file keeps changing)")

    def _unlock(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.lock_path)  # while still holding it, so no one locks a file about to vanish
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def open(self) -> Path:
        """Lock the folder and create the temporary sibling to write into (it holds the marker already)."""
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(self.parent, exc, "create the output folder's parent") from None
        self._lock()
        try:
            check_output_folder(self.path, self.inputs)  # again, now that no other run can change it
            self._remove_leftovers()
            try:
                self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.tmp-", dir=self.parent))
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(self.tmp, 0o777 & ~umask)  # mkdtemp's 0700 would carry over to the report
                (self.tmp / MARKER).write_text(_marker_text(), encoding="utf-8")
            except OSError as exc:
                raise _os_error(self.parent, exc, "write the report folder") from None
        except BaseException:
            self.discard()
            raise
        return self.tmp

    def _remove_leftovers(self) -> None:
        """Temporary and set-aside folders of interrupted runs into this folder (ours: marked, or empty)."""
        name = glob.escape(self.path.name)
        for pattern in (f".{name}.tmp-*", f".{name}.old-*"):
            for item in self.parent.glob(pattern):
                if item.is_dir() and not item.is_symlink() and (is_report_folder(item) or not any(item.iterdir())):
                    shutil.rmtree(item, ignore_errors=True)

    def commit(self) -> Path:
        """Move the finished temporary folder into place, then remove the previous report; release the lock."""
        if self.tmp is None:
            raise RuntimeError("commit() before open()")
        old = None
        try:
            check_output_folder(self.path, self.inputs)
            if self.path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.old-", dir=self.parent))
                os.rmdir(old)
                os.replace(self.path, old)
            os.replace(self.tmp, self.path)
            self.tmp = None
        except BaseException as exc:
            if old is not None and not self.path.exists():
                os.replace(old, self.path)  # put the previous report back
            self.discard()
            if isinstance(exc, OSError):
                raise _os_error(self.path, exc, "move the finished report into place") from None
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._unlock()
        return self.path

    def discard(self) -> None:
        """Remove the temporary folder (the previous report is untouched) and release the lock."""
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        self._unlock()

    def __enter__(self) -> Path:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or self.tmp is not None:
            self.discard()
