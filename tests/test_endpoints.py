"""Endpoint templating: automatic rules, explicit routes, OpenAPI documents."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterlog.errors import ConfigError
from meterlog.query.endpoints import (
    EndpointTemplates,
    RouteTemplate,
    automatic_endpoint,
    config_routes,
    load_openapi,
    load_templates,
    with_endpoint,
)


def templated(paths: list[str | None], templates: EndpointTemplates | None = None) -> list:
    frame = pl.DataFrame({"path": paths}, schema={"path": pl.String})
    expression = (templates or EndpointTemplates()).expression(pl.col("path"))
    return frame.select(expression.alias("endpoint")).get_column("endpoint").to_list()


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v1/users/123/orders", "/v1/users/{id}/orders"),
        ("/v1/users/456/orders", "/v1/users/{id}/orders"),
        ("/v1/orders/0", "/v1/orders/{id}"),
        ("/v1/items/550e8400-e29b-41d4-a716-446655440000", "/v1/items/{uuid}"),
        ("/v1/items/550E8400-E29B-41D4-A716-446655440000/tags", "/v1/items/{uuid}/tags"),
        ("/v1/reports/2026-10-01", "/v1/reports/{date}"),
        ("/v1/reports/2026-10-01T12:00:00Z", "/v1/reports/{date}"),
        ("/v1/reports/2026-10-01T12:00+02:00/pdf", "/v1/reports/{date}/pdf"),
        ("/v1/users/ann@example.com", "/v1/users/{email}"),
        ("/v1/users/ann.lee%40example.co.uk/keys", "/v1/users/{email}/keys"),
        ("/v1/blobs/9f86d081884c7d65", "/v1/blobs/{token}"),  # 16 hex digits
        ("/v1/blobs/deadbeefcafebabe0123456789abcdef", "/v1/blobs/{token}"),
        ("/v1/keys/sk_live_4eC39HqLyjWDarjtT1zdp7dc", "/v1/keys/{token}"),  # mixed case
        ("/v1/keys/dGhpcyBpcyBhIHRlc3QgMTIz==", "/v1/keys/{token}"),  # base64 padded
        ("/v1/ids/cl9ebqhxk00008eqf2b7q4z8d", "/v1/ids/{token}"),  # lower case and digits
        ("/v1/users/1/orders/2", "/v1/users/{id}/orders/{id}"),
        ("/v1/1/2/3", "/v1/{id}/{id}/{id}"),
    ],
)
def test_automatic_rules(path: str, endpoint: str) -> None:
    assert templated([path]) == [endpoint]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/users",
        "/v2",  # short segment with a digit
        "/v1/articles/my-very-long-article-title-2026",  # slug: dashes, lower case
        "/v1/deadbeef",  # short hex word
        "/v1/statistics_and_reporting",  # long word without digits
        "/",
        "",
        "/v1//users/",  # empty segments and trailing slash kept as logged
    ],
)
def test_segments_that_stay(path: str) -> None:
    assert templated([path]) == [path]


def test_query_string_never_splits_an_endpoint() -> None:
    assert (
        templated(["/v1/users/1?expand=orders", "/v1/users/2?", "/v1/users/3"])
        == ["/v1/users/{id}"] * 3
    )


def test_missing_path_stays_missing() -> None:
    assert templated([None]) == [None]


def test_automatic_endpoint_expression_is_usable_alone() -> None:
    frame = pl.DataFrame({"path": ["/a/12?x=1"]})
    assert frame.select(automatic_endpoint(pl.col("path"))).item() == "/a/{id}"


def test_explicit_routes_win_over_automatic_rules() -> None:
    templates = EndpointTemplates.build(config_routes(["/v1/users/{user_id}/orders"], None))
    paths = ["/v1/users/123/orders", "/v1/users/abc/orders", "/v1/users/1"]
    assert templated(paths, templates) == [
        "/v1/users/{user_id}/orders",
        "/v1/users/{user_id}/orders",
        "/v1/users/{id}",  # no template matches: automatic rules
    ]


def test_most_specific_template_wins_whatever_the_order() -> None:
    routes = ["/v1/users/{id}", "/files/{name}.{ext}", "/v1/users/me", "/files/{path}"]
    templates = EndpointTemplates.build(config_routes(routes, None))
    paths = ["/v1/users/me", "/v1/users/7", "/files/a.txt", "/files/README"]
    assert templated(paths, templates) == [
        "/v1/users/me",
        "/v1/users/{id}",
        "/files/{name}.{ext}",
        "/files/{path}",
    ]


def test_template_literals_are_not_regexes() -> None:
    templates = EndpointTemplates.build(config_routes(["/v1/a.b/{id}", "/v1/(x)+/{id}"], None))
    assert templated(["/v1/aXb/1", "/v1/a.b/1", "/v1/(x)+/2"], templates) == [
        "/v1/aXb/{id}",
        "/v1/a.b/{id}",
        "/v1/(x)+/{id}",
    ]


def test_a_parameter_matches_one_segment_only() -> None:
    templates = EndpointTemplates.build(config_routes(["/v1/files/{name}"], None))
    assert templated(["/v1/files/a/b"], templates) == ["/v1/files/a/b"]


def test_specificity_ranks_segments() -> None:
    assert RouteTemplate("/a/b/{c}", "x").specificity < RouteTemplate("/a/{b}/c", "x").specificity
    assert RouteTemplate("/a/{b}.json", "x").specificity < RouteTemplate("/a/{b}", "x").specificity


@pytest.mark.parametrize("route", ["v1/users", "/v1/users?x=1", "/v1/{users", "/v1/users}"])
def test_bad_routes_name_the_config_file_and_key(route: str, tmp_path: Path) -> None:
    config = tmp_path / "meterlog.toml"
    with pytest.raises(ConfigError, match=r"meterlog\.toml: endpoints\.routes: route"):
        config_routes([route], config)


OPENAPI_YAML = """\
openapi: 3.0.3
info: {title: Shop, version: "1"}
servers:
  - url: https://api.example.com/v1
