"""Tables on an 80-column terminal or a pipe: headers wrap between words and are never cut with an ellipsis."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bayesmeta.cli import main
from bayesmeta.printing import print_table

PUBLISHED = Path(__file__).resolve().parents[1] / "data" / "published_results.csv"


def render(headers: list[str], row: list[str], width: int = 80) -> str:
    table = Table(title="Subgroups")
    for h in headers:
        table.add_column(h, justify="right" if h.startswith("P(") else "left")
    table.add_row(*row)
    buffer = io.StringIO()
    print_table(table, Console(width=width, file=buffer))
    return buffer.getvalue()


def words_present(text: str, cells: list[str]) -> bool:
    return all(word in text for cell in cells for word in cell.split())


def test_headers_and_cells_keep_every_word_at_80_columns():
    headers = ["characteristic", "level", "k", "published", "P(OR < 1)", "P(OR<0.8)"]
    row = ["platinum agent", "oxaliplatin", "5", "0.52 (0.48-0.58)", "0.999", "0.989"]
    text = render(headers, row)
    assert "…" not in text and words_present(text, headers) and words_present(text, row)
    assert max(len(line) for line in text.splitlines()) <= 80  # it fits by wrapping between words
    wide = render([*headers, "P(OR<0.5)", "P(OR<0.125)", "unpooled"], [*row, "0.1", "0.01", "0.51 (0.40-0.65)"])
    assert "…" not in wide and words_present(wide, ["P(OR<0.5)", "P(OR<0.125)", "unpooled", "(0.40-0.65)"])
    assert max(len(line) for line in wide.splitlines()) > 80  # too many words for 80 columns: wider, not cut
    narrow = render(["study", "yi"], ["Bach_1996", "-2.0"])
    assert max(len(line) for line in narrow.splitlines()) < 40  # a small table keeps its natural width


def test_reinterpret_table_on_a_pipe_of_80_columns_names_every_column(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["reinterpret", "--published", str(PUBLISHED)]) == 0
    text = capsys.readouterr().out
    assert "…" not in text
    assert words_present(text, ["row", "outcome", "analysis", "subgroup", "published", "skeptical", "enthusiastic",
                                "pessimistic", "vague"])
