"""The ``meterlog`` commands, a module each, loaded only when the command runs.

The group knows each command's name and the module that defines it; the module defines
``command`` (a :class:`click.Command`). A command module parses options and calls the library:
it imports the library (and with it Polars, PyArrow and deltalake) inside the command function,
so ``meterlog --help`` and ``meterlog COMMAND --help`` start without them.
"""

from __future__ import annotations

#: Command name -> module defining ``command``, in the order ``meterlog --help`` lists them.
COMMANDS: dict[str, str] = {
    "ingest": "meterlog.commands.ingest",
    "watch": "meterlog.commands.watch",
    "status": "meterlog.commands.status",
    "usage": "meterlog.commands.usage",
    "mau": "meterlog.commands.mau",
    "peak": "meterlog.commands.peak",
    "bill": "meterlog.commands.bill",
    "sql": "meterlog.commands.sql",
    "report": "meterlog.commands.report",
    "rejects": "meterlog.commands.rejects",
    "anomalies": "meterlog.commands.anomalies",
    "maintain": "meterlog.commands.maintain",
    "check": "meterlog.commands.check",
}
