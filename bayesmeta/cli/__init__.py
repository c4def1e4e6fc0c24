"""Command-line interface: `bayesmeta <command>`.

Each command lives in its own module and registers itself on the shared Typer app. User errors
(:class:`bayesmeta.errors.BayesmetaError`) print one line on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from bayesmeta.cli import options
from bayesmeta.cli.options import Checks
from bayesmeta.errors import BayesmetaError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: no rich import on --help (issue 13), cacheable by bayesmeta.console
    help="Bayesian reanalysis of published meta-analyses.",
)

@app.callback()
def _root(
    checks: Annotated[Checks, typer.Option(
        help="a table's estimates, CIs and p-values that disagree beyond rounding: warn on stderr or stop")
    ] = Checks.warn,
) -> None:
    """Bayesian reanalysis of published meta-analyses."""
    options.CHECKS = checks
    options.TABLE_READ = None


# Modules that define commands on `app`; each is imported for its side effect of registering.
COMMAND_MODULES = (
    "frequentist",
    "compare",
    "fit",
    "ppc",
    "sensitivity",
    "reinterpret",
    "tsa",
    "monitor",
    "reanalyze",
    "init",
    "batch",
    "subgroups",
    "surrogacy",
    "bias",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"bayesmeta.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bayesmeta.cli.{name}":
                raise


_COMMAND: tuple[tuple[int, int], typer.core.TyperGroup] | None = None


def _command():
    """The click command of ``app``, built once per process (and again only if commands were registered since):
    calling ``app`` builds it anew each time, about 60 ms, a third of an exact fit run through :func:`main`.
    With pretty exceptions off, Typer's own call adds nothing else."""
    global _COMMAND
    registered = (len(app.registered_commands), len(app.registered_groups))
    if _COMMAND is None or _COMMAND[0] != registered:
        _COMMAND = (registered, typer.main.get_command(app))
    return _COMMAND[1]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and return its exit status (2 for user errors and usage errors)."""
    from bayesmeta.quiet import silence_known_warnings

    silence_known_warnings()
    _register()
    try:
        _command()(args=argv, prog_name="bayesmeta")
    except (BayesmetaError, ValueError, OSError) as exc:
        # Library checks of argument values (a level outside (0, 1), a ratio threshold <= 0) raise ValueError;
        # an output path that cannot be written raises OSError: both are the user's to fix. A model that cannot
        # be fitted to the table read (too few studies for a step) is named with that table.
        where = options.TABLE_READ
        unlocated = isinstance(exc, BayesmetaError) and getattr(exc, "file", None) is None
        prefix = f"{where}: " if where and unlocated and where not in str(exc) else ""
        typer.echo(f"error: {prefix}{exc}", err=True)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
