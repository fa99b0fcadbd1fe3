"""hookconsole: operator console for webhook deliveries."""

__version__ = "0.1.0"
