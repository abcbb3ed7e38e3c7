"""nginx ``log_format`` strings compiled to one regular expression (the configuration files are
read by :mod:`meterlog.formats.nginx_conf`).

``combined`` and ``common`` are predefined; any custom ``log_format`` is compiled the same way.
Apache's common/combined logs share nginx's layout (Apache escapes ``"`` as ``\\"``, nginx as
``\\x22``); both escape styles are undone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

from meterlog.errors import FormatError
from meterlog.formats.base import (
    LogFormat,
    ParseResult,
    classify,
    dash_to_null,
    parse_bytes,
    parse_seconds,
    split_target,
    status_from_text,
    unescape,
    with_request_split,
)
from meterlog.formats.times import (
    iso8601_to_datetime,
    msec_to_datetime,
    time_local_to_datetime,
    timestamp_in_range,
)

COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
COMMON = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
#: nginx's sample ``main`` format from the default nginx.conf: combined plus X-Forwarded-For.
MAIN = COMBINED + ' "$http_x_forwarded_for"'

PREDEFINED = {"combined": COMBINED, "common": COMMON, "main": MAIN}

#: nginx variables meterlog maps to canonical columns (others become string columns).
_CANONICAL_VARIABLES = {
    "remote_addr": "remote_addr",
    "remote_user": "remote_user",
    "status": "status",
    "body_bytes_sent": "bytes_sent",
    "http_referer": "referer",
    "http_user_agent": "user_agent",
    "request_time": "request_time",
    "request_method": "method",
    "server_protocol": "protocol",
}
_TIME_VARIABLES = ("time_local", "time_iso8601", "msec")
#: Variables of nginx's http core and common modules (plus the prefixed families below).
KNOWN_VARIABLES = frozenset(
    """
    arg args binary_remote_addr body_bytes_sent bytes_sent connection connection_requests
    connection_time content_length content_type cookie document_root document_uri host
    hostname http https is_args limit_rate msec nginx_version pid pipe proxy_protocol_addr
    proxy_protocol_port proxy_protocol_server_addr proxy_protocol_server_port query_string
    realpath_root remote_addr remote_port remote_user request request_body request_body_file
    request_completion request_filename request_id request_length request_method request_time
    request_uri scheme server_addr server_name server_port server_protocol status
    tcpinfo_rtt tcpinfo_rttvar tcpinfo_snd_cwnd tcpinfo_rcv_space time_iso8601 time_local uri
    ssl_protocol ssl_cipher ssl_server_name ssl_session_id ssl_session_reused ssl_client_verify
    ssl_client_s_dn ssl_client_fingerprint upstream_addr upstream_status upstream_response_time
    upstream_connect_time upstream_header_time upstream_response_length upstream_bytes_received
    upstream_bytes_sent upstream_cache_status upstream_queue_time proxy_host proxy_port
    proxy_add_x_forwarded_for realip_remote_addr realip_remote_port gzip_ratio geoip_country_code
    geoip_city geoip2_data_country_code request_length sent_http_content_type
    proxy_upstream_name proxy_alternative_upstream_name req_id namespace ingress_name
    service_name service_port the_real_ip
    """.split()
)
_VARIABLE_PREFIXES = (
    "http_",
    "sent_http_",
    "sent_trailer_",
    "cookie_",
    "arg_",
    "upstream_http_",
    "upstream_cookie_",
    "upstream_trailer_",
    "jwt_claim_",
    "jwt_header_",
    "geoip_",
    "geoip2_",
    "ssl_",
    "proxy_protocol_tlv_",
)
_TOKEN = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)


def is_known_variable(name: str) -> bool:
    return name in KNOWN_VARIABLES or name.startswith(_VARIABLE_PREFIXES)


def _tokens(format_string: str) -> list[tuple[str, str]]:
    """``[("lit", text) | ("var", name), ...]`` for a log_format string."""
    tokens: list[tuple[str, str]] = []
    position = 0
    for match in _TOKEN.finditer(format_string):
        if match.start() > position:
            tokens.append(("lit", format_string[position : match.start()]))
        tokens.append(("var", match.group("braced") or match.group("name")))
        position = match.end()
    if position < len(format_string):
        tokens.append(("lit", format_string[position:]))
    for kind, text in tokens:
        if kind == "lit" and "$" in text:
            raise FormatError(
                f"log format has a '$' that is not a variable near {text!r}: "
                "variables look like $name or ${name}"
            )
    return tokens


def _neighbours(tokens: list[tuple[str, str]], index: int) -> tuple[str | None, str | None]:
    """The literal text before and after the variable at ``index``: None at either end of the
    format, ``""`` after it when another variable follows directly."""
    previous = tokens[index - 1][1] if index > 0 and tokens[index - 1][0] == "lit" else None
    following: str | None = None
    if index + 1 < len(tokens):
        following = tokens[index + 1][1] if tokens[index + 1][0] == "lit" else ""
    return previous, following


#: Variables nginx writes raw although they may hold spaces (``$remote_user`` from HTTP basic
#: auth: ``John Begood``); unquoted, they may hold spaces only before a literal that starts
#: with a space and then another character (`` [`` in combined), which ends them unambiguously.
_SPACED_VARIABLES = frozenset({"remote_user"})


def _spaced(name: str, previous: str | None, following: str | None) -> bool:
    """Whether the unquoted variable ``name`` may hold single spaces between words here."""
    quoted = previous is not None and previous.endswith('"') and following and following[0] == '"'
    return (
        name in _SPACED_VARIABLES
        and not quoted
        and following is not None
        and len(following) >= 2
        and following[0] == " "
        and following[1] != " "
    )


def _spaced_pattern(following: str) -> str:
    """Words separated by spaces, none starting with the character after ``following``'s
    space, so the value stops where ``following`` starts (no lookahead needed)."""
    return f"[^ ]*(?: +[^ {re.escape(following[1])}][^ ]*)*"


def _value_pattern(previous: str | None, following: str | None, name: str = "") -> str:
    """The regex for a variable given the literal text before and after it."""
    if previous is not None and previous.endswith('"') and following and following[0] == '"':
        return r'(?:[^"\\]|\\.)*'  # a quoted value; escaped quotes in either style
    if not following:
        return r".*" if following is None else r"\S*?"
    if _spaced(name, previous, following):
        return _spaced_pattern(following)
    return f"[^{re.escape(following[0])}]*"


class NginxLogFormat(LogFormat):
    """A parser compiled from an nginx ``log_format`` string."""

    lines_independent = True

    def __init__(
        self,
        format_string: str,
        name: str = "custom",
        escape: str = "default",
        defined_variables: Iterable[str] = (),
    ) -> None:
        if escape not in ("default", "json", "none"):
            raise FormatError(f"log format {name}: escape={escape} is not default, json or none")
        self.name = name
        self.format_string = format_string
        self.escape = escape
        tokens = _tokens(format_string)
        variables = [text for kind, text in tokens if kind == "var"]
        if not variables:
            raise FormatError(f"log format {name!r} has no $variables: {format_string!r}")
        defined = set(defined_variables)
        unknown = [v for v in variables if not (is_known_variable(v) or v in defined)]
        if unknown:
            raise FormatError(
                f"log format {name!r}: unknown nginx variable ${unknown[0]}; "
                "check the spelling against the log_format in your nginx config (a variable "
                "your config defines with map or set is accepted with --nginx-conf)"
            )
        times = [v for v in variables if v in _TIME_VARIABLES]
        if not times:
            raise FormatError(
                f"log format {name!r} has no time variable: add $time_local, $time_iso8601 or $msec"
            )
        self.time_variable = times[0]
        self.variables: list[str] = []  # first occurrence of each, in order
        parts = ["^(?P<m__>)"]
        for index, (kind, text) in enumerate(tokens):
            if kind == "lit":
                parts.append(re.escape(text))
                continue
            pattern = _value_pattern(*_neighbours(tokens, index), text)
            if text in self.variables:  # nginx allows a variable twice; the first one is kept
                parts.append(f"(?:{pattern})")
            else:
                self.variables.append(text)
                parts.append(f"(?P<v__{text}>{pattern})")
        parts.append("$")
        self.regex = "".join(parts)
        self._match_regex = self.regex.replace("^(?P<m__>)", "^", 1)
        self._fast_regex = _fast_regex(format_string)

    def describe(self) -> str:
        return f"{self.name} ({self.format_string})"

    def _field(self, name: str) -> pl.Expr:
        return pl.col(f"v__{name}")

    def _with_time(self, fields: pl.DataFrame) -> pl.DataFrame:
        """``fields`` with the event time (UTC) in ``__ts``."""
        if self.time_variable == "time_local":
            text = fields.get_column(f"v__{self.time_variable}")
            return fields.with_columns(time_local_to_datetime(text).alias("__ts"))
        text_expr = self._field(self.time_variable)
        if self.time_variable == "time_iso8601":
            return fields.with_columns(iso8601_to_datetime(text_expr).alias("__ts"))
        return fields.with_columns(msec_to_datetime(text_expr).alias("__ts"))

    def parse(self, lines: pl.DataFrame) -> ParseResult:
        columns: dict[str, pl.Expr] = {"ts": pl.col("__ts")}
        checks: list[pl.Expr] = []
        text_names: list[str] = []  # variables whose text (unescaped, "-" as null) is used

        def text_column(name: str) -> pl.Expr:
            if name not in text_names:
                text_names.append(name)
            return pl.col(f"__t_{name}")

        for name in self.variables:
            if name in _TIME_VARIABLES:
                continue
            if name == "request":
                text_column("request")
                parts = ("method", "path", "query", "protocol")
                columns.update({part: pl.col(f"__rq_{part}") for part in parts})
            elif name == "request_uri":
                columns.update(split_target(text_column("request_uri")))
            elif name == "uri" and "request_uri" not in self.variables:
                columns["path"] = text_column("uri")
            elif name in ("args", "query_string") and "request_uri" not in self.variables:
                columns["query"] = text_column(name)
            elif name == "status":
                columns["status"] = pl.col("__status")
                checks.append(pl.col("__status").is_not_null())
            elif name == "body_bytes_sent" or (
                name == "bytes_sent" and "body_bytes_sent" not in self.variables
            ):
                columns["bytes_sent"] = pl.col("__bytes")
                checks.append(pl.col("__bytes").is_not_null())
            elif name == "request_time":
                columns["request_time"] = pl.col("__request_time")
                checks.append(
                    pl.col("__request_time").is_not_null()
                    | dash_to_null(self._field(name)).is_null()
                )
            elif name in _CANONICAL_VARIABLES:
                columns[_CANONICAL_VARIABLES[name]] = text_column(name)
            else:
                extra = "total_bytes_sent" if name == "bytes_sent" else name
                columns[extra] = text_column(name)
        fields = self._fields(lines, text_names)
        bytes_variable = "body_bytes_sent" if "body_bytes_sent" in self.variables else "bytes_sent"
        typed = self._with_time(fields).with_columns(
            status_from_text(self._field("status")).alias("__status")
            if "status" in self.variables
            else pl.lit(None, pl.Int16).alias("__status"),
            parse_bytes(self._field(bytes_variable)).alias("__bytes")
            if bytes_variable in self.variables
            else pl.lit(None, pl.Int64).alias("__bytes"),
            parse_seconds(self._field("request_time")).alias("__request_time")
            if "request_time" in self.variables
            else pl.lit(None, pl.Float64).alias("__request_time"),
        )
        numbers_ok = pl.lit(True)
        for check in checks:
            numbers_ok = numbers_ok & check
        return classify(
            typed,
            matched=self._field(self.variables[0]).is_not_null(),
            timestamp_ok=timestamp_in_range(pl.col("__ts")),
            numbers_ok=numbers_ok,
            event_columns=columns,
        )

    def _fields(self, lines: pl.DataFrame, text_names: list[str]) -> pl.DataFrame:
        """``lines`` with the raw fields (``v__*``, null when the line does not match), their
        texts (``__t_*``) and, with ``$request``, its parts (``__rq_*``).

        Lines without a backslash whose request line has the usual shape (nearly all) are
        matched by a regex that also captures the request's parts and needs no unescaping; the
        others get the general regex, unescaping and request split, and are put back in place.
        """
        if self._fast_regex is None:
            return self._general_fields(lines, text_names)
        fields = lines.with_columns(
            pl.col("line").str.extract_groups(self._fast_regex).alias("__fields")
        ).unnest("__fields")
        fields = fields.rename(
            {name: f"__rq_{name[4:]}" for name in fields.columns if name.startswith("rq__")}
        ).with_columns(
            [dash_to_null(self._field(name)).alias(f"__t_{name}") for name in text_names]
        )
        if "request" in self.variables and "__rq_method" not in fields.columns:
            # an unquoted $request (e.g. tab-separated) is not split by the fast regex
            fields = with_request_split(fields, "__t_request", "__rq_")
        missed = fields.get_column(f"v__{self.variables[0]}").is_null().arg_true()
        if missed.len() == 0:
            return fields
        others = self._general_fields(lines[missed], text_names)
        return fields.with_columns(
            fields.get_column(name).clone().scatter(missed, others.get_column(name))
            for name in others.columns
            if name.startswith(("v__", "__t_", "__rq_"))
        )

    def _general_fields(self, lines: pl.DataFrame, text_names: list[str]) -> pl.DataFrame:
        fields = lines.with_columns(
            pl.col("line").str.extract_groups(self._match_regex).alias("__fields")
        ).unnest("__fields")
        fields = fields.with_columns(
            [
                dash_to_null(unescape(self._field(name), self.escape)).alias(f"__t_{name}")
                for name in text_names
            ]
        )
        if "request" in self.variables:
            fields = with_request_split(fields, "__t_request", "__rq_")
        return fields


def _fast_regex(format_string: str) -> str | None:
    """A regex for the lines of ``format_string`` that hold no backslash (nothing to unescape),
    with ``$request`` required in the usual ``METHOD TARGET PROTOCOL`` shape (target without
    spaces) and captured in parts (``rq__method``, ``rq__path``, ``rq__query``,
    ``rq__protocol``). Every line it matches gets the same fields from :attr:`regex`; lines it
    does not match are parsed the general way. None when the format has no such regex (two
    variables without text between them).
    """
    tokens = _tokens(format_string)
    seen: set[str] = set()
    parts = ["^"]
    for index, (kind, text) in enumerate(tokens):
        if kind == "lit":
            parts.append(re.escape(text))
            continue
        previous, following = _neighbours(tokens, index)
        # a value with spaces (``$remote_user``) is left to the general regex: lines without
        # one keep the fast single-word pattern
        general = _value_pattern(previous, following)
        if general == r'(?:[^"\\]|\\.)*':
            pattern = r'[^"\\]*'
            if text == "request" and text not in seen:
                pattern = (
                    r"(?P<rq__method>[A-Za-z]+) (?P<rq__path>[^?\s\\\"]+)"
                    r"(?:\?(?P<rq__query>[^\s\\\"]*))? (?P<rq__protocol>[A-Za-z]+/[0-9.]+)"
                )
        elif general == ".*":
            pattern = r"[^\\\n]*"
        elif general.startswith("[^") and general.endswith("]*"):
            pattern = general[:-2] + r"\\]*"
        else:
            return None
        if text in seen:
            parts.append(f"(?:{pattern})")
        else:
            seen.add(text)
            parts.append(f"(?P<v__{text}>{pattern})")
    parts.append("$")
    return "".join(parts)
