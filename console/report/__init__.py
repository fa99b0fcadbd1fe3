"""Reports and exports: Plotly figures drawn from aggregates, one self-contained HTML file, CSV and JSON."""
