"""Fixtures for the whole suite; the helpers the tests import are in ``tests.support``."""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.s3 import BUCKET


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config, store or key by accident."""
    monkeypatch.delenv("METERLOG_STORE", raising=False)
    monkeypatch.delenv("METERLOG_CONFIG", raising=False)
    monkeypatch.delenv("METERLOG_HMAC_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def sample_logs_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sample_logs/`` ingested with its nginx.conf's ``api`` format, as ``make demo`` does,
    once per test process. Read it only: a test or module that writes copies it
    (``sample_store``)."""
    from meterlog.formats import read_log_format_from_config
    from meterlog.ingest import IngestOptions, ingest
    from meterlog.store import Store

    samples = REPO / "sample_logs"
    path = tmp_path_factory.mktemp("sample-logs") / "store"
    options = IngestOptions(
        custom_format=read_log_format_from_config(samples / "nginx.conf", "api")
    )
    summary = ingest(Store(path), [str(samples)], options)
    assert not summary.failed, summary.failed
    return path


@pytest.fixture
def sample_store(sample_logs_store: Path, tmp_path: Path) -> Path:
    """A copy of the sample logs' store this test may write to."""
    return Path(shutil.copytree(sample_logs_store, tmp_path / "sample"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free local port, one per test process (skipped when it cannot
    start); each test gets its own store in its bucket through ``s3_env``."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # moto[server] needs flask and flask-cors
        pytest.skip(f"no local S3 server: {exc} (install the 'test' extra: moto[server])")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        server.start()
    except Exception as exc:
        pytest.skip(f"the local S3 server (moto) did not start: {exc}")
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment a user sets for an S3-compatible store; returns a fresh store URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    s3_env.counter = getattr(s3_env, "counter", 0) + 1  # type: ignore[attr-defined]
    return f"s3://{BUCKET}/store-{s3_env.counter}"  # type: ignore[attr-defined]
