"""The reanalysis report: figures, report.md, report.html (self-contained) and summary.json.

Presentation only: everything shown comes from :func:`bayesmeta.reanalysis.run_plan`'s result.
"""

from bayesmeta.report.writer import ReportFiles, ReportWriter, report_summary, write_report

__all__ = ["ReportFiles", "ReportWriter", "report_summary", "write_report"]
