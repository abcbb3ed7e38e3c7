"""Unusual usage and security patterns (``meterlog anomalies``).

Each detector is a documented rule with tunable parameters, in a module of its own:
:mod:`~meterlog.anomalies.spike`, :mod:`~meterlog.anomalies.drop`,
:mod:`~meterlog.anomalies.auth_failures`, :mod:`~meterlog.anomalies.key_sharing`,
:mod:`~meterlog.anomalies.probing`, :mod:`~meterlog.anomalies.error_surge` and
:mod:`~meterlog.anomalies.scraping`. :mod:`~meterlog.anomalies.runner` reads the store and
runs them (:func:`~meterlog.anomalies.runner.run_anomalies`), or runs the live ones on recent
events (:func:`~meterlog.anomalies.runner.detect_recent`).

Importing this package loads nothing heavy; import the modules you need.
"""
