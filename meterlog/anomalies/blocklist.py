"""Acting on findings: the attackers' addresses and networks as a blocklist.

* :func:`nginx_blocklist`: an nginx include, one ``deny ADDRESS;`` per address or network with
  the ids, kinds and severity of its findings as a comment; include it in a ``server`` or
  ``location`` block (with ``set_real_ip_from`` / ``real_ip_header`` when nginx sits behind a
  proxy, so the address denied is the client's).
* :func:`crowdsec_decisions`: the JSON that ``cscli decisions import -i FILE.json`` reads, one
  ``ban`` decision per address (scope ``ip``) or network (scope ``range``) for ``duration``,
  with the kind and finding id as the reason.

Only findings about an address or a network are listed (an account or a key is not an
address). Every value is checked to be an IPv4/IPv6 address or network first, so nothing read
from a log reaches the file but a well-formed address. The output is the same for the same
findings (sorted by address, no clock). An nginx file has no expiry: regenerate it (e.g. from
cron with the same range) and reload nginx, and an address drops off once its findings leave
the range judged; CrowdSec expires its decisions after ``duration``.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import polars as pl

from meterlog.anomalies.base import SEVERITIES

BLOCKLIST_FORMATS = ("nginx", "crowdsec")
BLOCKED_TYPES = ("ip", "network")


@dataclass(frozen=True)
class Blocked:
    """One address or network to block, with the findings that name it."""

    value: str
    scope: str  # "ip" or "range"
    severity: str
    findings: tuple[tuple[str, str], ...]  # (id, kind)
    start: str


def _normal(value: str) -> tuple[str, str] | None:
    """``(address or network, scope)`` in canonical form, or None when not one."""
    text = value.strip()
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            if network.num_addresses == 1:
                return str(network.network_address), "ip"
            return str(network), "range"
        return str(ipaddress.ip_address(text)), "ip"
    except ValueError:
        return None


def blocked(findings: pl.DataFrame) -> tuple[list[Blocked], list[str]]:
    """The addresses and networks of ``findings`` (already filtered by severity), and the
    entities that were left out because they are not an address."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    found: dict[tuple[str, str], list[dict]] = {}
    skipped: list[str] = []
    for row in findings.filter(pl.col("entity_type").is_in(BLOCKED_TYPES)).iter_rows(named=True):
        normal = _normal(str(row["entity"]))
        if normal is None:
            skipped.append(str(row["entity"]))
            continue
        found.setdefault(normal, []).append(row)
    out = []
    for (value, scope), rows in found.items():
        rows.sort(key=lambda r: (r["start"], r["id"]))
        out.append(
            Blocked(
                value=value,
                scope=scope,
                severity=max((r["severity"] for r in rows), key=lambda s: rank[s]),
                findings=tuple((r["id"], r["kind"]) for r in rows),
                start=rows[0]["start"].isoformat(),
            )
        )
    out.sort(key=lambda b: (ipaddress.ip_network(b.value, strict=False).version, b.value))
    return out, sorted(set(skipped))


def nginx_blocklist(findings: pl.DataFrame, *, title: str = "") -> str:
    """An nginx include with one ``deny`` per address or network (see the module doc)."""
    entries, _ = blocked(findings)
    lines = [
        "# nginx blocklist written by meterlog anomalies: one deny per attacker address or",
        "# network; include it in a server or location block and reload nginx.",
    ]
    if title:
        lines.append(f"# {title}")
    for entry in entries:
        ids = ", ".join(f"{kind} {finding_id}" for finding_id, kind in entry.findings)
        lines.append(f"deny {entry.value};  # {entry.severity}: {ids}")
    return "\n".join(lines) + "\n"


def go_duration(text: str) -> str:
    """A duration such as ``7d`` as CrowdSec reads it (Go: ``168h``); UsageError if not one."""
    from datetime import timedelta

    from meterlog.anomalies.windows import parse_window

    delta = parse_window(text, "--block-for")
    seconds = int(delta / timedelta(seconds=1))
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def crowdsec_decisions(findings: pl.DataFrame, *, duration: str = "24h") -> str:
    """The JSON of ``cscli decisions import`` (see the module doc); ``duration`` as for
    :func:`go_duration`."""
    duration = go_duration(duration)
    entries, _ = blocked(findings)
    decisions = [
        {
            "duration": duration,
            "reason": "meterlog "
            + ", ".join(f"{kind} {finding_id}" for finding_id, kind in entry.findings),
            "scope": entry.scope,
            "type": "ban",
            "value": entry.value,
        }
        for entry in entries
    ]
    return json.dumps(decisions, indent=1) + "\n"
