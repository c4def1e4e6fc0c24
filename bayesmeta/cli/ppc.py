"""`bayesmeta ppc`: posterior predictive checks of the exact normal-normal model on a user's CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bayesmeta.cli import app
from bayesmeta.cli.options import (
    DEFAULT_ADD,
    DEFAULT_MU_PRIOR,
    DEFAULT_TAU_PRIOR,
    AddOption,
    DataArgument,
    Drop00Option,
    FiguresOption,
    JsonOption,
    LevelOption,
    MeasureOption,
    MuPriorOption,
    OutcomeOption,
    SeedOption,
    TauPriorOption,
    ToOption,
    VType,
    VTypeOption,
    ZeroCellsTo,
    dropped_studies,
    json_text,
    measure_value,
    note_prior_units,
    plain,
    read_table,
    zero_cell_rule,
)


@app.command("ppc")
def ppc_command(
    data: DataArgument,
    outcome: OutcomeOption = None,
    vtype: VTypeOption = VType.LS,
    add: AddOption = DEFAULT_ADD,
    to: ToOption = ZeroCellsTo.only0,
    drop00: Drop00Option = None,
    measure: MeasureOption = None,
    mu_prior: MuPriorOption = DEFAULT_MU_PRIOR,
    tau_prior: TauPriorOption = DEFAULT_TAU_PRIOR,
    level: LevelOption = 0.95,
    draws: Annotated[int, typer.Option(help="posterior draws for the Q-discrepancy p-value")] = 4000,
    seed: SeedOption = 0,
    figures: FiguresOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per-study posterior predictive and leave-one-out p-values (LOO-PIT), and the Q-discrepancy
    posterior predictive p-value of the heterogeneity model (exact engine)."""
    from bayesmeta.exact import fit_exact
    from bayesmeta.ppc import q_discrepancy_ppp, study_predictive_pvalues

    table = read_table(data, measure_value(measure), outcome=outcome, vtype=vtype,
                       zero_cells=zero_cell_rule(add, to, drop00))
    note_prior_units(table, mu_prior, tau_prior)
    post = fit_exact(table, mu_prior=mu_prior, tau_prior=tau_prior, seed=seed)
    studies = study_predictive_pvalues(post, level=level)
    q = q_discrepancy_ppp(post, n_draws=draws, seed=seed)
    if figures:
        _write_figures(Path(figures), studies, q, post.measure)
    if as_json:
        out = {
            "engine": post.engine,
            "measure": post.measure,
            "k": post.k,
            "priors": dict(post.priors),
            "level": level,
            "method": studies.attrs["method"],
            "studies": [
                {"study": str(sid), **{c: plain(v) for c, v in row.items()}} for sid, row in studies.iterrows()
            ],
            "q_discrepancy": {k: plain(v) for k, v in q.to_dict().items()},
            "seed": seed,
            "dropped": dropped_studies(table),
        }
        typer.echo(json_text(out))
        return
    _print(post, studies, q, level)


def _print(post, studies, q, level: float) -> None:
    from rich.console import Console
    from rich.table import Table
    from bayesmeta.printing import print_table

    console = Console()
    from bayesmeta.scales import measure_info

    scale = measure_info(post.measure).analysis_label
    t = Table(title=f"Posterior predictive checks (exact engine, k = {post.k}, measure {post.measure}; "
                    f"yi on the {scale} scale)")
    for col in (
        "study",
        "yi",
        "sei",
        "p post",
        f"{level:.0%} predictive",
        "LOO-PIT",
        "p LOO (2-sided)",
        f"{level:.0%} LOO predictive",
    ):
        t.add_column(col, justify="left" if col == "study" else "right")
    for sid, r in studies.iterrows():
        t.add_row(
            str(sid),
            f"{r['yi']:.3f}",
            f"{r['sei']:.3f}",
            f"{r['pit']:.3f}",
            f"[{r['pred_lower']:.3f}, {r['pred_upper']:.3f}]",
            f"{r['loo_pit']:.3f}",
            f"{r['loo_p_two_sided']:.3f}",
            f"[{r['loo_lower']:.3f}, {r['loo_upper']:.3f}]",
        )
    print_table(t, console)
    worst = studies["loo_p_two_sided"].idxmin()
    console.print(
        f"most surprising study (leave-one-out): {worst} (two-sided p = {studies.loc[worst, 'loo_p_two_sided']:.3f})"
    )
    console.print(
        f"Q-discrepancy ppp = {q.ppp:.3f} (MC se {q.mc_se:.3f}, {q.n_draws} draws, seed {q.seed}); "
        "near 0: more spread than the fitted heterogeneity explains"
    )
    console.print(f"priors: mu ~ {post.priors.get('mu')}, tau ~ {post.priors.get('tau')}")


def _write_figures(folder: Path, studies, q, measure: str) -> None:
    from bayesmeta.plots.ppc import (
        plot_loo_pit,
        plot_predictive_intervals,
        plot_q_discrepancy,
    )
    from bayesmeta.plots.saving import save_png
    from bayesmeta.ppc import uniform_ecdf_band

    folder.mkdir(parents=True, exist_ok=True)
    save_png(plot_predictive_intervals(studies, measure=measure), folder / "ppc_studies.png", 150)
    save_png(plot_loo_pit(studies["loo_pit"], band=uniform_ecdf_band(len(studies))), folder / "ppc_loo_pit.png", 150)
    save_png(plot_q_discrepancy(q.t_obs, q.t_rep, q.ppp), folder / "ppc_q_discrepancy.png", 150)
