"""Reports of a deployment: report.json and plots."""

from snapdeploy.report.plots import plot_boundaries
from snapdeploy.report.summary import REPORT_FILE, build_report, write_report

__all__ = ["REPORT_FILE", "build_report", "plot_boundaries", "write_report"]
