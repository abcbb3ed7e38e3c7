"""Detection rules as data: a filter, an entity, a count over a window, and a severity.

A rule is declared like a CrowdSec scenario (see ``rules/builtin.toml``, shipped with the
package, and ``[anomalies.NAME]`` in ``meterlog.toml``):

* ``filter``: which requests it looks at: ``status`` (codes, or classes such as ``"2xx"``),
  ``method``, and regular expressions (case-insensitive; ``"@SET"`` names a pattern set of
  ``rules/patterns.toml``) on ``path``, ``query``, ``request`` (path and query string),
  ``agent``, with ``not_path`` / ``not_agent`` to leave requests out; ``key`` / ``user``
  (true: only requests that carry one);
* ``group_by``: the entities judged, one finding per entity: ``ip``, ``network`` (the /24 or
  /48), ``account``, ``key``, ``user``, or ``client`` (the user; else the key; else the
  address);
* ``distinct``: count the distinct values of this field (``path``, ``endpoint``, ``user``,
  ``key``, ``account``, ``ip``, ``network``, ``agent``) instead of requests; ``per``: count
  per value of this field (``endpoint``) and fire on the largest;
* ``window`` sliding by ``slide`` (default a tenth of the window, at least a minute), and
  ``capacity``: a window is suspicious when its count reaches the capacity;
* ``min_ratio`` / ``min_score``: when set, the count must also be that many times the entity's
  usual count per window in the baseline (for distinct counts: the most it had in one window),
  and that many Poisson standard deviations above it; 0 judges without history;
* ``severity``, raised to ``high`` from ``high_at`` times the capacity and to ``critical`` from
  ``critical_at`` times (0: never), and to ``success_severity`` when a matched request was
  answered with a 2xx.

Overlapping suspicious windows of one entity are one finding from its first to its last
matched request; ``observed`` is the largest count in one window, ``expected`` the usual one.
Everything is Polars expressions; no Python loop over events.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

import msgspec
import polars as pl

from meterlog.anomalies.base import (
    SEVERITIES,
    Context,
    DetectorBase,
    Params,
    empty_findings,
    finalize,
    merge_intervals,
    network_expr,
)
from meterlog.anomalies.windows import parse_window
from meterlog.config import config_message
from meterlog.errors import ConfigError, MeterlogError, located
from meterlog.query.endpoints import automatic_endpoint, strip_query
from meterlog.validation import ParameterError, Spec, read

RULES_FOLDER = Path(__file__).resolve().parent / "rules"
BUILTIN_RULES = RULES_FOLDER / "builtin.toml"
PATTERN_SETS = RULES_FOLDER / "patterns.toml"

GROUPS = ("ip", "network", "account", "key", "user", "client")
DISTINCT = ("path", "request", "endpoint", "user", "key", "account", "ip", "network", "agent")
PER = ("endpoint", "path", "account", "key")
FILTER_PATTERNS = ("path", "query", "request", "agent", "not_path", "not_agent")


@dataclass(frozen=True)
class RuleFilter:
    """Which requests a rule looks at (every condition given must hold)."""

    status: tuple[str, ...] = ()
    method: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    query: tuple[str, ...] = ()
    request: tuple[str, ...] = ()
    agent: tuple[str, ...] = ()
    not_path: tuple[str, ...] = ()
    not_agent: tuple[str, ...] = ()
    key: bool = False
    user: bool = False

    def describe(self) -> str:
        parts = []
        if self.status:
            parts.append("status " + "/".join(self.status))
        if self.method:
            parts.append("method " + "/".join(self.method))
        for name in FILTER_PATTERNS:
            values = getattr(self, name)
            if values:
                shown = ", ".join(f"`{v}`" for v in values)
                label = name.replace("not_", "not ")
                parts.append(f"{label} matching {shown}")
        if self.key:
            parts.append("with a key")
        if self.user:
            parts.append("with a user")
        return "; ".join(parts) or "every request"


@dataclass(frozen=True)
class Rule(Params):
    """A declared rule (see the module doc); the ``kind`` of its findings is its name."""

    name: str = ""
    description: str = ""
    source: str = ""
    group_by: tuple[str, ...] = ("ip",)
    distinct: str = ""
    per: str = ""
    window: str = "5m"
    slide: str = ""
    capacity: int = 1
    min_ratio: float = 0.0
    min_score: float = 0.0
    severity: str = "medium"
    high_at: float = 0.0
    critical_at: float = 0.0
    success_severity: str = ""
    filter: RuleFilter = field(default_factory=RuleFilter)

    def window_delta(self) -> timedelta:
        return parse_window(self.window, f"anomalies.{self.name}.window")

    def slide_delta(self) -> timedelta:
        if self.slide:
            return parse_window(self.slide, f"anomalies.{self.name}.slide")
        tenth = self.window_delta() / 10
        return max(timedelta(minutes=1), timedelta(minutes=tenth // timedelta(minutes=1)))

    def thresholds(self) -> str:
        """The rule's firing condition in words (for explanations and docs/detectors.md)."""
        what = f"distinct {self.distinct}s" if self.distinct else "requests"
        if self.per:
            what += f" of one {self.per}"
        text = f"≥ {self.capacity} {what} in {self.window}"
        if self.min_ratio:
            text += f", ≥ {self.min_ratio:g}× the usual"
        if self.min_score:
            text += f" and {self.min_score:g} Poisson SD above it"
        return text


