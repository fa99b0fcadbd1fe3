"""Analytics: pandas over the store's rollups and the delivery table. Every frame says whether its figures
count attempts (HTTP requests) or deliveries (an event at an endpoint)."""

from console.analytics.build import ReportData, build_report_data
from console.analytics.window import ReportWindow, resolve_window

__all__ = ["ReportData", "ReportWindow", "build_report_data", "resolve_window"]
