"""Endpoints: request paths turned into templates, so ``/v1/users/123`` and ``/v1/users/456``
count as one endpoint, ``/v1/users/{id}``.

Three sources of templates, tried in this order:

1. **Explicit templates**: ``[endpoints] routes`` in ``meterlog.toml`` and the paths of an
   OpenAPI 3 document (``--openapi SPEC`` or ``[endpoints] openapi``, JSON or YAML). A
   ``{name}`` in a template matches one path segment (anything but ``/``); the template itself
   is the endpoint. When several templates match, the most specific wins: comparing segment by
   segment, a literal segment beats one that mixes text and parameters, which beats a segment
   that is a single parameter (``/v1/users/me`` before ``/v1/users/{id}``); remaining ties go to
   config routes first, then OpenAPI paths, each in file order.
2. **Automatic rules**, for paths no template matches, applied to each path segment:

   =========  ====================================================================
   ``{uuid}``   a UUID (``550e8400-e29b-41d4-a716-446655440000``, any case)
   ``{id}``     an integer (``123``)
   ``{date}``   an ISO date, optionally with a time (``2026-10-01``, ``2026-10-01T12:00Z``)
   ``{email}``  an e-mail address (``ann@example.com``; ``%40`` for ``@`` too)
   ``{token}``  a long token: 16 or more hex digits; or 20 or more letters, digits, ``-``
                and ``_`` (optionally ``=``-padded) mixing digits with upper- and lower-case
                letters; or 20 or more lower-case letters and digits with at least one of each
   =========  ====================================================================

   Other segments (``users``, ``v1``, ``my-report-2026``) are kept as they are.

A query string never splits an endpoint: anything from ``?`` on is dropped first. Paths are
otherwise kept as logged (no decoding, no trailing-slash folding).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl

from meterlog.errors import ConfigError, located, read_text_file
from meterlog.patterns import template_to_regex

#: Name of the column holding the templated path.
ENDPOINT_COLUMN = "endpoint"

_HEX = "[0-9A-Fa-f]"
_UUID = rf"^{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}$"
_INTEGER = r"^[0-9]+$"
_TIME = r"[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?"
_DATE = rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}({_TIME})?$"
_EMAIL = r"^[^@/\s]+(@|%40)[^@/\s%]+\.[A-Za-z]{2,}$"
_LONG_HEX = rf"^{_HEX}{{16,}}$"
_LONG_MIXED = r"^[A-Za-z0-9_-]{20,}={0,2}$"
_LONG_LOWER = r"^[a-z0-9]{20,}$"

_PARAMETER = re.compile(r"\{[^{}/]+\}")


def _automatic_segment(segment: pl.Expr) -> pl.Expr:
    """One path segment with the automatic rules (see the module doc) applied."""
    has_digit = segment.str.contains("[0-9]")
    mixed_token = (
        segment.str.contains(_LONG_MIXED)
        & has_digit
        & segment.str.contains("[a-z]")
        & segment.str.contains("[A-Z]")
    )
    lower_token = segment.str.contains(_LONG_LOWER) & has_digit & segment.str.contains("[a-z]")
    return (
        pl.when(segment.str.contains(_UUID))
        .then(pl.lit("{uuid}"))
        .when(segment.str.contains(_INTEGER))
        .then(pl.lit("{id}"))
        .when(segment.str.contains(_DATE))
        .then(pl.lit("{date}"))
        .when(segment.str.contains(_EMAIL))
        .then(pl.lit("{email}"))
        .when(segment.str.contains(_LONG_HEX) | mixed_token | lower_token)
        .then(pl.lit("{token}"))
        .otherwise(segment)
    )


def automatic_endpoint(path: pl.Expr) -> pl.Expr:
    """``path`` (query string dropped) with the automatic rules applied to each segment."""
    return _automatic_segments(strip_query(path))


def _automatic_segments(path: pl.Expr) -> pl.Expr:
    return path.str.split("/").list.eval(_automatic_segment(pl.element())).list.join("/")


def strip_query(path: pl.Expr) -> pl.Expr:
    """``path`` without a query string (everything from the first ``?``)."""
    return path.str.replace(r"(?s)\?.*", "")


@dataclass(frozen=True)
class RouteTemplate:
    """An explicit endpoint template such as ``/v1/users/{user_id}/orders``."""

    template: str
    origin: str  # where it came from, for messages: "file:key" or "spec:paths"

    @property
    def pattern(self) -> str:
        """An anchored regex matching the paths of this template."""
        return template_to_regex(self.template)

    @property
    def specificity(self) -> tuple[int, ...]:
        """Sort key: per segment 0 = literal, 1 = text and parameters, 2 = one parameter."""
        ranks = []
        for segment in self.template.split("/"):
            if not _PARAMETER.search(segment):
                ranks.append(0)
            elif _PARAMETER.fullmatch(segment):
                ranks.append(2)
            else:
                ranks.append(1)
        return tuple(ranks)


def check_template(template: str, where: str) -> str:
    """``template`` if usable, else a ConfigError naming ``where``."""
    if not template.startswith("/"):
        raise ConfigError(f"{where}: route {template!r} must start with '/'")
    if "?" in template:
        raise ConfigError(f"{where}: route {template!r} must not contain a query string")
    leftover = _PARAMETER.sub("", template)
    if "{" in leftover or "}" in leftover:
        raise ConfigError(
            f"{where}: route {template!r} has unbalanced braces; "
            "write parameters as {name}, one segment each"
        )
    return template


@dataclass(frozen=True)
class EndpointTemplates:
    """The explicit templates, most specific first (see the module doc)."""

    routes: tuple[RouteTemplate, ...] = ()

    @classmethod
    def build(cls, routes: Iterable[RouteTemplate]) -> EndpointTemplates:
        unique: dict[str, RouteTemplate] = {}
        for route in routes:
            unique.setdefault(route.template, route)
        ordered = sorted(unique.values(), key=lambda route: route.specificity)
        return cls(tuple(ordered))

    def expression(self, path: pl.Expr) -> pl.Expr:
        """The endpoint of ``path``: the first matching template, else the automatic rules."""
        clean = strip_query(path)
        if not self.routes:
            return _automatic_segments(clean)
        endpoint = _automatic_segments(clean)
        for route in reversed(self.routes):  # the first matching template wins
            endpoint = (
                pl.when(clean.str.contains(route.pattern))
                .then(pl.lit(route.template))
                .otherwise(endpoint)
            )
        return endpoint


def with_endpoint(events: pl.LazyFrame, templates: EndpointTemplates) -> pl.LazyFrame:
    """Add the ``endpoint`` column to ``events``.

    The templates are evaluated on every request's path as the requests stream past. Evaluating
    them once per distinct path and joining back is less work, but the join needs the distinct
    paths and the requests held at once (about 0.9 GB for 8 million requests); this way a
    report's memory stays bounded whatever the number of requests or distinct paths.
    """
    return events.with_columns(templates.expression(pl.col("path")).alias(ENDPOINT_COLUMN))


def config_routes(routes: Sequence[str], config_path: Path | None) -> list[RouteTemplate]:
    """The ``[endpoints] routes`` of a config file, checked."""
    where = f"{config_path}: endpoints.routes" if config_path else "endpoints.routes"
    return [RouteTemplate(check_template(route, where), where) for route in routes]


def load_openapi(path: str | Path) -> list[RouteTemplate]:
    """The paths of an OpenAPI 3 document (JSON or YAML) as templates.

    A base path in ``servers[].url`` (``https://api.example.com/v1``) is put in front of every
    path, once per distinct base path, since that is what the access log shows.
    """
    path = Path(path)
    text = read_text_file(path, "the OpenAPI document")
    import yaml  # only for OpenAPI documents: kept out of every command's start-up

    try:
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        line = getattr(exc, "lineno", None)
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            line = mark.line + 1
        raise ConfigError(
            located(path, line, "not valid JSON or YAML; check the OpenAPI document's syntax")
        ) from None
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3"):
        raise ConfigError(
            located(
                path,
                None,
                "not an OpenAPI 3 document (no 'openapi: 3.x' field); "
                "convert Swagger 2 documents to OpenAPI 3 first",
            )
        )
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise ConfigError(located(path, None, "the OpenAPI document has no 'paths' object"))
    prefixes = _server_base_paths(document.get("servers"))
    where = f"{path}: paths"
    templates = []
    for prefix in prefixes:
        for key in paths:
            template = prefix + check_template(str(key), where)
            templates.append(RouteTemplate(template, where))
    return templates


def _server_base_paths(servers: object) -> list[str]:
    prefixes: list[str] = []
    if isinstance(servers, list):
        for server in servers:
            url = server.get("url") if isinstance(server, dict) else None
            if isinstance(url, str):
                base = urlsplit(url).path.rstrip("/")
                if base and not base.startswith("/"):
                    base = "/" + base
                if base not in prefixes:
                    prefixes.append(base)
    return prefixes or [""]


def load_templates(
    routes: Sequence[str] = (),
    config_path: Path | None = None,
    openapi: str | Path | None = None,
) -> EndpointTemplates:
    """Explicit templates from config routes and an optional OpenAPI document."""
    templates = config_routes(routes, config_path)
    if openapi is not None:
        templates += load_openapi(openapi)
    return EndpointTemplates.build(templates)
