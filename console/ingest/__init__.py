"""Delivery logs into the store: read (JSON Lines, CSV, gzip, stdin), validate line by line, write in batches."""
