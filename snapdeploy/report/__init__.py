"""Reports of a deployment: report.json, Markdown, plots, a self-contained HTML page, and the
energy and latency model that prices measured counts."""

from snapdeploy.report.plots import plot_boundaries
from snapdeploy.report.summary import REPORT_FILE, build_report, write_report

__all__ = ["REPORT_FILE", "build_report", "plot_boundaries", "write_report"]
