"""The Textual console: screens and widgets that call services in workers (never SQL or HTTP libraries)."""
