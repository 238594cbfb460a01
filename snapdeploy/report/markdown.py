"""report.md: the report as Markdown tables, for a terminal, a pull request or a wiki."""

from __future__ import annotations

from typing import Any


def fmt(value: float | None, unit: str = "", digits: int = 3) -> str:
    """A number with a unit, or 'n/a' where it was not measured."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}g}{unit}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def headline_rows(report: dict[str, Any]) -> list[list[str]]:
    """(figure, value) rows shared by the Markdown, the HTML page and the CLI table."""
    head, totals = report["headline"], report["energy"]["totals"]
    ratio = report["energy"]["fp16_over_spikes"]
    rows = [
        [k.replace("_", " "), fmt(v, digits=4)]
        for k, v in head.items()
        if k in ("float_accuracy", "deployed_accuracy")
    ]
    rows += [
        ["boundary bytes fp16 / spikes", fmt(head.get("boundary_bytes_fp16_over_spikes"), "x")],
        ["energy per sample, spikes at boundaries", fmt(_nj(totals["spikes"]["energy_pj"]), " nJ")],
        ["energy per sample, fp16 at boundaries", fmt(_nj(totals["fp16"]["energy_pj"]), " nJ")],
        ["energy fp16 / spikes", fmt(ratio["energy"], "x")],
        ["latency per sample, spikes", fmt(totals["spikes"]["latency_ns"], " ns")],
        ["latency per sample, fp16", fmt(totals["fp16"]["latency_ns"], " ns")],
        ["latency fp16 / spikes", fmt(ratio["latency"], "x")],
    ]
    return rows


def _nj(pj: float | None) -> float | None:
    return None if pj is None else pj / 1e3


def render_markdown(report: dict[str, Any]) -> str:
    energy = report["energy"]
    lines = [
        f"# snapdeploy report: {report['source']['directory']}",
        "",
        (
            f"Measured from a {report['source']['kind']} directory; target "
            f"'{report['source']['target']}'; {report['source']['samples']} samples. "
            "Energy and latency are estimates from the measured counts and the constants listed "
            "in report.json (each with its source)."
        ),
        "",
    ]
    lines += table(["figure", "value"], headline_rows(report)) + [""]
    lines += ["## Devices (per sample)", ""]
    lines += table(
        ["partition", "device", "energy", "latency", "how"],
        [
            [
                d["partition"],
                f"{d['device']} ({d['device_kind']})",
                fmt(_nj(d["energy_pj"]), " nJ"),
                fmt(d["latency_ns"], " ns"),
                d["basis"],
            ]
            for d in energy["devices"]
        ],
    ) + [""]
    lines += ["## Links (per sample)", ""]
    lines += table(
        [
            "boundary",
            "from -> to",
            "spike bits",
            "fp16 bits",
            "spike energy",
            "fp16 energy",
            "spike latency",
            "fp16 latency",
        ],
        [
            [
                str(l["boundary"]),
                f"{l['from']} -> {l['to']}",
                fmt(l["spikes"] and l["spikes"]["bits"]),
                str(l["fp16"]["bits"]),
                fmt(l["spikes"] and _nj(l["spikes"]["energy_pj"]), " nJ"),
                fmt(_nj(l["fp16"]["energy_pj"]), " nJ"),
                fmt(l["spikes"] and l["spikes"]["latency_ns"], " ns"),
                fmt(l["fp16"]["latency_ns"], " ns"),
            ]
            for l in energy["links"]
        ],
    ) + [""]
    notes = report["notes"]
    if notes:
        lines += ["## What this report could not measure", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["## Plots", ""] + [f"![{name}]({path})" for name, path in report["plots"].items()]
    return "\n".join(lines) + "\n"
