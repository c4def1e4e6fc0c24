"""`bayesmeta init --outcomes FILE [--studies FILE] [--published FILE] [--out plan.toml]`: write a commented starter
plan for a user's own meta-analysis (:func:`bayesmeta.plan_template.plan_text`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bayesmeta.cli import app


@app.command("init")
def init_command(
    outcomes: Annotated[str, typer.Option("--outcomes", help="the outcomes table (study_id, outcome, measure and "
                                                             "the reported statistics)")],
    studies: Annotated[Optional[str], typer.Option("--studies", help="the study table (optional)")] = None,
    published: Annotated[Optional[str], typer.Option("--published", help="the paper's published results "
                                                                         "(optional)")] = None,
    out: Annotated[str, typer.Option("--out", help="where to write the plan (never overwritten)")] = "plan.toml",
) -> None:
    """Write a commented plan for these files that `bayesmeta reanalyze` runs as it is; the lines marked CHECK
    are guesses to replace with the paper's words and choices."""
    from bayesmeta.errors import InputError
    from bayesmeta.plan import load_plan
    from bayesmeta.plan_template import plan_text

    target = Path(out)
    if target.exists():
        raise InputError("the plan file already exists; it is never overwritten", file=str(target),
                         valid="a new file name for --out, or remove the old plan first")
    text = plan_text(outcomes, studies, published, plan_path=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    probe = target.with_name(f".{target.name}.init-check.toml")
    try:
        probe.write_text(text, encoding="utf-8")
        load_plan(probe)  # the written plan must load as reanalyze will load it
        with open(target, "x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        raise InputError("the plan file already exists; it is never overwritten", file=str(target)) from None
    finally:
        probe.unlink(missing_ok=True)
    typer.echo(f"wrote {target}; check the lines marked CHECK, then run: bayesmeta reanalyze {target} --out report")
