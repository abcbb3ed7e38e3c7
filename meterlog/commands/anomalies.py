"""``meterlog anomalies``: unusual usage and security patterns, each account against its past."""

from __future__ import annotations

import re
import shutil
from typing import Any

import click

from meterlog.commands.options import (
    LibraryChoice,
    config_option,
    identity_options,
    note,
    output_options,
    store_option,
    warn,
    writes_to_terminal,
)

#: Severities, lowest first (as :data:`meterlog.anomalies.base.SEVERITIES`; a test keeps them
#: equal, so ``--help`` needs no Polars).
SEVERITIES = ("low", "medium", "high", "critical")


#: Below this terminal width the table shows only what identifies each finding.
WIDE_TABLE = 120


def table_view(findings: Any, width: int = 160) -> Any:
    """Findings for people: the entity with its type and no evidence column (CSV, JSON and
    ``--explain`` have it); on a terminal narrower than :data:`WIDE_TABLE`, only id, kind,
    severity, entity and a short time span, ``10-27T18:00–18:07`` (the title names the zone
    and the range)."""
    import polars as pl

    entity = pl.concat_str("entity_type", pl.lit(" "), "entity").alias("entity")
    if width >= WIDE_TABLE:
        return findings.select(
            "id", "kind", "severity", entity, "account", "start", "end", "observed", "expected",
            "score",
        )  # fmt: skip
    same_day = pl.col("start").dt.date() == pl.col("end").dt.date()
    # without spaces, so a span is not wrapped inside
    when = (
        pl.col("start").dt.to_string("%m-%dT%H:%M")
        + pl.lit("–")
        + pl.when(same_day)
        .then(pl.col("end").dt.to_string("%H:%M"))
        .otherwise(pl.col("end").dt.to_string("%m-%dT%H:%M"))
    )
    return findings.select("id", "kind", "severity", "entity", when.alias("when"))


@click.command("anomalies")
@click.option(
    "--since",
    metavar="DATE|TIME",
    help="First instant judged, e.g. 2026-10-01 (in --tz). Default: 24 hours before --until.",
)
@click.option(
    "--until",
    metavar="DATE|TIME",
    help="End: a date includes that whole day; a timestamp is exclusive. "
    "Default: the start of the current hour.",
)
@click.option(
    "--baseline",
    default="28d",
    show_default=True,
    metavar="DURATION",
    help="History each entity is judged against: the time before --since (e.g. 28d, 6w).",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=LibraryChoice("meterlog.anomalies.registry:KINDS", "KIND"),
    help="Only this detector (repeatable): a model (spike, drop, key_sharing, error_surge) or a "
    "rule (auth_failures, probing, scraping, injection, ...; see docs/detectors.md).",
)
@click.option("--account", "accounts", multiple=True, help="Only findings of this account.")
@click.option(
    "--min-severity",
    type=click.Choice(SEVERITIES),
    default="low",
    show_default=True,
    help="Leave out findings below this severity.",
)
@click.option(
    "--explain",
    "explain_id",
    metavar="ID",
    default=None,
    help="Write the requests behind finding ID (with their source and line) instead of the "
    "findings; give the same range options.",
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default=None,
    help="Exit 3 when a finding of this severity or above is present (for cron and CI).",
)
@click.option(
    "--blocklist",
    type=click.Choice(("nginx", "crowdsec")),
    default=None,
    help="Write the attackers' addresses and networks at or above --min-severity instead of "
    "the findings: an nginx include of 'deny ADDR;' lines (ids as comments), or the JSON of "
    "'cscli decisions import'.",
)
@click.option(
    "--block-for",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="How long CrowdSec keeps each --blocklist crowdsec decision (e.g. 4h, 7d).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing when there is nothing to report.")
