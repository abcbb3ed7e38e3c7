"""The local S3-compatible server the object-store tests write to (fixtures ``s3_endpoint``
and ``s3_env`` in ``conftest.py``)."""

BUCKET = "meterlog-test"
