"""Widgets of the console, grouped by the screen region they serve."""
