"""Analytics: pandas over the store's rollups and the delivery table. Every frame says whether its figures
count attempts (HTTP requests) or deliveries (an event at an endpoint).

The package re-exports nothing, so a module that needs no pandas (`whatif`) loads without it: import from the
modules (`console.analytics.build`, `console.analytics.window`)."""
