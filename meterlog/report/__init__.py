"""Reports for people to look at: one self-contained HTML file (:mod:`meterlog.report.html`)."""
