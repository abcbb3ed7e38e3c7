"""``sample_logs/openapi.yaml`` describes the API of the bundled sample logs.

Every path the sample API answered (anything but a 404) matches one of its templates, every
template is used, and ``usage --by endpoint --openapi`` (the manual's example) reports them.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import polars as pl
import pytest

from meterlog.query.endpoints import EndpointTemplates, load_openapi, with_endpoint
from meterlog.store import Store
from tests.support import cli

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
SPEC = SAMPLES / "openapi.yaml"


@pytest.fixture(scope="module")
def sample_store(sample_logs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = tmp_path_factory.mktemp("samples") / "store"
    return Store(shutil.copytree(sample_logs_store, path))


def test_every_answered_path_matches_a_template_and_every_template_is_used(
    sample_store: Store,
) -> None:
    templates = {route.template for route in load_openapi(SPEC)}
    endpoints = (
        with_endpoint(sample_store.scan_events(), EndpointTemplates.build(load_openapi(SPEC)))
        .filter(pl.col("path").is_not_null())  # request lines without a target (TLS hellos)
        .group_by("endpoint")
        .agg(pl.col("status").unique().alias("statuses"), pl.col("path").first())
        .collect()
    )
    unmatched = endpoints.filter(~pl.col("endpoint").is_in(sorted(templates)))
    for endpoint, statuses, path in unmatched.iter_rows():
        # only paths the server does not have: scanners' probes, a crawler's /sitemap.xml
        assert statuses == [404], f"{path} was answered {statuses} but matches no template"
    assert sorted(unmatched.get_column("endpoint")) == [
        "/.env",
        "/.git/config",
        "/admin",
        "/phpmyadmin/",
        "/server-status",
        "/sitemap.xml",
        "/wp-login.php",
    ]
    used = set(endpoints.get_column("endpoint"))
    assert templates <= used, f"templates no request uses: {sorted(templates - used)}"


def test_the_readme_example_uses_it(sample_store: Store) -> None:
    reports = (SAMPLES.parent / "docs" / "reports.md").read_text(encoding="utf-8")
    assert "--openapi sample_logs/openapi.yaml" in reports
    result = cli(
        "usage", "--store", sample_store.uri, "--by", "endpoint", "--openapi", str(SPEC),
        "--top", "20", "--sort", "latency_p95", "-f", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 20
    assert "/v1/users/{user_id}/orders" in {row["endpoint"] for row in rows}
