"""The report's Markdown as one self-contained HTML page (headings, paragraphs, lists, tables,
code and embedded images: the subset the report writes)."""

from __future__ import annotations

import base64
import html
from pathlib import Path


def _inline(text: str) -> str:
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _md_table_html(text: str) -> str:
    out, in_table = [], False
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            if set(line) <= set("|-"):
                continue
            if not in_table:
                out.append(
                    "<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in cells) + "</tr>"
                )
                in_table = True
            else:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("### "):
            out.append(f"<h3>{_inline(line[4:])}</h3>")
        elif line.startswith("#### "):
            out.append(f"<h4>{_inline(line[5:])}</h4>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out)


def render_html(blocks, title: str) -> str:
    body = []
    for b in blocks:
        kind = b[0]
        if kind == "h1":
            body.append(f"<h1>{_inline(b[1])}</h1>")
        elif kind == "h2":
            body.append(f"<h2>{_inline(b[1])}</h2>")
        elif kind == "p":
            body.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "md":
            body.append(_md_table_html(b[1]))
        elif kind == "code":
            body.append(f"<pre>{html.escape(b[1])}</pre>")
        elif kind == "img":
            data = base64.b64encode(Path(b[1]).read_bytes()).decode("ascii")
            body.append(
                f'<figure><img alt="{html.escape(b[2])}" src="data:image/png;base64,'
                f'{data}"><figcaption>{_inline(b[2])}</figcaption></figure>'
            )
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 6px}img{max-width:100%}pre{background:#f4f4f4;padding:8px;"
        "overflow-x:auto}"
    )
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
