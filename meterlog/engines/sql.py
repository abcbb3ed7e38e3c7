"""SQL for the meters' partial states, generated from the meter definitions.

One query per meter and billing period returns the meter's *state* (see
:mod:`meterlog.meters`), or for ``peak`` the state cut finer (per minute), from a table or view
named :data:`EVENTS_VIEW` that holds the store's events: the Parquet files of one store version
(:func:`data_files`), or the Delta table itself where the engine has a Delta connector. The
query does what meterlog does before a meter measures: the identity (``user``, ``account``,
whitespace stripped, ``-`` and empty anonymous, the account mapping), the billing period's
instants, the group of accounts billed over it, and the meter's counting rule. meterlog then
finalises the state and prices it as it does its own, so an invoice does not depend on where the
states were computed.

The query is written once, in DuckDB's dialect, and translated by sqlglot to Spark SQL and
Trino (:data:`DIALECTS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from meterlog.errors import UsageError
from meterlog.meters import CountMeter, MauMeter, Meter, PeakMeter, Period, SumMeter, UniqueMeter
from meterlog.meters.base import RequestFilter
from meterlog.meters.peak import window_grid
from meterlog.patterns import glob_to_regex, parse_status_spec, template_to_regex
from meterlog.query.endpoints import ENDPOINT_COLUMN
from meterlog.query.identity import DEFAULT_ACCOUNT, Identity
from meterlog.schema import CANONICAL_COLUMNS

#: The table or view the queries read.
EVENTS_VIEW = "meterlog_events"
#: Dialects a query can be written in.
DIALECTS = ("duckdb", "spark", "trino")
#: Unicode White_Space, as Polars' ``str.strip_chars()`` strips it (a regex class).
_SPACE = (
    r"[\x{0009}-\x{000D}\x{0020}\x{0085}\x{00A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}"
    r"\x{202F}\x{205F}\x{3000}]"
)
_PEAK_SQL = {
    "requests": "COUNT(*)",
    "errors_4xx": "SUM(CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END)",
    "errors_5xx": "SUM(CASE WHEN status BETWEEN 500 AND 599 THEN 1 ELSE 0 END)",
    "bytes_sent": "COALESCE(SUM(bytes_sent), 0)",
}


def literal(value: str) -> str:
    """``value`` as a SQL string literal (quotes doubled; nothing else is special)."""
    return "'" + value.replace("'", "''") + "'"


def _regex(pattern: str) -> str:
    """A meterlog path regex (anchored ``^...$``) for every engine: ``$`` ends the text only
    (``\\z``), as in meterlog's own matching (Java's ``$`` would also match before a final
    newline)."""
    if pattern.endswith("$"):
        pattern = pattern[:-1] + r"\z"
    return literal(pattern)


def _utc_timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


#: The store's columns and what each holds: ``integer``, ``number`` (other numbers) or
#: ``text`` (anything else), as the meters tell them apart.
Columns = Mapping[str, str]


def column_kinds(schema: Mapping[str, pl.DataType]) -> dict[str, str]:
    """:data:`Columns` from a Polars schema."""
    return {
        name: "integer" if dtype.is_integer() else "number" if dtype.is_numeric() else "text"
        for name, dtype in schema.items()
    }


#: :data:`Columns` of a store holding the canonical columns only.
CANONICAL_KINDS = column_kinds(CANONICAL_COLUMNS)


def identity_value(column: str, columns: Columns) -> str:
    """``column`` as meterlog reads an identity: text, whitespace stripped, ``-`` and empty
    as NULL (anonymous); NULL when the store has no such column."""
    if column not in columns:
        return "CAST(NULL AS VARCHAR)"
    return f"NULLIF(NULLIF({_stripped(column)}, ''), '-')"


def _stripped(column: str) -> str:
    """``column`` as text with surrounding whitespace removed, as Polars' ``strip_chars``."""
    return f"regexp_replace(CAST({_quoted(column)} AS VARCHAR), '^{_SPACE}+|{_SPACE}+$', '', 'g')"


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def counting_sql(counting: RequestFilter) -> str:
    """The meter's counting rule as a SQL boolean (never NULL), as
    :meth:`meterlog.meters.RequestFilter.expr` decides it."""
    counts = ["TRUE"]
    for written in counting.exclude_status:
        parsed = parse_status_spec(written)
        assert parsed is not None
        _, low, high = parsed
        counts.append(f"NOT COALESCE(status BETWEEN {low} AND {high}, FALSE)")
    if counting.exclude_paths:
        matches = " OR ".join(
            f"regexp_matches(path, {_regex(glob_to_regex(glob))})"
            for glob in counting.exclude_paths
        )
        counts.append(f"NOT COALESCE({matches}, FALSE)")
    if counting.methods:
        wanted = ", ".join(
            literal(m) for m in sorted({m.strip().upper() for m in counting.methods})
        )
        counts.append(f"COALESCE(upper(method) IN ({wanted}), FALSE)")
    if counting.endpoints:
        regex = "|".join(template_to_regex(template) for template in counting.endpoints)
        counts.append(f"regexp_matches(path, {_regex(regex)})")
    return f"COALESCE({' AND '.join(counts)}, FALSE)"


