"""Path globs and statuses are read one way by every command: ``usage --exclude-path`` and
``mau --exclude-path`` (a plan's ``exclude_paths``) keep and drop the same requests, whatever
characters a client put in its path. The reference is Python's :func:`fnmatch.fnmatchcase`, whose
``*`` and ``?`` match any character, newlines included, as documented for meterlog."""

from __future__ import annotations

import csv
import io
import json
from fnmatch import fnmatchcase
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from meterlog.cli import main
from meterlog.errors import UsageError
from meterlog.meters import RequestFilter
from meterlog.patterns import parse_status_spec
from meterlog.query.endpoints import EndpointTemplates, RouteTemplate
from meterlog.query.filters import exclude_path_filter, path_filter, status_predicate
from meterlog.validation import ParameterError
from tests.support.usage import build_store, requests_frame

ODD_PATHS = [
    "/health",
    "/healthz",
    "/health\nx",  # a newline right after the prefix
    "/health\r\n",
    "\n/health",
    "/health/live",
    "/HEALTH",
    "/v1/a\tb",
    "/v1/\x1b[31mred",
    "/v1/é/ü",
    "/v1/a.b",
    "/v1/a+b",
    "/v1/(x)|y",
    "/v1/a$b^c",
    "/v1/{id}",
    "/v1/\\d",
    "/v1/",
    "/v1/x",
    "/v1/\n",
    "",
]
# Globs without '[' (a character class for fnmatch, a literal for meterlog).
GLOBS = ["/health*", "/health?", "*\n*", "/v1/?", "/v1/*", "*.b", "/v1/(x)|y", "/v1/a$b^c", "*"]


def odd_store(path: Path) -> None:
    """One request per odd path, each by its own user, so MAU equals the request count."""
    rows = [
        (f"2026-10-0{1 + index % 9}T08:00", f"u{index}", "k1", "GET", p, 200, 1, "curl/8", 0.1)
        for index, p in enumerate(ODD_PATHS)
    ]
    build_store(path, requests_frame(rows), sources=1)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("patterns") / "store"
    odd_store(path)
    return path


def invoke(*args: str) -> Result:
    env: dict[str, str | None] = {"METERLOG_CONFIG": None, "METERLOG_STORE": None}
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def kept(glob: str) -> list[str]:
    return [p for p in ODD_PATHS if not fnmatchcase(p, glob)]


@pytest.mark.parametrize("glob", GLOBS)
def test_usage_and_mau_keep_the_same_requests(store_path: Path, glob: str) -> None:
    expected = len(kept(glob))
    usage = invoke("usage", "--store", str(store_path), "--exclude-path", glob, "--format", "json")
    usage_requests = sum(row["requests"] for row in json.loads(usage.stdout)) if expected else 0
    mau = invoke(
        "mau",
        "--store",
        str(store_path),
        "--month",
        "2026-10",
        "--exclude-path",
        glob,
        "--format",
        "csv",
    )
    rows = list(csv.DictReader(io.StringIO(mau.stdout, newline="")))
    assert [int(row["mau"]) for row in rows] == [expected]
    assert usage_requests == expected


@pytest.mark.parametrize("glob", GLOBS)
def test_both_filters_match_what_fnmatch_matches(glob: str) -> None:
    frame = pl.DataFrame({"path": ODD_PATHS, "method": "GET", "status": 200})
    by_usage = frame.filter(exclude_path_filter([glob]).predicate)["path"].to_list()
    by_meter = frame.filter(RequestFilter(exclude_paths=(glob,)).expr())["path"].to_list()
    included = frame.filter(path_filter([glob]).predicate)["path"].to_list()
    assert by_usage == by_meter == kept(glob)
    assert included == [p for p in ODD_PATHS if fnmatchcase(p, glob)]


def test_a_missing_path_is_kept_by_exclusion_and_dropped_by_inclusion() -> None:
    frame = pl.DataFrame({"path": [None, "/health"], "method": "GET", "status": 200})
    assert frame.filter(exclude_path_filter(["/health*"]).predicate).height == 1
    assert frame.filter(RequestFilter(exclude_paths=("/health*",)).expr()).height == 1
    assert frame.filter(path_filter(["*"]).predicate).height == 1


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("5xx", ("5xx", 500, 599)),
        (" 4XX ", ("4xx", 400, 499)),
        ("404", ("404", 404, 404)),
        ("100", ("100", 100, 100)),
        ("599", ("599", 599, 599)),
        ("600", None),
        ("6xx", None),
        ("099", None),
        ("50x", None),
        ("", None),
    ],
)
def test_status_is_read_one_way(spec: str, expected: tuple[str, int, int] | None) -> None:
    assert parse_status_spec(spec) == expected
    statuses = pl.DataFrame({"status": [None, 99, 100, 404, 450, 500, 599, 600]}, strict=False)
    if expected is None:
        with pytest.raises(UsageError):
            status_predicate(spec)
        with pytest.raises(ParameterError):
            RequestFilter.from_params({"exclude_status": [spec]})
        return
    _, low, high = expected
    matched = [s for s in statuses["status"] if s is not None and low <= s <= high]
    assert statuses.filter(status_predicate(spec))["status"].to_list() == matched
    counted = statuses.with_columns(path=pl.lit("/"), method=pl.lit("GET")).filter(
        RequestFilter.from_params({"exclude_status": [spec]}).expr()
    )
    assert counted["status"].to_list() == [
        None,
        *(s for s in statuses["status"][1:] if s not in matched),
    ]


ENDPOINT_PATHS = [
    "/v1/users/42",
    "/v1/users/4\n2",
    "/v1/users/42/orders",
    "/v1/users/",
    "/v1/users/a.b",
    "/v1/usersX42",
    "/v1/users/42\n/orders",
]


@pytest.mark.parametrize("template", ["/v1/users/{id}", "/v1/users/{id}/orders", "/v1/{x}/{y}"])
def test_usage_endpoints_and_meter_endpoints_match_the_same_paths(template: str) -> None:
    """A route in meterlog.toml (``usage --by endpoint``) and a plan's ``endpoints`` read a
    template the same way: ``{name}`` is one non-empty segment (any characters but ``/``)."""
    segments = template.strip("/").split("/")
    expected = [
        p
        for p in ENDPOINT_PATHS
        if len(parts := p.strip("/").split("/")) == len(segments)
        and p.startswith("/")
        and not p.endswith("/")
        and all(
            (s.startswith("{") and part) or s == part
            for s, part in zip(segments, parts, strict=True)
        )
    ]
    frame = pl.DataFrame({"path": ENDPOINT_PATHS, "method": "GET", "status": 200})
    by_meter = frame.filter(RequestFilter(endpoints=(template,)).expr())["path"].to_list()
    templates = EndpointTemplates.build([RouteTemplate(template, "test")])
    named = frame.with_columns(endpoint=templates.expression(pl.col("path")))
    by_usage = named.filter(pl.col("endpoint") == template)["path"].to_list()
    assert by_meter == by_usage == expected
