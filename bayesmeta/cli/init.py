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
    mcid: Annotated[Optional[list[str]], typer.Option("--mcid", help="the minimal clinically important effect, "
                                                      "reported scale: VALUE for every outcome or OUTCOME=VALUE "
                                                      "(repeatable); it becomes the outcome's mcid and a "
                                                      "threshold. None is guessed without it")] = None,
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
    text = plan_text(outcomes, studies, published, plan_path=target, mcid=_mcids(mcid or [], outcomes))
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


def _mcids(items: list[str], outcomes: str) -> dict[str, float]:
    """``--mcid`` values by outcome: 'OUTCOME=VALUE', or a bare VALUE for every outcome of the outcomes file."""
    from bayesmeta.data import load_outcomes
    from bayesmeta.errors import InputError

    out: dict[str, float] = {}
    for item in items:
        name, _, text = item.rpartition("=")
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"--mcid {item!r} is not a number", column="--mcid",
                             valid="VALUE or OUTCOME=VALUE, e.g. 0.8 or OS=0.8") from None
        if name:
            out[name.strip()] = value
        else:
            for outcome in dict.fromkeys(load_outcomes(outcomes)["outcome"]):
                out.setdefault(str(outcome), value)
    return out
