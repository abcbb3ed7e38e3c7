"""meterlog: turn API access logs into billing-grade usage numbers."""

__version__ = "0.1.0"