# -- loading ------------------------------------------------------------------------------------


@cache
def pattern_sets() -> dict[str, tuple[str, ...]]:
    """The pattern sets of ``rules/patterns.toml`` by name."""
    data = tomllib.loads(PATTERN_SETS.read_text(encoding="utf-8"))
    return {name: tuple(table["patterns"]) for name, table in data.items()}


@cache
def pattern_set_info() -> dict[str, dict[str, Any]]:
    return dict(tomllib.loads(PATTERN_SETS.read_text(encoding="utf-8")))


def _regex_ok(pattern: str) -> bool:
    try:
        pl.Series([""]).str.contains(pattern)
    except Exception:
        return False
    return True


class StatusValue(str):
    """A status of a rule's filter: a code (``401``) or a class (``"4xx"``)."""

    shown_type: ClassVar[str] = 'status code or class ("4xx")'

    @classmethod
    def decode(cls, value: object) -> Self:
        text = str(value).lower()
        is_code = isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 999
        is_class = isinstance(value, str) and len(text) == 3 and text[0] in "12345"
        if not (is_code or (is_class and text[1:] == "xx")):
            raise ParameterError("", f'{value!r} is not a status code or a class like "4xx"')
        return cls(text)


class Pattern(str):
    """A regular expression of a rule's filter, or ``@NAME``: a pattern set."""

    shown_type: ClassVar[str] = "regular expression or @SET"

    @classmethod
    def decode(cls, value: object) -> Self:
        if not isinstance(value, str) or not value:
            raise TypeError("not a string")  # worded by the key: "a list of strings"
        if value.startswith("@"):
            if value[1:] not in pattern_sets():
                raise ParameterError(
                    "",
                    f"no pattern set {value!r}; known: "
                    + ", ".join("@" + name for name in pattern_sets()),
                )
        elif not _regex_ok(value):
            raise ParameterError("", f"{value!r} is not a regular expression")
        return cls(value)


def _expect(expected: str, **constraints: Any) -> msgspec.Meta:
    """How a wrong value of a key is worded: "must be EXPECTED, not ..." (for its items too)."""
    return msgspec.Meta(extra={"expected": expected}, **constraints)


_Strings = "a list of strings"
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
_Patterns = Annotated[list[Pattern], _expect(_Strings)]


class RuleFilterSpec(Spec, kw_only=True):
    """``filter = {...}`` of a rule (see :class:`RuleFilter`)."""

    what = "a rule filter"
    status: Annotated[
        list[StatusValue], _expect('a list of codes or classes such as "2xx"', min_length=1)
    ] = msgspec.field(default_factory=list)
    method: Annotated[list[_NonEmpty], _expect(_Strings)] = msgspec.field(default_factory=list)
    path: _Patterns = msgspec.field(default_factory=list)
    query: _Patterns = msgspec.field(default_factory=list)
    request: _Patterns = msgspec.field(default_factory=list)
    agent: _Patterns = msgspec.field(default_factory=list)
    not_path: _Patterns = msgspec.field(default_factory=list)
    not_agent: _Patterns = msgspec.field(default_factory=list)
    key: bool = False
    user: bool = False

    def checked(self) -> RuleFilter:
        return RuleFilter(
            **{name: tuple(getattr(self, name)) for name in FILTER_PATTERNS},
            status=tuple(self.status),
            method=tuple(self.method),
            key=self.key,
            user=self.user,
        )


