"""The `bayesmeta` console script: answers `--help` from a cache of Typer's own output, else runs the CLI.

Importing Typer and its click core costs about 0.2 s of a fresh process, which a help text need not pay more than
once. When the arguments are exactly ``--help`` or ``<command> --help``, the text Typer printed for them the last
time is printed again if nothing it depends on has changed: the cache key holds the arguments, the help width
(click's rule: terminal columns capped at 80, minus 2, at least 50) and the size and modification time of every
source file of bayesmeta and of Typer. Any other call, a miss, or an unreadable cache runs
:func:`bayesmeta.cli.main` as before; a miss on a help request stores what Typer printed (plain text, never code)
under ``help/`` in the user's cache folder (:mod:`bayesmeta.cachedir`).
"""

from __future__ import annotations

import hashlib
import os
import sys

HELP_FLAGS = ("--help",)
KEEP = 64  # help texts kept (the root's and each command's, for a few versions of the sources)


def help_request(argv: list[str]) -> bool:
    """True for exactly ``--help`` or ``<command> --help`` (a command name is a bare word, no option)."""
    if len(argv) == 1:
        return argv[0] in HELP_FLAGS
    return len(argv) == 2 and argv[1] in HELP_FLAGS and argv[0].isidentifier()


def help_width() -> int:
    """The width click formats help to: ``max(min(columns, 80) - 2, 50)`` (``typer._click.formatting``), with
    the columns of :func:`shutil.get_terminal_size` (``$COLUMNS``, else the terminal of stdout, else 80)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
        except (AttributeError, ValueError, OSError):
            columns = 80
    return max(min(columns, 80) - 2, 50)


def _source_stats(folder: str, digest) -> None:
    """Feed (path, size, mtime) of every ``.py`` file under ``folder`` into ``digest``, in a fixed order."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())


def help_key(argv: list[str]) -> str:
    """Hash of the arguments, the help width and (path, size, mtime) of every bayesmeta and Typer source file."""
    import importlib.util

    digest = hashlib.sha256(repr((argv, help_width(), sys.version_info[:2])).encode())
    _source_stats(os.path.dirname(os.path.abspath(__file__)), digest)
    spec = importlib.util.find_spec("typer")
    if spec is not None and spec.origin is not None:
        _source_stats(os.path.dirname(spec.origin), digest)
    return digest.hexdigest()


def _cache_file(key: str) -> str:
    from bayesmeta.cachedir import cache_root

    return os.path.join(cache_root(), "help", f"{key}.txt")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `bayesmeta` console script (see the module docstring); returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not help_request(args):
        from bayesmeta.cli import main as cli_main

        return cli_main(argv)
    path: str | None = None
    try:
        path = _cache_file(help_key(args))
        with open(path, encoding="utf-8") as cached:
            sys.stdout.write(cached.read())
        return 0
    except (OSError, ImportError, UnicodeDecodeError):
        pass
    import contextlib
    import io
    from pathlib import Path

    from bayesmeta.cli import main as cli_main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = cli_main(args)
    text = buffer.getvalue()
    sys.stdout.write(text)
    if status == 0 and path is not None and text:
        with contextlib.suppress(OSError):
            from bayesmeta.cachedir import prune, write_atomic

            folder = Path(path).parent
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(Path(path), text.encode("utf-8"))
            prune(folder, KEEP, "*.txt")
    return status
