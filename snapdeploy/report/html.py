"""report.html: one self-contained page (plots inlined as data URIs, the plan as inline SVG,
no scripts, no fonts or styles fetched), so it opens offline and can be mailed as one file."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

from snapdeploy.report.markdown import fmt, headline_rows

BOX_W, BOX_H, GAP = 190, 86, 150
PALETTE = ("#dbeafe", "#dcfce7", "#fef3c7", "#fce7f3", "#ede9fe", "#e0f2fe")
STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #111; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.note { color: #92400e; }
"""


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()


def plan_svg(energy: dict[str, Any]) -> str:
    """Partitions as boxes (coloured by device) in pipeline order, boundaries as arrows
    labelled with the bytes per sample and the link energy, spikes vs fp16."""
    devices = energy["devices"]
    colours = {
        d: PALETTE[i % len(PALETTE)]
        for i, d in enumerate(dict.fromkeys(x["device"] for x in devices))
    }
    width = len(devices) * BOX_W + (len(devices) - 1) * GAP + 20
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{BOX_H + 90}" '
            f'role="img" aria-label="partition plan">'
        ),
        (
            '<defs><marker id="arrow" markerWidth="10" markerHeight="7" refX="10" refY="3.5" '
            'orient="auto"><polygon points="0 0, 10 3.5, 0 7"/></marker></defs>'
        ),
    ]
    for i, d in enumerate(devices):
        x = 10 + i * (BOX_W + GAP)
        parts.append(
            f'<rect x="{x}" y="40" width="{BOX_W}" height="{BOX_H}" rx="8" '
            f'fill="{colours[d["device"]]}" stroke="#333"/>'
        )
        lines = [
            d["partition"],
            f"on {d['device']} ({d['device_kind']})",
            f"{fmt(d['energy_pj'] / 1e3, ' nJ')}, {fmt(d['latency_ns'], ' ns')}",
        ]
        for j, text in enumerate(lines):
            parts.append(
                f'<text x="{x + BOX_W / 2}" y="{66 + 22 * j}" text-anchor="middle" '
                f'font-size="13">{escape(text)}</text>'
            )
    for link in energy["links"]:
        x0 = 10 + link["boundary"] * (BOX_W + GAP) + BOX_W
        parts.append(
            f'<line x1="{x0}" y1="{40 + BOX_H / 2}" x2="{x0 + GAP}" '
            f'y2="{40 + BOX_H / 2}" stroke="#333" stroke-width="2" marker-end="url(#arrow)"/>'
        )
        spikes = link["spikes"]
        labels = [
            f"boundary {link['boundary']}",
            f"spikes {fmt(spikes and spikes['bits'] / 8, ' B')} {fmt(spikes and spikes['energy_pj'], ' pJ')}",
            f"fp16 {link['fp16']['bits'] // 8} B {fmt(link['fp16']['energy_pj'], ' pJ')}",
        ]
        for j, text in enumerate(labels):
            y = 14 + 13 * j if j < 2 else 40 + BOX_H + 22
            parts.append(
                f'<text x="{x0 + GAP / 2}" y="{y}" text-anchor="middle" '
                f'font-size="11">{escape(text)}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict[str, Any], directory: Path) -> str:
    """The page; `directory` is where the report's plot files lie (they are inlined)."""
    source, energy = report["source"], report["energy"]
    sections = [
        (
            f"<h1>snapdeploy report</h1><p>{escape(source['directory'])}: a {escape(source['kind'])} "
            f"directory on target '{escape(source['target'])}', {source['samples']} samples measured. "
            "Energy and latency are estimates: measured counts priced with the constants below.</p>"
        ),
        html_table(["figure", "value"], headline_rows(report)),
        "<h2>Plan: devices and links (per sample)</h2>",
        plan_svg(energy),
    ]
    if report["notes"]:
        sections.append(
            "<h2>Not measured</h2><ul>"
            + "".join(f'<li class="note">{escape(n)}</li>' for n in report["notes"])
            + "</ul>"
        )
    sections.append("<h2>Plots</h2>")
    for name, path in report["plots"].items():
        sections.append(
            f'<h3>{escape(name)}</h3><img alt="{escape(name)}" src="{data_uri(directory / path)}">'
        )
    sections.append(
        "<h2>Constants</h2>"
        + html_table(
            ["name", "value", "unit", "source"],
            [
                [k, f"{c['value']:g}", c["unit"], c["source"]]
                for k, c in energy["constants"].items()
            ],
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>snapdeploy report</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