@dataclass(frozen=True)
class Selection:
    """The accounts billed over one period: those ``listed``, and with ``unlisted`` every
    account not in ``all_listed`` (see :mod:`meterlog.billing.invoice`); None: every account."""

    listed: tuple[str, ...] = ()
    unlisted: bool = True
    all_listed: tuple[str, ...] = ()

    def sql(self) -> str:
        parts = []
        if self.listed:
            parts.append(f"account IN ({', '.join(literal(a) for a in self.listed)})")
        if self.unlisted:
            if self.all_listed:
                names = ", ".join(literal(a) for a in self.all_listed)
                parts.append(f"account NOT IN ({names})")
            else:
                parts.append("TRUE")
        chosen = " OR ".join(parts) if parts else "FALSE"
        return f"account IS NOT NULL AND ({chosen})"


def base_query(
    identity: Identity,
    period: Period,
    columns: Columns,
    counting: RequestFilter,
    selection: Selection | None,
    kept: Sequence[str],
) -> str:
    """The CTEs every state query starts from: ``counted`` holds the period's events of the
    selected accounts with ``user``, ``account``, ``counts`` and the ``kept`` columns."""
    user = identity_value(identity.user_field, columns)
    if identity.account_field is None:
        account = literal(DEFAULT_ACCOUNT)
        mapping = ""
        join = ""
    else:
        raw = identity_value(identity.account_field, columns)
        if identity.accounts:
            rows = ", ".join(
                f"({literal(key)}, {literal(name)})"
                for key, name in sorted(identity.accounts.items())
            )
            mapping = f"account_names (raw_key, name) AS (VALUES {rows}),\n"
            join = f"LEFT JOIN account_names ON account_names.raw_key = {raw}"
            account = f"COALESCE(account_names.name, {raw})"
        else:
            mapping, join, account = "", "", raw
    present = [c for c in kept if c in columns]
    missing = [c for c in kept if c not in columns]
    selected = ", ".join(
        [*(f"{EVENTS_VIEW}.{_quoted(c)} AS {_quoted(c)}" for c in present),
         *(f"NULL AS {_quoted(c)}" for c in missing)]
    )  # fmt: skip
    where = f"ts >= {_utc_timestamp(period.start)} AND ts < {_utc_timestamp(period.end)}"
    chosen = "TRUE" if selection is None else selection.sql()
    return (
        f"WITH {mapping}identified AS (\n"
        f'  SELECT ts, {selected}, {user} AS "user", {account} AS account\n'
        f"  FROM {EVENTS_VIEW} {join}\n"
        f"  WHERE {where}\n"
        f"),\n"
        f"counted AS (\n"
        f"  SELECT *, {counting_sql(counting)} AS counts FROM identified WHERE {chosen}\n"
        f")\n"
    )


_FILTER_COLUMNS = ("status", "path", "method")