_DEFAULTS = {f.name: f.default for f in fields(Rule) if f.default is not MISSING}
_Count = Annotated[float, _expect("a number, zero or more", ge=0)]
_Text = Annotated[str, _expect("a string")]


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ParameterError(key, f"must be one of {', '.join(c for c in choices if c)}")


class RuleSpec(Spec, kw_only=True):
    """The keys of ``[anomalies.NAME]`` for a rule (see the module doc); their defaults are
    :class:`Rule`'s."""

    what = "a rule"
    enabled: bool = _DEFAULTS["enabled"]
    description: _Text = _DEFAULTS["description"]
    source: _Text = _DEFAULTS["source"]
    group_by: Annotated[list[str], _expect(_Strings)] = msgspec.field(
        default_factory=lambda: list(_DEFAULTS["group_by"])
    )
    distinct: _Text = _DEFAULTS["distinct"]
    per: _Text = _DEFAULTS["per"]
    window: _Text = _DEFAULTS["window"]
    slide: _Text = _DEFAULTS["slide"]
    capacity: Annotated[int, _expect("a whole number, 1 or more", ge=1)] = _DEFAULTS["capacity"]
    min_ratio: _Count = _DEFAULTS["min_ratio"]
    min_score: _Count = _DEFAULTS["min_score"]
    severity: _Text = _DEFAULTS["severity"]
    high_at: _Count = _DEFAULTS["high_at"]
    critical_at: _Count = _DEFAULTS["critical_at"]
    success_severity: _Text = _DEFAULTS["success_severity"]
    filter: Annotated[
        RuleFilterSpec,
        msgspec.Meta(extra={"reason": "must be a table, e.g. { status = [401, 403] }"}),
    ] = msgspec.field(default_factory=RuleFilterSpec)

    def __post_init__(self) -> None:
        if not self.group_by or any(group not in GROUPS for group in self.group_by):
            raise ParameterError("group_by", f"must list entities among {', '.join(GROUPS)}")
        _one_of("distinct", self.distinct, ("", *DISTINCT))
        _one_of("per", self.per, ("", *PER))
        _one_of("severity", self.severity, SEVERITIES)
        _one_of("success_severity", self.success_severity, ("", *SEVERITIES))
        for name in ("window", "slide"):
            value = getattr(self, name)
            if value or name == "window":
                try:
                    parse_window(value, name)
                except MeterlogError:
                    raise ParameterError(name, "must be a duration such as 10m or 1h") from None


def check_rule_table(
    path: Path | None, name: str, table: object, *, new: bool
) -> dict[str, object]:
    """The checked values of ``[anomalies.NAME]`` for a rule (ConfigError naming the file and
    the key if a value is wrong); a ``new`` rule must give its filter, entity and capacity."""
    if not isinstance(table, dict):
        raise ConfigError(located(path, None, f"'anomalies.{name}' must be a table"))
    if new:
        missing = [k for k in ("description", "group_by", "capacity", "filter") if k not in table]
        if missing:
            raise ConfigError(
                located(
                    path,
                    None,
                    f"'anomalies.{name}' is not a built-in detector; to declare a rule give "
                    + ", ".join(f"'anomalies.{name}.{k}'" for k in missing),
                )
            )
    try:
        spec = read(table, RuleSpec)
    except ParameterError as error:
        message = config_message(error.within(f"anomalies.{name}"))
        raise ConfigError(located(path, None, message)) from None
    values: dict[str, object] = {}
    for key_name in table:
        value = getattr(spec, key_name)
        if isinstance(value, RuleFilterSpec):
            value = value.checked()
        values[key_name] = tuple(value) if isinstance(value, list) else value
    return values


@cache
def builtin_rules() -> dict[str, Rule]:
    """The rules of ``rules/builtin.toml`` by name, in file order."""
    data = tomllib.loads(BUILTIN_RULES.read_text(encoding="utf-8"))
    return {
        name: Rule(name=name, **check_rule_table(BUILTIN_RULES, name, table, new=True))  # type: ignore[arg-type]
        for name, table in data.items()
    }


