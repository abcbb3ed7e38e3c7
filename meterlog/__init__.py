"""meterlog: turn API access logs into billing-grade usage numbers.

Importing the package changes nothing process-wide; the ``meterlog`` program's own tuning is
in :func:`meterlog.cli.run`.
"""

__version__ = "0.1.0"
