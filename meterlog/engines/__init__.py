"""Where the meters' states are computed: ``polars`` (meterlog's own, over the store),
``duckdb`` or ``spark`` (SQL generated from the meter definitions, :mod:`meterlog.engines.sql`).

An engine reads exactly the Parquet files of one store version (the Delta log lists them, so no
Delta connector is needed) and returns each meter's state; meterlog finalises the states and
prices the quantities itself, in Decimal, so the invoice is the same bytes whatever the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from meterlog.engines.sql import EVENTS_VIEW, Columns, Selection, column_kinds, state_query
from meterlog.errors import UsageError
from meterlog.meters import Meter, PeakMeter, Period
from meterlog.meters.peak import window_grid
from meterlog.periods import utc_days
from meterlog.query.identity import Identity
from meterlog.store import EVENTS_TABLE, Store

ENGINES = ("polars", "duckdb", "spark")
DEFAULT_SPARK_MASTER = "local[*]"


class Runner(Protocol):
    dialect: str

    def register(self, files: Sequence[str]) -> None:
        """Make :data:`EVENTS_VIEW` the events of ``files``."""

    def run(self, query: str) -> pl.DataFrame:
        """The rows ``query`` gives."""

    def close(self) -> None: ...


@dataclass
class SqlEngine:
    """Computes meter states with a SQL engine over one store version's Parquet files."""

    store: Store
    version: int
    runner: Runner
    #: The store's columns at ``version`` and what each holds.
    columns: Columns = field(init=False)
    _table: Any = field(init=False)
    _registered: tuple[str, ...] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        from deltalake import DeltaTable

        schema = self.store.scan_events(self.version).collect_schema()
        self.columns = column_kinds(dict(schema))
        self._table = DeltaTable(
            self.store.table_uri(EVENTS_TABLE),
            version=self.version,
            storage_options=self.store.storage_options,
        )

    def state(
        self,
        meter: Meter,
        period: Period,
        identity: Identity,
        selection: Selection | None = None,
    ) -> pl.LazyFrame:
        """``meter``'s state of ``period`` for the accounts ``selection`` names."""
        files = data_files(self._table, period)
        if not files:
            return meter.empty_state().lazy()
        if tuple(files) != self._registered:
            self.runner.register(files)
            self._registered = tuple(files)
        query = state_query(
            meter, period, identity, self.columns, selection, dialect=self.runner.dialect
        )
        rows = self.runner.run(query)
        if isinstance(meter, PeakMeter):
            return peak_state(meter, period, rows).lazy()
        return _typed(rows, meter.empty_state().schema).lazy()

    def close(self) -> None:
        self.runner.close()