@identity_options
@output_options
@store_option
@config_option
def command(
    since: str | None,
    until: str | None,
    baseline: str,
    kinds: tuple[str, ...],
    accounts: tuple[str, ...],
    min_severity: str,
    explain_id: str | None,
    fail_on: str | None,
    blocklist: str | None,
    block_for: str,
    quiet: bool,
    tz: str | None,
    user_field: str | None,
    account_field: str | None,
    accounts_file: str | None,
    fmt: str | None,
    output: str | None,
    store: str | None,
    config_path: str | None,
) -> None:
    """Unusual usage and security patterns, each entity judged against its own history.

    Detectors (listed in docs/detectors.md; tune them, turn them off or add rules in meterlog.toml
    under [anomalies.KIND]): models (spike, drop, key_sharing, error_surge) and declared
    rules (auth_failures, probing, scraping, injection, attack_tool, sensitive_paths, ...).
    Findings about one event are one incident, its other findings listed in signals.
    Columns: id, kind, severity, entity_type, entity, account, start, end, observed,
    expected, score, evidence, signals (tables leave evidence and signals out: use --format
    csv or --explain ID). The same store version and options give the same findings and ids.

    \b
    Examples:
        meterlog anomalies --account-field http_x_api_key --accounts accounts.csv
        meterlog anomalies --since 2026-10-01 --until 2026-10-07 --kind spike --kind drop
        meterlog anomalies -q --fail-on high --format csv -o findings.csv   # cron
        meterlog anomalies --since 2026-10-01 --until 2026-10-07 --explain 3f2a9c01b7de
        meterlog anomalies --blocklist nginx --min-severity high -o /etc/nginx/deny.conf
    """
    from meterlog.anomalies.runner import AnomalyQuery, explained_finding, run_anomalies
    from meterlog.config import load_config
    from meterlog.output import resolve_output_format, write_report
    from meterlog.query.settings import resolve_settings

    config = load_config(config_path)
    settings = resolve_settings(
        config,
        store=store,
        tz=tz,
        user_field=user_field,
        account_field=account_field,
        accounts=accounts_file,
    )
    query = AnomalyQuery(
        since=since,
        until=until,
        baseline=baseline,
        kinds=kinds,
        accounts=accounts,
        min_severity=min_severity,
    )
    to_stdout = output is None or output == "-"
    if blocklist is not None and explain_id is not None:
        raise click.UsageError("give either --blocklist or --explain, not both")
    if blocklist is None:
        fmt = resolve_output_format(fmt, None if to_stdout else output, writes_to_terminal(output))
    if explain_id is not None:
        rows, finding = explained_finding(settings, query, explain_id, config.anomalies)
        rows = rows.with_columns(rows["ts"].dt.convert_time_zone(settings.tz_name))
        why = re.split(r"; [0-9]+ requests", str(finding["evidence"]), maxsplit=1)[0]
        if not quiet:
            note(f"finding {explain_id}: {why}")
            if finding["signals"]:
                note(f"its signals: {finding['signals']}")
        write_report(rows, fmt, output, title=f"Evidence of finding {explain_id}: {why}")
        return
    if blocklist == "crowdsec":
        from meterlog.anomalies.blocklist import go_duration

        go_duration(block_for)  # a bad duration is a usage error before any work
    report = run_anomalies(settings, query, config.anomalies)
    findings = report.findings
    if blocklist is not None:
        _write_blocklist(findings, blocklist, block_for, output, report, settings.tz_name)
        _exit_on(fail_on, findings)
        return
    if not quiet:
        for warning in report.warnings:
            warn(warning)
    if findings.height or not quiet:
        local = findings.with_columns(
            findings[name].dt.convert_time_zone(settings.tz_name) for name in ("start", "end")
        )
        ctx = report.context
        span = (
            f"{ctx.start.astimezone(settings.tz).isoformat()} to "
            f"{ctx.end.astimezone(settings.tz).isoformat()}"
        )
        if fmt == "table":
            width = shutil.get_terminal_size((160, 24)).columns if to_stdout else 160
            local = table_view(local, width)
        write_report(local, fmt, output, title=f"Anomalies ({settings.tz_name}, {span})")
        if not findings.height:
            note(f"no findings from {span}, judged against the {baseline} before")
        for text in report.notes:
            note(text)
    _exit_on(fail_on, findings)


def _exit_on(fail_on: str | None, findings: Any) -> None:
    """Exit 3 when ``findings`` hold one at ``fail_on`` or above."""
    from meterlog.anomalies.runner import severity_rank
    from meterlog.errors import ExitStatus

    if fail_on is not None and findings.height:
        worst = max(severity_rank(s) for s in findings["severity"].unique())
        if worst >= severity_rank(fail_on):
            click.get_current_context().exit(ExitStatus.FINDINGS)


def _write_blocklist(
    findings: Any, fmt: str, block_for: str, output: str | None, report: Any, tz_name: str
) -> None:
    """The blocklist of ``findings`` to ``output`` (replaced whole) or stdout."""
    import os
    import tempfile
    from pathlib import Path

    from meterlog.anomalies.blocklist import blocked, crowdsec_decisions, nginx_blocklist

    ctx = report.context
    span = f"findings from {ctx.start.isoformat()} to {ctx.end.isoformat()}"
    if fmt == "nginx":
        text = nginx_blocklist(findings, title=span)
    else:
        text = crowdsec_decisions(findings, duration=block_for)
    _, skipped = blocked(findings)
    for value in skipped:
        warn(f"finding entity {value!r} is not an IP address or network: left out of the blocklist")
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    target = Path(output)
    handle, temporary = tempfile.mkstemp(dir=target.parent or Path("."), prefix=".blocklist-")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