def state_query(
    meter: Meter,
    period: Period,
    identity: Identity,
    columns: Columns,
    selection: Selection | None = None,
    dialect: str = "duckdb",
) -> str:
    """The query giving ``meter``'s state of ``period`` (for ``peak``: per minute, see
    :func:`meterlog.engines.states_from_rows`), in ``dialect``."""
    if isinstance(meter, MauMeter):
        body = 'SELECT DISTINCT account, CASE WHEN counts THEN "user" END AS value FROM counted'
        kept: tuple[str, ...] = ()
    elif isinstance(meter, UniqueMeter):
        if meter.column == ENDPOINT_COLUMN and meter.column not in columns:
            raise UsageError(
                "no SQL for unique over the endpoint templates meterlog derives from paths: "
                "use --engine polars"
            )
        if meter.column not in columns:
            body = "SELECT DISTINCT account, CAST(NULL AS VARCHAR) AS value FROM counted"
            kept = ()
        else:
            value = identity_value(meter.column, columns)
            body = (
                f"SELECT DISTINCT account, CASE WHEN counts THEN {value} END AS value FROM counted"
            )
            kept = (meter.column,)
    elif isinstance(meter, CountMeter):
        body = (
            "SELECT account, CAST(SUM(CASE WHEN counts THEN 1 ELSE 0 END) AS BIGINT) AS counted "
            "FROM counted GROUP BY account"
        )
        kept = ()
    elif isinstance(meter, SumMeter):
        body, kept = _sum_body(meter, columns)
    elif isinstance(meter, PeakMeter):
        body, kept = _peak_body(meter, period)
    else:
        raise UsageError(f"no SQL for the {meter.kind} meter: use --engine polars")
    needed = tuple(dict.fromkeys((*_FILTER_COLUMNS, *kept)))
    query = base_query(identity, period, columns, meter.counting, selection, needed) + body
    return translate(query, dialect)


def _sum_body(meter: SumMeter, columns: Columns) -> tuple[str, tuple[str, ...]]:
    """``account, raw, scale`` as :meth:`meterlog.meters.SumMeter.state_of` gives them: the
    sum in whole units for an integer column, else in millionths (rounded half to even, as
    Polars rounds)."""
    kind = columns.get(meter.column)
    if kind is None:
        raw, factor = "CAST(NULL AS BIGINT)", 1
    elif kind == "integer":
        raw, factor = f"CAST({_quoted(meter.column)} AS BIGINT)", 1
    else:
        factor = 10**6
        value = f"CAST({_quoted(meter.column)} AS DOUBLE)"
        if kind != "number":
            value = f"TRY_CAST({_stripped(meter.column)} AS DOUBLE)"
        scaled = f"({value} * {factor})"
        half_even = (
            f"CASE WHEN {scaled} - FLOOR({scaled}) = 0.5 THEN 2 * ROUND({scaled} / 2) "
            f"ELSE ROUND({scaled}) END"
        )
        raw = f"CAST({half_even} AS BIGINT)"
    body = (
        f"SELECT account, CAST(COALESCE(SUM(CASE WHEN counts THEN {raw} END), 0) AS BIGINT) "
        f"AS raw, CAST({factor} AS BIGINT) AS scale FROM counted GROUP BY account"
    )
    return body, (meter.column,) if kind is not None else ()


def bucket_unit(meter: PeakMeter, period: Period) -> str:
    """``minute`` when every window of the period starts on a whole UTC minute, else
    ``second``."""
    grid = window_grid(period, meter.window)
    starts = grid.get_column("window_start")
    whole = (starts.dt.second() == 0) & (starts.dt.microsecond() == 0)
    return "minute" if bool(whole.all()) else "second"


def _peak_body(meter: PeakMeter, period: Period) -> tuple[str, tuple[str, ...]]:
    unit = bucket_unit(meter, period)
    bucket = f"CASE WHEN counts THEN date_trunc('{unit}', ts) END"
    if meter.metric == "users":
        body = (
            f'SELECT DISTINCT account, {bucket} AS bucket, CASE WHEN counts THEN "user" END '
            "AS value FROM counted"
        )
        return body, ()
    aggregate = _PEAK_SQL.get(meter.metric)
    if aggregate is None:
        raise UsageError(f"no SQL for peak over {meter.metric}: use --engine polars")
    body = (
        f"SELECT account, {bucket} AS bucket, CAST({aggregate} AS BIGINT) AS value "
        "FROM counted GROUP BY account, 2"
    )
    kept = ("bytes_sent",) if meter.metric == "bytes_sent" else ()
    return body, kept


def translate(query: str, dialect: str) -> str:
    """``query`` (DuckDB's dialect), parsed by sqlglot and written in ``dialect``: one
    statement, whatever the values in it (each passed through :func:`literal`)."""
    if dialect not in DIALECTS:
        raise UsageError(f"unknown SQL dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
    import sqlglot

    statements = sqlglot.transpile(query, read="duckdb", write=dialect, pretty=True)
    if len(statements) != 1:
        raise AssertionError("a meter query is one statement")
    return statements[0]


#: What each meter's state holds, and how a quantity is finalised from it (for ``meterlog sql``).
