"""Analytics: pandas over the store's rollups and the delivery table. Every frame says whether its figures
count attempts (HTTP requests) or deliveries (an event at an endpoint).

The names below are imported when first used, so a module that needs no pandas (`whatif`) loads without it."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.analytics.build import ReportData, build_report_data
    from console.analytics.window import ReportWindow, resolve_window

__all__ = ["ReportData", "ReportWindow", "build_report_data", "resolve_window"]
_HOMES = {
    "ReportData": "console.analytics.build",
    "build_report_data": "console.analytics.build",
    "ReportWindow": "console.analytics.window",
    "resolve_window": "console.analytics.window",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
