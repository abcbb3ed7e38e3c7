"""The interface every billing meter implements, and what meters share.

A meter turns the events of one billing period into one integer quantity per account. Events
come in as a lazy frame with the canonical columns plus ``user`` and ``account`` (see
:func:`meterlog.query.identity.with_identity`). A meter:

* declares its parameters as a :class:`MeterSpec` (a struct tagged ``meter = "<kind>"``) and
  is built from a plan's charge table (:meth:`Meter.from_params`), unknown keys and bad
  values refused with :class:`~meterlog.validation.ParameterError`;
* measures as a mergeable aggregate: :meth:`Meter.partial` turns any part of the period's
  events into a *state* (a small frame: sets of distinct values, sums, or values per window),
  :meth:`Meter.merge` combines two states, and :meth:`Meter.finalize` turns a state into
  ``account, quantity, peak_start`` for every account with at least one request in the period
  (``quantity`` 0 when none of them counts). Merging the partials of any split of the events
  gives exactly the state of all of them, so batch reports, invoices, ``watch`` and the
  month-end cache all compute a quantity with the same code; :meth:`Meter.quantities` is the
  one-shot ``finalize(partial(events))``;
* explains: :meth:`Meter.evidence` gives the inputs behind each quantity (the users counted,
  the window series) so an invoice line can be checked by hand.

Which requests count is set per meter with :class:`RequestFilter` (status, path, method).
Adding a meter is adding a module with a :class:`Meter` subclass, its :class:`MeterSpec` and
an entry in :data:`meterlog.meters.METERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Annotated, Any, ClassVar, Self
from zoneinfo import ZoneInfo

import msgspec
import polars as pl

from meterlog.patterns import parse_status_spec, template_to_regex
from meterlog.periods import Month, utc_days
from meterlog.query.filters import method_predicate, path_predicate, status_predicate
from meterlog.schema import PARTITION_COLUMN
from meterlog.validation import NonBlank, ParameterError, Spec, key, read

#: Output schema of :meth:`Meter.quantities`.
QUANTITY_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String(),
    "quantity": pl.Int64(),
    "peak_start": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class Period:
    """A billing period: a calendar month in a time zone, ``[start, end)``.

    ``first_day`` and ``end_day`` (local dates) narrow it to the days an account is active:
    from the start of ``first_day`` until the start of ``end_day``.
    """

    month: Month
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    first_day: date | None = None
    end_day: date | None = None

    @cached_property
    def start(self) -> datetime:
        """First instant of the period in ``tz``, as an aware UTC datetime."""
        start = self.month.start(self.tz)
        if self.first_day is not None:
            start = max(start, _local_midnight(self.first_day, self.tz))
        return start

    @cached_property
    def end(self) -> datetime:
        """First instant after the period in ``tz`` (exclusive), as an aware UTC datetime."""
        end = self.month.end(self.tz)
        if self.end_day is not None:
            end = min(end, _local_midnight(self.end_day, self.tz))
        return end

    @property
    def whole_month(self) -> Period:
        return Period(self.month, self.tz)

    def days(self) -> int:
        """Calendar days of the period (0 when the account is not active in the month)."""
        first = date(self.month.year, self.month.month, 1)
        following = self.month.next()
        after = date(following.year, following.month, 1)
        if self.first_day is not None:
            first = max(first, self.first_day)
        if self.end_day is not None:
            after = min(after, self.end_day)
        return max(0, (after - first).days)

    @property
    def label(self) -> str:
        return str(self.month)

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the period's time zone."""
        return moment.astimezone(self.tz)

    def iso(self, moment: datetime | None) -> str | None:
        """``moment`` as ISO 8601 text with the period's zone offset (``None`` stays None)."""
        return None if moment is None else self.local(moment).isoformat()


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def events_between(events: pl.LazyFrame, start: datetime, end: datetime) -> pl.LazyFrame:
    """Events with ``start <= ts < end``, reading only the partitions (UTC days) needed."""
    selected = (pl.col("ts") >= start) & (pl.col("ts") < end)
    if PARTITION_COLUMN in events.collect_schema().names():
        selected = pl.col(PARTITION_COLUMN).is_in(utc_days(start, end)) & selected
    return events.filter(selected)


