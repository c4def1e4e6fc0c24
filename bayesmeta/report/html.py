"""report.html: one self-contained page (inline CSS, figures as base64 PNG data URIs), readable in any browser
and offline.

A small inline script runs on ``window.onload`` and writes a marker element ``#report-check`` listing images that
failed to load and sections without content; the browser test reads it from the DOM after load.
"""

from __future__ import annotations

import base64
import html
from typing import Sequence

from bayesmeta.report.sections import Bullets, FigureBlock, Heading, Paragraph, Section, Table

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0; color: #222;
       line-height: 1.45; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
nav { background: #f4f6f8; border-bottom: 1px solid #dde; padding: 0.6rem 2rem; font-size: 0.85rem;
      display: flex; flex-wrap: wrap; row-gap: 0.2rem; }
nav a { margin-right: 0.9rem; color: #0a5a8c; text-decoration: none; white-space: nowrap; }
h1 { font-size: 1.6rem; margin-bottom: 0.3rem; }
h2 { font-size: 1.3rem; border-bottom: 2px solid #0072B2; padding-bottom: 0.2rem; margin-top: 2.5rem; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
table { border-collapse: collapse; margin: 0.8rem 0 1.2rem; font-size: 0.82rem; width: 100%; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { border: 1px solid #d6dae0; padding: 0.25rem 0.45rem; text-align: left; vertical-align: top; }
th { background: #eef2f6; }
tr:nth-child(even) td { background: #fafbfc; }
figure { margin: 1rem 0 1.8rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #444; }
.note { background: #f4f8fb; border-left: 4px solid #56B4E9; padding: 0.4rem 0.8rem; }
.warning { background: #fff6ec; border-left: 4px solid #D55E00; padding: 0.4rem 0.8rem; }
ul.warnings li { color: #8a3a00; }
.table-wrap { overflow-x: auto; }
"""

CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var broken = [];
  document.querySelectorAll('img').forEach(function (img) {
    if (!img.complete || img.naturalWidth === 0) { broken.push(img.getAttribute('data-figure') || '?'); }
  });
  var empty = [];
  document.querySelectorAll('section.report-section').forEach(function (s) {
    var body = s.querySelector('.section-body');
    var text = body ? body.textContent.replace(/\\s+/g, '') : '';
    var things = body ? body.querySelectorAll('table, img, li, p').length : 0;
    if (text.length === 0 || things === 0) { empty.push(s.id); }
  });
  var marker = document.createElement('div');
  marker.id = 'report-check';
  marker.setAttribute('data-images', String(document.images.length));
  marker.setAttribute('data-sections', String(document.querySelectorAll('section.report-section').length));
  marker.setAttribute('data-broken', broken.join(','));
  marker.setAttribute('data-empty', empty.join(','));
  var first = document.querySelector('main section.report-section');
  marker.setAttribute('data-first', first ? first.id : '');
  marker.textContent = 'report check: ' + document.images.length + ' images, ' + broken.length + ' broken, ' +
    empty.length + ' empty sections';
  marker.style.display = 'none';
  document.body.appendChild(marker);
});
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(t: Table) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    caption = f"<caption>{_e(t.caption)}</caption>" if t.caption else ""
    return f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _block(b: object) -> str:
    if isinstance(b, Paragraph):
        cls = f' class="{b.kind}"' if b.kind in ("note", "warning") else ""
        return f"<p{cls}>{_e(b.text)}</p>"
    if isinstance(b, Heading):
        return f"<h3>{_e(b.text)}</h3>"
    if isinstance(b, Bullets):
        cls = ' class="warnings"' if b.kind == "warnings" else ""
        return f"<ul{cls}>" + "".join(f"<li>{_e(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, FigureBlock):
        f = b.figure
        data = base64.b64encode(f.png_bytes).decode("ascii")
        return (f'<figure id="fig-{_e(f.id)}"><img data-figure="{_e(f.id)}" alt="{_e(f.title)}" '
                f'width="{f.width}" height="{f.height}" src="data:image/png;base64,{data}">'
                f"<figcaption><strong>{_e(f.title)}.</strong> {_e(f.caption)}</figcaption></figure>")
    raise TypeError(f"unknown report block {type(b).__name__}")


def render_html(title: str, sections: Sequence[Section], subtitle: str = "") -> str:
    """The whole report as one HTML document."""
    nav = "".join(f'<a href="#{_e(s.id)}">{_e(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        inner = "\n".join(_block(b) for b in s.blocks)
        body.append(f'<section class="report-section" id="{_e(s.id)}"><h2>{_e(s.title)}</h2>'
                    f'<div class="section-body">{inner}</div></section>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<nav>{nav}</nav><main><h1>{_e(title)}</h1>"
        + (f"<p>{_e(subtitle)}</p>" if subtitle else "")
        + "\n".join(body)
        + f"</main><script>{CHECK_SCRIPT}</script></body></html>\n"
    )
