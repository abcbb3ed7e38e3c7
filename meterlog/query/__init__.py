"""Reading the store: the events of one store version with their identities, and the reports
built on them.

* :mod:`~meterlog.query.settings`: the settings every report command shares (store, time zone,
  identity, endpoints), from options and ``meterlog.toml``;
* :mod:`~meterlog.query.events`, :mod:`~meterlog.query.identity`: events at one pinned version,
  with ``user`` and ``account``;
* :mod:`~meterlog.query.filters`, :mod:`~meterlog.query.endpoints`: request predicates and
  endpoint templates;
* :mod:`~meterlog.query.metrics`, :mod:`~meterlog.query.aggregations`,
  :mod:`~meterlog.query.usage`: what is computed per group, the groups, and ``meterlog usage``;
* :mod:`~meterlog.query.rejects`: the rejected lines kept in the store.
"""
