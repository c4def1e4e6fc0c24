"""report.md: the report sections as Markdown, figures linked to their PNG files."""

from __future__ import annotations

from typing import Sequence

from bayesmeta.report.sections import Bullets, FigureBlock, Heading, Paragraph, Section, Table


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    lines = []
    if t.caption:
        lines.append(f"*{t.caption}*")
        lines.append("")
    lines.append("| " + " | ".join(_cell(c) for c in t.columns) + " |")
    lines.append("|" + "|".join("---" for _ in t.columns) + "|")
    for row in t.rows:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return lines


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    """The whole report as Markdown text."""
    out = [f"# {title}", "", "Contents:", ""]
    out += [f"{i}. [{s.title}](#{s.id})" for i, s in enumerate(sections, 1)]
    for s in sections:
        out += ["", f'<a id="{s.id}"></a>', "", f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Paragraph):
                prefix = {"warning": "**Warning:** ", "note": "*Note:* "}.get(b.kind, "")
                out += [prefix + b.text, ""]
            elif isinstance(b, Heading):
                out += [f"### {b.text}", ""]
            elif isinstance(b, Bullets):
                out += [f"- {item}" for item in b.items] + [""]
            elif isinstance(b, Table):
                out += _table(b) + [""]
            elif isinstance(b, FigureBlock):
                f = b.figure
                files = [f"{name}: [{path}]({path})" for name, path in (("SVG", f.svg), ("PDF", f.pdf)) if path]
                links = f" ({'; '.join(files)})" if files else ""
                out += [f"![{f.title}]({f.png})", "", f"*{f.title}.* {f.caption}{links}", ""]
    return "\n".join(out).rstrip() + "\n"