def make_rule(name: str, values: Mapping[str, object]) -> Rule:
    """The built-in rule ``name`` with ``values`` applied, or a new rule of ``values``."""
    base = builtin_rules().get(name, Rule(name=name))
    return replace(base, **dict(values))  # type: ignore[arg-type]


# -- matching -----------------------------------------------------------------------------------


def _patterns(values: tuple[str, ...]) -> str:
    expanded: list[str] = []
    for value in values:
        expanded += pattern_sets()[value[1:]] if value.startswith("@") else [value]
    return "(?i)(" + "|".join(f"(?:{p})" for p in expanded) + ")"


def request_expr() -> pl.Expr:
    """The path with its query string (when the log format splits it off)."""
    return (
        pl.when(pl.col("query").is_not_null() & (pl.col("query") != ""))
        .then(pl.col("path") + "?" + pl.col("query"))
        .otherwise(pl.col("path"))
    )


def filter_expr(f: RuleFilter, names: list[str] | None = None) -> pl.Expr:
    """The rule filter as one boolean expression (nulls are false)."""
    conditions: list[pl.Expr] = []
    if f.status:
        codes = [int(s) for s in f.status if s.isdigit()]
        classes = [int(s[0]) for s in f.status if not s.isdigit()]
        status = pl.col("status")
        conditions.append(status.is_in(codes) | (status // 100).is_in(classes))
    if f.method:
        conditions.append(pl.col("method").str.to_uppercase().is_in([m.upper() for m in f.method]))
    columns = {
        "path": strip_query(pl.col("path")),
        "query": pl.col("query"),
        "request": request_expr(),
        "agent": pl.col("user_agent"),
    }
    for name in ("path", "query", "request", "agent"):
        values = getattr(f, name)
        if values:
            conditions.append(columns[name].str.contains(_patterns(values)))
        excluded = getattr(f, f"not_{name}", ())
        if excluded:
            conditions.append(~columns[name].str.contains(_patterns(excluded)).fill_null(False))
    if f.key:
        conditions.append(pl.col("key").is_not_null())
    if f.user:
        conditions.append(pl.col("user").is_not_null())
    if not conditions:
        return pl.lit(True)
    return pl.all_horizontal(conditions).fill_null(False)


def _value_expr(name: str) -> pl.Expr:
    if name == "path":
        return strip_query(pl.col("path"))
    if name == "request":
        return request_expr()
    if name == "endpoint":
        return automatic_endpoint(pl.col("path"))
    if name == "network":
        return network_expr(pl.col("ip"))
    if name == "agent":
        return pl.col("user_agent")
    return pl.col(name)


def entity_columns(group: str) -> list[pl.Expr]:
    """``entity_type`` and ``entity`` of a group-by."""
    if group == "client":
        return [
            pl.when(pl.col("user").is_not_null())
            .then(pl.lit("user"))
            .when(pl.col("key").is_not_null())
            .then(pl.lit("key"))
            .otherwise(pl.lit("ip"))
            .alias("entity_type"),
            pl.coalesce("user", "key", "ip").alias("entity"),
        ]
    return [pl.lit(group).alias("entity_type"), _value_expr(group).alias("entity")]


def _raise(severity: pl.Expr, to: str) -> pl.Expr:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    current = severity.replace_strict(rank, return_dtype=pl.Int32)
    return pl.when(current < rank[to]).then(pl.lit(to)).otherwise(severity)


@dataclass
class RuleDetector(DetectorBase):
    """A :class:`Rule` as a detector (its kind is the rule's name)."""

    kind: ClassVar[str] = "rule"
    params_type: ClassVar[type[Params]] = Rule
    entity_types: ClassVar[tuple[str, ...]] = GROUPS
    needs_history: ClassVar[bool] = False
    params: Rule = field(default_factory=Rule)

    def __post_init__(self) -> None:
        self.kind = self.params.name  # type: ignore[misc]

    def evidence_filter(self) -> pl.Expr:
        return filter_expr(self.params.filter)

    def explain(self, finding: Mapping[str, Any]) -> str:
        rule = self.params
        what = f"distinct {rule.distinct}s" if rule.distinct else "requests"
        if rule.per:
            what += f" of one {rule.per}"
        text = f"{rule.name}: {finding['observed']:g} {what} in one window ({rule.thresholds()}"
        if rule.min_ratio or rule.min_score:
            text += f"; usual {finding['expected']:g}"
        return text + ")"

    def matched(self, events: pl.LazyFrame) -> pl.LazyFrame:
        """The events the rule looks at."""
        return events.filter(filter_expr(self.params.filter))

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        rule = self.params
        window, slide = rule.window_delta(), rule.slide_delta()
        matched = self.matched(events)
        names = events.collect_schema().names()
        found = []
        for group in rule.group_by:
            value = _value_expr(rule.distinct).alias("value") if rule.distinct else pl.lit(None)
            per = _value_expr(rule.per).alias("per") if rule.per else pl.lit("").alias("per")
            rows = (
                matched.select(
                    *entity_columns(group),
                    "ts",
                    "account",
                    value.alias("value"),
                    per,
                    (pl.col("status") // 100 == 2).fill_null(False).alias("ok"),
                )
                .filter(pl.col("entity").is_not_null())
                .collect()
            )
            count = pl.col("value").drop_nulls().n_unique() if rule.distinct else pl.len()
            # only entities whose whole range reaches the capacity can have a window that does
            # (a cheap pass before the sliding windows)
            keys = ["entity_type", "entity", "per"]
            reach = rows.group_by(keys).agg(count.alias("n")).filter(pl.col("n") >= rule.capacity)
            rows = rows.join(reach.select(keys), on=keys, how="semi").sort(*keys, "ts")
            if rows.height == 0:
                continue
            windows = (
                rows.lazy()
                .group_by_dynamic(
                    "ts",
                    every=slide,
                    period=window,
                    group_by=["entity_type", "entity", "per"],
                    start_by="window",
                )
                .agg(
                    count.cast(pl.Float64).alias("observed"),
                    pl.col("ts").min().alias("first"),
                    pl.col("ts").max().alias("last"),
                    pl.col("ok").any().alias("ok"),
                    pl.col("account").drop_nulls().mode().min().alias("account"),
                )
                .filter(pl.col("observed") >= rule.capacity)
                .collect()
            )
            if windows.height == 0:
                continue
            if rule.min_ratio or rule.min_score:
                windows = self._judge_history(windows, baseline, ctx, group, names)
            else:
                windows = windows.with_columns(expected=pl.lit(0.0))
            found.append(windows.with_columns(end_w=pl.col("ts") + pl.lit(window)))
        if not found:
            return empty_findings()
        flagged = pl.concat(found, how="diagonal_relaxed").rename({"ts": "start"})
        flagged = flagged.with_columns(expected=pl.col("expected").fill_null(0.0))
        merged = merge_intervals(
            flagged.lazy().with_columns(end=pl.col("end_w")),
            ["entity_type", "entity"],
            [
                pl.col("first").min(),
                pl.col("last").max(),
                pl.col("observed").max(),
                pl.col("expected").max(),
                pl.col("ok").any(),
                pl.col("account").drop_nulls().mode().min(),
            ],
        ).collect()
        capacity = float(rule.capacity)
        severity = pl.lit(rule.severity)
        if rule.high_at:
            severity = (
                pl.when(pl.col("observed") >= rule.high_at * capacity)
                .then(_raise(severity, "high"))
                .otherwise(severity)
            )
        if rule.critical_at:
            severity = (
                pl.when(pl.col("observed") >= rule.critical_at * capacity)
                .then(pl.lit("critical"))
                .otherwise(severity)
            )
        if rule.success_severity:
            severity = (
                pl.when(pl.col("ok"))
                .then(_raise(severity, rule.success_severity))
                .otherwise(severity)
            )
        score = pl.col("observed") / pl.max_horizontal(pl.col("expected"), pl.lit(1.0))
        return finalize(
            merged.select(
                "entity_type",
                "entity",
                "account",
                pl.max_horizontal(pl.col("first"), pl.lit(ctx.start)).alias("start"),
                pl.min_horizontal(pl.col("last") + pl.duration(seconds=1), pl.lit(ctx.end)).alias(
                    "end"
                ),
                "observed",
                "expected",
                score.round(2).alias("score"),
                severity.alias("severity"),
            ),
            self.kind,
        )

    def _judge_history(
        self,
        windows: pl.DataFrame,
        baseline: pl.LazyFrame,
        ctx: Context,
        group: str,
        names: list[str],
    ) -> pl.DataFrame:
        """``windows`` that also stand out against each entity's baseline (with ``expected``)."""
        rule = self.params
        window = rule.window_delta()
        entities = windows.select("entity_type", "entity").unique()
        # the baseline in memory when it holds every column the rule reads, else the store's
        in_memory = baseline.collect_schema().names()
        needs = self._needs()
        source = baseline if needs <= set(in_memory) else ctx.full_baseline(baseline)
        # the candidates' rows first (cheap), then the rule's filter (regular expressions)
        wanted = entities.get_column("entity").implode()
        if group == "client":
            mine = (
                pl.col("user").is_in(wanted)
                | pl.col("key").is_in(wanted)
                | pl.col("ip").is_in(wanted)
            ).fill_null(False)
        else:
            mine = _value_expr(group).is_in(wanted).fill_null(False)
        # the cheap conditions first (statuses, ...), then the candidates, collected: the rule's
        # regular expressions then see only these rows
        f = rule.filter
        cheap = filter_expr(RuleFilter(status=f.status, method=f.method, key=f.key, user=f.user))
        if source is baseline:
            source = source.filter(cheap).collect().lazy()
        candidates_past = source.filter(mine).select(sorted(needs)).collect()
        past = (
            self.matched(candidates_past.lazy())
            .select(
                *entity_columns(group),
                "ts",
                *([_value_expr(rule.distinct).alias("value")] if rule.distinct else []),
            )
            .join(entities.lazy(), on=["entity_type", "entity"], how="semi")
        )
        if rule.distinct:
            usual = (
                past.group_by("entity_type", "entity", pl.col("ts").dt.truncate(window))
                .agg(pl.col("value").drop_nulls().n_unique().alias("n"))
                .group_by("entity_type", "entity")
                .agg(pl.col("n").max().cast(pl.Float64).alias("expected"))
            )
        else:
            # the usual count: the larger of the mean per window and the busiest window of a
            # typical (median) day, so a routine daily burst (a CI run) is usual
            per_window = max(ctx.baseline / window, 1.0)
            days = max(int(ctx.baseline / timedelta(days=1)), 1)
            busiest = (
                past.group_by("entity_type", "entity", pl.col("ts").dt.truncate(window))
                .agg(pl.len().alias("n"))
                .group_by("entity_type", "entity", pl.col("ts").dt.truncate("1d"))
                .agg(pl.col("n").max())
                .group_by("entity_type", "entity")
                .agg(
                    pl.col("n").sum().alias("total"),
                    pl.col("n").sort(descending=True).alias("days"),
                )
            )
            typical = pl.col("days").list.get(days // 2, null_on_oob=True).fill_null(0)
            mean = past.group_by("entity_type", "entity").agg((pl.len() / per_window).alias("mean"))
            usual = busiest.join(mean, on=["entity_type", "entity"], how="left").select(
                "entity_type",
                "entity",
                pl.max_horizontal(pl.col("mean").fill_null(0.0), typical.cast(pl.Float64)).alias(
                    "expected"
                ),
            )
        judged = windows.join(usual.collect(), on=["entity_type", "entity"], how="left")
        expected = pl.col("expected").fill_null(0.0)
        return judged.with_columns(expected=expected).filter(
            (pl.col("observed") >= rule.min_ratio * expected)
            & (pl.col("observed") >= expected + rule.min_score * expected.sqrt())
        )

    def _needs(self) -> set[str]:
        f = self.params.filter
        needed = {"ts", "status", "ip", "key", "user", "account"}
        distinct, per = self.params.distinct, self.params.per
        uses_path = ("path", "endpoint", "request")
        if f.path or f.not_path or f.request or distinct in uses_path or per in uses_path:
            needed.add("path")
        if f.request or f.query or distinct == "request":
            needed.add("query")
        if f.agent or f.not_agent or self.params.distinct == "agent":
            needed.add("user_agent")
        if f.method:
            needed.add("method")
        return needed


def rule_detectors(
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> dict[str, RuleDetector]:
    """The built-in rules with ``overrides`` applied, then the rules ``overrides`` declares."""
    overrides = overrides or {}
    names = list(builtin_rules()) + [n for n in overrides if n not in builtin_rules()]
    return {name: RuleDetector(params=make_rule(name, overrides.get(name, {}))) for name in names}