paths:
  /users/{userId}:
    get: {responses: {"200": {description: ok}}}
  /users/me:
    get: {responses: {"200": {description: ok}}}
  /orders/{orderId}/items:
    get: {responses: {"200": {description: ok}}}
"""


def test_openapi_yaml_paths_become_templates_with_the_server_base_path(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.yaml"
    spec.write_text(OPENAPI_YAML)
    templates = load_templates(openapi=spec)
    assert templated(
        ["/v1/users/42", "/v1/users/me", "/v1/orders/ab12/items", "/v1/other/9"], templates
    ) == ["/v1/users/{userId}", "/v1/users/me", "/v1/orders/{orderId}/items", "/v1/other/{id}"]


def test_openapi_json_without_servers(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps({"openapi": "3.1.0", "paths": {"/pets/{petId}": {}}}))
    assert [r.template for r in load_openapi(spec)] == ["/pets/{petId}"]


def test_config_routes_come_before_openapi_paths_on_a_tie(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps({"openapi": "3.1.0", "paths": {"/pets/{petId}": {}}}))
    templates = load_templates(["/pets/{name}"], None, spec)
    assert templated(["/pets/rex"], templates) == ["/pets/{name}"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"swagger": "2.0", "paths": {}}', "not an OpenAPI 3 document"),
        ('{"openapi": "3.0.0"}', "no 'paths' object"),
        ("openapi: [unclosed", "not valid JSON or YAML"),
        ('{"openapi": "3.0.0", "paths": {"pets": {}}}', "must start with '/'"),
    ],
)
def test_bad_openapi_documents(text: str, message: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        load_openapi(spec)
    assert str(spec) in str(error.value)


def test_missing_openapi_document(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the OpenAPI document"):
        load_openapi(tmp_path / "absent.yaml")


def test_with_endpoint_joins_templates_back_to_every_request() -> None:
    events = pl.LazyFrame({"path": ["/a/1", "/a/2", None, "/a/1"], "n": [1, 2, 3, 4]})
    result = with_endpoint(events, EndpointTemplates()).sort("n").collect()
    assert result.get_column("endpoint").to_list() == ["/a/{id}", "/a/{id}", None, "/a/{id}"]
    assert result.height == 4


segment_text = st.text(alphabet="abcdefABCDEF0123456789-_.@%=~", min_size=0, max_size=40)
paths = st.lists(segment_text, min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts))


@settings(max_examples=40, deadline=None)
@given(path=paths, query=st.text(max_size=20))
def test_templating_is_stable_and_ignores_query_strings(path: str, query: str) -> None:
    check_templating(path, query)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(path=paths, query=st.text(max_size=20))
def test_templating_is_stable_and_ignores_query_strings_many_examples(
    path: str, query: str
) -> None:
    check_templating(path, query)


def check_templating(path: str, query: str) -> None:
    once = templated([path, f"{path}?{query}"])
    assert once[0] == once[1]
    assert templated([once[0]]) == [once[0]]  # a template is its own template
    assert once[0].count("/") == path.count("/")  # segments are replaced, never merged