def _typed(rows: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    return rows.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def peak_state(meter: PeakMeter, period: Period, rows: pl.DataFrame) -> pl.DataFrame:
    """The peak meter's state (``account, window_start, value``) from per-bucket rows
    (``account, bucket, value``): every window of the period's grid starts on a bucket
    boundary, so each bucket lies in one window."""
    empty = meter.empty_state()
    grid = window_grid(period, meter.window)
    starts = grid.get_column("window_start")
    bucket = pl.col("bucket").cast(starts.dtype)
    window = pl.lit(starts).search_sorted(bucket, side="right").cast(pl.Int64) - 1
    frame = (
        rows.lazy()
        .select(
            pl.col("account").cast(pl.String),
            pl.when(bucket.is_null()).then(None).otherwise(window).alias("window"),
            pl.col("value").cast(empty.schema["value"]),
        )
        .join(grid.lazy().select("window", "window_start"), on="window", how="left")
        .select(list(empty.schema))
    )
    # buckets of one window merge as the meter merges parts of a window (sums, distinct users)
    return meter.merge(frame, empty.lazy()).collect()


def data_files(table: Any, period: Period) -> list[str]:
    """The Parquet files of the events ``table`` (a ``DeltaTable`` at the version read) whose
    day partition the period touches (UTC days), sorted."""
    days = [day.isoformat() for day in utc_days(period.start, period.end)]
    return sorted(table.file_uris(file_pruning_predicate=[("day", "in", days)]))


class DuckDBRunner:
    dialect = "duckdb"

    def __init__(self) -> None:
        try:
            import duckdb
        except ImportError:
            raise UsageError(
                "--engine duckdb needs DuckDB, a dependency of meterlog: pip install duckdb"
            ) from None
        self.connection: Any = duckdb.connect()
        self.connection.execute("SET TimeZone = 'UTC'")

    def register(self, files: Sequence[str]) -> None:
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        self.connection.execute(
            f"CREATE OR REPLACE VIEW {EVENTS_VIEW} AS "
            f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
        )

    def run(self, query: str) -> pl.DataFrame:
        table = self.connection.sql(query).to_arrow_table()
        return _utc(pl.from_arrow(table))  # type: ignore[arg-type]

    def close(self) -> None:
        self.connection.close()


class SparkRunner:
    dialect = "spark"

    def __init__(self, master: str = DEFAULT_SPARK_MASTER) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise UsageError(
                "--engine spark needs PySpark and Java 17: pip install 'meterlog[spark]'"
            ) from None
        builder = SparkSession.builder.appName("meterlog")
        if master.startswith("sc://"):
            builder = builder.remote(master)
        else:
            builder = (
                builder.master(master)
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "8")
            )
        builder = builder.config("spark.sql.session.timeZone", "UTC")
        self.session: Any = builder.getOrCreate()
        if not master.startswith("sc://"):
            self.session.sparkContext.setLogLevel("ERROR")
        #: The events' schema (Spark DDL), so Spark reads no file footer to learn it.
        self.schema: str | None = None

    def register(self, files: Sequence[str]) -> None:
        reader = self.session.read
        if self.schema:
            reader = reader.schema(self.schema)
        else:
            reader = reader.option("mergeSchema", "true")
        reader.parquet(*files).createOrReplaceTempView(EVENTS_VIEW)

    def run(self, query: str) -> pl.DataFrame:
        return _utc(pl.from_arrow(self.session.sql(query).toArrow()))  # type: ignore[arg-type]

    def close(self) -> None:
        self.session.stop()


_SPARK_TYPES = {
    pl.String: "STRING",
    pl.Int8: "TINYINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INT",
    pl.Int64: "BIGINT",
    pl.UInt8: "SMALLINT",
    pl.UInt16: "INT",
    pl.UInt32: "BIGINT",
    pl.Float32: "FLOAT",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
}


def spark_schema(schema: pl.Schema) -> str | None:
    """The data files' schema as Spark DDL (None when a column has a type without a plain
    Spark equivalent: Spark then reads it from the files). The partition column is not in
    the files."""
    from meterlog.schema import PARTITION_COLUMN

    fields = []
    for name, dtype in schema.items():
        if name == PARTITION_COLUMN:
            continue
        spark: str | None = "TIMESTAMP"
        if not isinstance(dtype, pl.Datetime):
            spark = _SPARK_TYPES.get(dtype.base_type())
        if spark is None:
            return None
        fields.append(f"`{name.replace('`', '``')}` {spark}")
    return ", ".join(fields)


def _utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps as meterlog keeps them: microseconds, UTC."""
    return frame.with_columns(
        pl.col(name).dt.replace_time_zone(None).dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None
        else pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    )


def open_engine(
    name: str, store: Store, version: int, spark_master: str = DEFAULT_SPARK_MASTER
) -> SqlEngine | None:
    """The SQL engine ``name`` over ``store`` at ``version`` (None for ``polars``)."""
    if name == "polars":
        return None
    if name == "duckdb":
        return SqlEngine(store, version, DuckDBRunner())
    if name == "spark":
        runner = SparkRunner(spark_master)
        engine = SqlEngine(store, version, runner)
        runner.schema = spark_schema(store.scan_events(version).collect_schema())
        return engine
    raise UsageError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")


__all__ = [
    "DEFAULT_SPARK_MASTER",
    "ENGINES",
    "Selection",
    "SqlEngine",
    "data_files",
    "open_engine",
    "peak_state",
    "state_query",
]
