"""Readers of where deliveries already live: a dispatcher's own database (Svix, Convoy), read-only and
incrementally, into the store through the one write path."""

from __future__ import annotations

from console.sources.dispatcher import Dispatcher
from console.sources.url import SourceURL, is_source_url, parse_source_url


def dispatcher_for(url: SourceURL) -> Dispatcher:
    """The reader of the dispatcher a URL names."""
    if url.kind == "svix":
        from console.sources.svix import SvixSource

        return SvixSource(url)
    from console.sources.convoy import ConvoySource

    return ConvoySource(url)


__all__ = ["Dispatcher", "SourceURL", "dispatcher_for", "is_source_url", "parse_source_url"]