def events_in_period(events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """Events of ``period`` (``start <= ts < end``), reading only the partitions needed."""
    return events_between(events, period.start, period.end)


class Status(str):
    """A status to leave out: a code (``404`` or ``"404"``) or a class (``"5xx"``), read as
    :func:`~meterlog.patterns.parse_status_spec` writes it."""

    shown_type: ClassVar[str] = 'status code or class ("5xx")'
    shown_items: ClassVar[str] = 'status codes (`404`) or classes (`"5xx"`)'

    @classmethod
    def decode(cls, value: object) -> Self:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            if not 100 <= value <= 599:
                raise ParameterError("", f"status {value} is not an HTTP status (100-599)")
            value = str(value)
        if isinstance(value, str) and (parsed := parse_status_spec(value)) is not None:
            return cls(parsed[0])
        raise ParameterError(
            "", f'cannot read {value!r} as a status: use a code (404) or a class ("5xx")'
        )


_Strings = "a list of non-empty strings"


class MeterSpec(Spec, tag_field="meter", kw_only=True):
    """The keys of a meter in a charge table: ``meter`` (the tag) names the meter; every meter
    has the :class:`RequestFilter` keys."""

    exclude_status: Annotated[
        list[Status],
        key(
            'codes (`404`) or classes (`"5xx"`) whose requests do not count',
            expected='a list such as ["5xx", 404]',
        ),
    ] = msgspec.field(default_factory=list)
    exclude_paths: Annotated[
        list[NonBlank],
        key(
            'path globs (`"/health"`, `"/internal/*"`) whose requests do not count',
            expected=_Strings,
        ),
    ] = msgspec.field(default_factory=list)
    methods: Annotated[
        list[NonBlank],
        key("when given, only requests with these methods count", expected=_Strings),
    ] = msgspec.field(default_factory=list)
    endpoints: Annotated[
        list[NonBlank],
        key(
            "when given, only requests matching these endpoint templates (`/v1/users/{id}`) count",
            expected=_Strings,
        ),
    ] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        for index, template in enumerate(self.endpoints):
            if not template.strip().startswith("/"):
                raise ParameterError(
                    f"endpoints[{index}]",
                    f"{template.strip()!r} is not a path template such as /v1/users/{{id}}",
                )


@dataclass(frozen=True)
class RequestFilter:
    """Which requests a meter counts. By default every request counts.

    * ``exclude_status``: codes (``404``) or classes (``"5xx"``) whose requests do not count;
      a request without a status counts.
    * ``exclude_paths``: path globs (``"/health"``, ``"/internal/*"``) whose requests do not
      count; ``*`` matches any characters including ``/``, ``?`` one character. The path has
      no query string.
    * ``methods``: when given, only requests with one of these methods count (case-insensitive).
    * ``endpoints``: when given, only requests whose path matches one of these endpoint
      templates count; ``{name}`` matches one path segment (``/v1/users/{id}`` matches
      ``/v1/users/42``, not ``/v1/users/42/orders``).
    """

    exclude_status: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: MeterSpec) -> RequestFilter:
        """The filter of a meter's checked keys (repeated values once)."""

        def distinct(values: Sequence[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(value.strip() for value in values))

        return cls(
            exclude_status=distinct(spec.exclude_status),
            exclude_paths=distinct(spec.exclude_paths),
            methods=distinct([method.upper() for method in spec.methods]),
            endpoints=distinct(spec.endpoints),
        )

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> RequestFilter:
        """The filter of a charge table's filter keys (:class:`MeterSpec`)."""
        return cls.from_spec(read({**params, "meter": "count"}, _FilterSpec))

    def expr(self) -> pl.Expr:
        """True for requests that count (the predicates of :mod:`meterlog.query.filters`)."""
        counts = pl.lit(True)
        for written in self.exclude_status:
            counts = counts & ~status_predicate(written)
        if self.exclude_paths:
            counts = counts & ~path_predicate(self.exclude_paths)
        if self.methods:
            counts = counts & method_predicate(self.methods)
        if self.endpoints:
            regex = "|".join(template_to_regex(template) for template in self.endpoints)
            counts = counts & pl.col("path").str.contains(regex)
        return counts.fill_null(False)

    def describe(self) -> str:
        """E.g. ``not status 5xx; not paths /health; methods GET,POST`` (empty for none)."""
        parts = []
        if self.exclude_status:
            parts.append("not status " + ",".join(self.exclude_status))
        if self.exclude_paths:
            parts.append("not paths " + ",".join(self.exclude_paths))
        if self.methods:
            parts.append("methods " + ",".join(self.methods))
        if self.endpoints:
            parts.append("endpoints " + ",".join(self.endpoints))
        return "; ".join(parts)


class _FilterSpec(MeterSpec, tag="count", kw_only=True):
    what = "a request filter"


class Meter(ABC):
    """A billing meter (see the module doc). Instances are immutable and hashable, so equal
    meters in several plans are measured once."""

    #: The name used in plan files (``meter = "mau"``) and the registry.
    kind: ClassVar[str]
    #: The meter's keys in a plan's charge table (its tag is :attr:`kind`).
    spec: ClassVar[type[MeterSpec]]
    #: The evidence column rows are ordered by after ``account`` and ``month``.
    evidence_order: ClassVar[str] = "account"

    counting: RequestFilter

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        """Build the meter from a plan charge table (only this meter's keys are passed);
        :class:`~meterlog.validation.ParameterError` naming the key if a value is wrong."""
        return cls.from_spec(read({**params, "meter": cls.kind}, cls.spec))

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: Any) -> Self:
        """Build the meter from its checked keys."""

    @property
    @abstractmethod
    def description(self) -> str:
        """What the meter measures, for invoice lines (e.g. ``peak requests/1h p95``)."""

    @abstractmethod
    def state_of(self, in_period: pl.LazyFrame, counts: pl.Expr, period: Period) -> pl.LazyFrame:
        """The state of ``in_period`` (events of the period only); ``counts`` is true for the
        requests that count. Every account with a request has a row in the state."""

    @abstractmethod
    def merge(self, first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
        """The state of the union of the events two states were made from (the events must
        not overlap: each request in one part only)."""

    @abstractmethod
    def finalize(self, state: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        """``account, quantity, peak_start`` from a state of the period's events, for every
        account in it, sorted by account (no account last)."""

    @abstractmethod
    def empty_state(self) -> pl.DataFrame:
        """The state of no events."""

    @abstractmethod
    def zero_peak_start(self, period: Period) -> datetime | None:
        """``peak_start`` for an account with no counted request in the period."""

    @abstractmethod
    def evidence(self, events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        """The inputs behind each account's quantity (meter-specific columns, ``account``
        first), for every account present in ``events`` during the period."""

    def needs(self) -> tuple[str, ...]:
        """Stored columns the meter reads besides the canonical ones (a missing one is
        warned about on the invoice)."""
        return ()

    def report_columns(self) -> list[pl.Expr]:
        """The columns of a monthly report (``meterlog mau``, ``peak``) after ``account`` and
        ``month``, computed from :meth:`quantities`' columns."""
        return [pl.col("quantity"), pl.col("peak_start")]

    def _describe(self, core: str) -> str:
        filters = self.counting.describe()
        return f"{core} ({filters})" if filters else core

    def partial(self, events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        """The state of the events of ``events`` that fall in ``period`` (any part of the
        period's events: a batch, a file, a day)."""
        return self.state_of(events_in_period(events, period), self.counting.expr(), period)

    def merge_all(self, states: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
        """The states merged into one (the empty state for none)."""
        if not states:
            return self.empty_state().lazy()
        merged = states[0]
        for state in states[1:]:
            merged = self.merge(merged, state)
        return merged

    def quantities(self, events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        """``account, quantity, peak_start`` for every account with a request in the period,
        sorted by account (no account last): ``finalize(partial(events))``."""
        return self.finalize(self.partial(events, period), period)

    def complete(
        self, accounts: pl.LazyFrame, measured: pl.LazyFrame, period: Period
    ) -> pl.LazyFrame:
        """The quantity frame: every account of ``accounts`` with its measured ``quantity``
        and ``peak_start`` (``0`` and :meth:`zero_peak_start` when it has none)."""
        return (
            accounts.join(measured, on="account", how="left", nulls_equal=True)
            .with_columns(
                pl.col("quantity").fill_null(0).cast(pl.Int64),
                pl.col("peak_start")
                .cast(pl.Datetime("us", "UTC"))
                .fill_null(pl.lit(self.zero_peak_start(period), pl.Datetime("us", "UTC"))),
            )
            .select(list(QUANTITY_SCHEMA))
            .sort("account", nulls_last=True)
        )


def concatenated(first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
    """Two states of the same shape, one after the other (types widened where they differ,
    e.g. an all-null column)."""
    return pl.concat([first, second], how="vertical_relaxed")


#: The state of :class:`SetState` meters: distinct ``account, value`` pairs (``value`` null
#: for an account with requests but no value counted).
SET_STATE: dict[str, pl.DataType] = {"account": pl.String(), "value": pl.String()}


class SetState:
    """Meters counting distinct values per account (MAU, unique): the state is the exact set
    of ``(account, value)`` pairs, so merging is a union and the count stays exact."""

    @staticmethod
    def state(in_period: pl.LazyFrame, counts: pl.Expr, value: pl.Expr) -> pl.LazyFrame:
        return in_period.select(
            pl.col("account").cast(pl.String),
            pl.when(counts).then(value).otherwise(None).cast(pl.String).alias("value"),
        ).unique()

    @staticmethod
    def merge(first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
        return concatenated(first, second).unique()

    @staticmethod
    def measured(state: pl.LazyFrame) -> pl.LazyFrame:
        return state.group_by("account").agg(
            quantity=pl.col("value").drop_nulls().n_unique().cast(pl.Int64),
            peak_start=pl.lit(None, pl.Datetime("us", "UTC")),
        )

    @staticmethod
    def empty() -> pl.DataFrame:
        return pl.DataFrame(schema=SET_STATE)


class DistinctValueMeter(Meter):
    """A meter counting distinct values per account (MAU, unique): its state is a
    :class:`SetState`; a subclass says which value (:meth:`state_of`)."""

    def merge(self, first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
        return SetState.merge(first, second)

    def finalize(self, state: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        return self.complete(state.select("account").unique(), SetState.measured(state), period)

    def empty_state(self) -> pl.DataFrame:
        return SetState.empty()

    def zero_peak_start(self, period: Period) -> datetime | None:
        return None
