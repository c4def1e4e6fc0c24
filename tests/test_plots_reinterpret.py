"""Reinterpretation figure: what it draws is the table's numbers (read back from the artists), rows are grouped
into panels, skipped rows are named, and `bayesmeta reinterpret --published --figures` writes the figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bayesmeta.cli import main
from bayesmeta.plots.reinterpret import plot_reinterpretation, reinterpretation_lines
from bayesmeta.reinterpret import reinterpret_published

PUBLISHED = Path(__file__).resolve().parents[1] / "data" / "published_results.csv"
PRIORS = ("skeptical", "enthusiastic", "pessimistic", "vague")


@pytest.fixture(scope="module")
def drawn():
    table = reinterpret_published(PUBLISHED, priors=PRIORS, mcid=0.8, benefit={"ORR": "above", "DCR": "above"})
    return table, plot_reinterpretation(table)


def test_every_interval_drawn_is_the_tables(drawn):
    table, fig = drawn
    lines = reinterpretation_lines(fig)
    ok = table[table["status"] == "ok"]
    assert len(lines) == len(ok) + ok["row"].nunique()  # one line per row and prior, plus each published CI
    for r in ok.itertuples():
        np.testing.assert_allclose(lines[f"{r.row}:{r.prior}"], [r.post_ci_lower, r.median, r.post_ci_upper],
                                   rtol=1e-12)
        np.testing.assert_allclose(lines[f"{r.row}:published"], [r.ci_lower, r.estimate, r.ci_upper], rtol=1e-12)


def test_drawn_skeptical_posterior_of_the_pooled_os_hr_matches_the_closed_form(drawn):
    """OS pooled HR 0.52 (0.48-0.58): se = ln(0.58/0.48)/(2 z); skeptical prior N(0, (ln 0.8 / z_0.95)^2)."""
    table, fig = drawn
    row = int(table[(table["outcome"] == "OS") & (table["analysis"] == "pooled")]["row"].iloc[0])
    z = 1.959963984540054
    y, se = math.log(0.52), math.log(0.58 / 0.48) / (2 * z)
    s0 = abs(math.log(0.8)) / 1.6448536269514722
    precision = 1 / se**2 + 1 / s0**2
    mean, sd = (y / se**2) / precision, precision**-0.5
    expected = [math.exp(mean - z * sd), math.exp(mean), math.exp(mean + z * sd)]
    np.testing.assert_allclose(reinterpretation_lines(fig)[f"{row}:skeptical"], expected, rtol=1e-9)


def test_probability_text_is_the_skeptical_p_benefit_with_the_row_direction(drawn):
    table, fig = drawn
    texts = {t.get_gid(): t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid()}
    sk = table[(table["prior"] == "skeptical") & (table["status"] == "ok")]
    assert len(texts) == len(sk)
    for r in sk.itertuples():
        sign = "<" if r.benefit == "below" else ">"
        assert texts[f"{r.row}:p_benefit"] == f"P({r.measure} {sign} 1) = {r.p_benefit:.3f}"
    orr = sk[sk["outcome"] == "ORR"].iloc[0]
    assert texts[f"{orr['row']}:p_benefit"].startswith("P(RR > 1)")


def test_panels_group_rows_and_skipped_rows_are_named(drawn):
    table, fig = drawn
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[:2] == ["Pooled estimates", "By regimen"]
    assert {"OS: subgroups", "PFS: subgroups", "OS: prognostic factors", "PFS: prognostic factors"} <= set(titles)
    n_labels = sum(len(ax.get_yticklabels()) for ax in fig.axes)
    assert n_labels == table["row"].nunique()
    skipped = table[table["status"] == "skipped"].drop_duplicates("row")
    assert len(skipped) == 1
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(skipped["reason"].iloc[0] in n for n in notes)
    lines = reinterpretation_lines(fig)
    assert not any(k.startswith(f"{skipped['row'].iloc[0]}:") for k in lines)
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        verticals = {round(float(line.get_xdata()[0]), 6) for line in ax.get_lines() if not line.get_gid()}
        assert 1.0 in verticals and 0.8 in verticals


def test_each_row_is_drawn_at_its_label_and_every_interval_is_in_view(drawn):
    table, fig = drawn
    first = table.drop_duplicates("row")
    pooled = first[first["analysis"] == "pooled"]
    ax_pooled = fig.axes[0]
    assert [t.get_text() for t in ax_pooled.get_yticklabels()] == [
        f"{o} ({m})" for o, m in zip(pooled["outcome"], pooled["measure"])]
    assert [t.get_text() for t in ax_pooled.get_legend().get_texts()] == [
        "published CI", *(f"{p} prior" for p in PRIORS), "MCID"]
    lines = reinterpretation_lines(fig)
    rows = first.set_index("row")
    rows_seen = 0
    for ax in fig.axes:
        label_at = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
        assert list(label_at) == sorted(label_at, reverse=True)  # table order, top down
        by_row: dict[int, list[float]] = {}
        for line in ax.get_lines():
            if line.get_gid():
                by_row.setdefault(int(line.get_gid().split(":")[0]), []).append(float(line.get_ydata()[0]))
        for row, heights in by_row.items():
            # every line of a row sits within half a row of one tick, labelled with that row's level
            (centre,) = [c for c in label_at if all(abs(h - c) < 0.5 for h in heights)]
            r = rows.loc[row]
            named = next(str(v) for v in (r["level"], r["variable"], r["outcome"]) if str(v) not in ("all", "nan"))
            assert named in label_at.pop(centre)
        rows_seen += len(by_row)
        lo, hi = ax.get_xlim()
        xs = np.concatenate([lines[ln.get_gid()] for ln in ax.get_lines() if ln.get_gid()])
        assert ax.get_xscale() == "log" and lo <= xs.min() and xs.max() <= hi and lo <= 0.8 and 1.0 <= hi
    assert rows_seen == table.loc[table["status"] == "ok", "row"].nunique()


def test_missing_columns_are_reported():
    table = reinterpret_published(PUBLISHED, priors=("skeptical",))
    with pytest.raises(ValueError, match="median"):
        plot_reinterpretation(table.drop(columns="median"))


def test_cli_writes_the_figure(tmp_path, capsys):
    folder = tmp_path / "figures"
    assert main(["reinterpret", "--published", str(PUBLISHED), "--figures", str(folder)]) == 0
    assert (folder / "reinterpretation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Published estimates under reference priors" in capsys.readouterr().out
    assert main(["reinterpret", "--estimate", "0.74", "--ci", "0.53", "1.03", "--figures", str(folder)]) == 2
    assert "--published" in capsys.readouterr().err
    a_file = tmp_path / "x.txt"
    a_file.write_text("not a folder")
    assert main(["reinterpret", "--published", str(PUBLISHED), "--figures", str(a_file)]) == 2
