"""One incident per event: findings about the same attacker and time folded into one.

Detectors judge independently, so one event can raise several findings: a scanner's address
raises ``attack_tool``, ``sensitive_paths`` and ``probing``; a scraping run also raises the
account's ``spike``; an address's burst of failed logins also raises its network's and its
account's ``auth_failures``. :func:`correlate` folds them into one incident, named by the most
specific finding (the first in :data:`SPECIFICITY`), with the others listed in ``signals``:

* findings of rules about the **same entity** whose times overlap or lie less than an hour
  apart are one incident;
* a finding about an **aggregate** (an account, or a network) is folded into an overlapping
  finding of a rule about a narrower entity (an address, user, key or client of that account,
  an address in that network) that holds at least half of its requests (for ``spike``: half
  of its excess over the expected requests);
* ``drop``, ``error_surge`` and ``key_sharing`` describe something else than an attacker's
  requests and are never folded into an attacker's finding.

The incident keeps the id, kind and entity of its named finding; its severity is the highest
of its signals and its time spans the findings about its entity (from its first to its last
request).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from itertools import pairwise

import polars as pl

from meterlog.anomalies.base import SEVERITIES, network_expr

#: Models never folded into another finding (they are not about an attacker's requests).
STANDALONE = ("drop", "error_surge", "key_sharing")
#: Findings of rules about the same entity this close in time are one incident.
SAME_ENTITY_GAP = timedelta(hours=1)
#: Entity types narrower than an account.
NARROW = ("ip", "user", "key", "network")


def _specificity(kinds: Sequence[str]) -> dict[str, int]:
    return {kind: i for i, kind in enumerate(kinds)}


def correlate(
    findings: pl.DataFrame,
    requests: pl.DataFrame,
    order: Sequence[str],
    rule_kinds: Sequence[str],
) -> pl.DataFrame:
    """``findings`` (with ``id``) folded into incidents, with ``signals`` (``kind id`` of the
    folded findings, comma-separated; empty when none). ``requests`` holds ``id`` and
    ``requests`` (each finding's evidence requests); ``order`` ranks kinds, most specific
    first; ``rule_kinds`` are the kinds of rules."""
    if findings.height < 2:
        return findings.with_columns(signals=pl.lit("", pl.String))
    rank = _specificity(order)
    rows = findings.join(requests, on="id", how="left").with_columns(
        pl.col("requests").fill_null(0)
    )
    rows = rows.with_columns(
        network_of=pl.when(pl.col("entity_type") == "ip")
        .then(network_expr(pl.col("entity")))
        .otherwise(pl.lit(None, pl.String))
    )
    items = rows.to_dicts()
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[b] = a

    def overlap(a: dict, b: dict) -> bool:
        return bool(a["start"] < b["end"] and b["start"] < a["end"])

    rules = set(rule_kinds)
    # rule findings about one entity, in time order: each joins the previous ones' incident
    # when it starts less than SAME_ENTITY_GAP after their end (a sweep, not all pairs)
    by_entity: dict[tuple[str, str], list[int]] = {}
    for i, item in enumerate(items):
        if item["kind"] in rules:
            by_entity.setdefault((item["entity_type"], item["entity"]), []).append(i)
    for members in by_entity.values():
        members.sort(key=lambda m: items[m]["start"])
        reach = items[members[0]]["end"]
        for previous, current in pairwise(members):
            if items[current]["start"] < reach + SAME_ENTITY_GAP:
                union(previous, current)
                reach = max(reach, items[current]["end"])
            else:
                reach = items[current]["end"]
    # narrower rule findings by the account they belong to and by the network of an address
    by_account: dict[str, list[int]] = {}
    by_network: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        if item["kind"] not in rules:
            continue
        if item["entity_type"] in NARROW and item["account"] is not None:
            by_account.setdefault(item["account"], []).append(n)
        if item["network_of"] is not None:
            by_network.setdefault(item["network_of"], []).append(n)
    # an aggregate finding goes to the one narrower finding holding most of its requests (so
    # two attackers at the same time stay two incidents)
    for w, wide in enumerate(items):
        if wide["kind"] in STANDALONE or wide["entity_type"] not in ("account", "network"):
            continue
        need = wide["requests"]
        if wide["kind"] == "spike":
            need = max(wide["observed"] - wide["expected"], 0.0)
        index = by_account if wide["entity_type"] == "account" else by_network
        best: int | None = None
        for n in index.get(wide["entity"], []):
            narrow = items[n]
            if n == w or not overlap(wide, narrow):
                continue
            if narrow["requests"] > 0.5 * need and (
                best is None or narrow["requests"] > items[best]["requests"]
            ):
                best = n
        if best is not None:
            union(best, w)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(find(i), []).append(i)
    severity_rank = {s: n for n, s in enumerate(SEVERITIES)}
    kept = []
    for members in groups.values():
        named = min(
            members,
            key=lambda m: (
                rank.get(items[m]["kind"], len(rank)),
                NARROW.index(items[m]["entity_type"])
                if items[m]["entity_type"] in NARROW
                else len(NARROW),
                items[m]["start"],
                items[m]["id"],
            ),
        )
        row = dict(items[named])
        others = sorted(
            (m for m in members if m != named),
            key=lambda m: (items[m]["start"], items[m]["kind"], items[m]["id"]),
        )
        # the incident's time is its attacker's: the named entity's findings, not the wider
        # account's or network's hours
        own = [
            m
            for m in members
            if (items[m]["entity_type"], items[m]["entity"])
            == (items[named]["entity_type"], items[named]["entity"])
        ]
        row["start"] = min(items[m]["start"] for m in own)
        row["end"] = max(items[m]["end"] for m in own)
        row["severity"] = max(
            (items[m]["severity"] for m in members), key=lambda s: severity_rank[s]
        )
        row["signals"] = ", ".join(
            f"{items[m]['kind']} {items[m]['entity_type']} {items[m]['entity']} {items[m]['id']}"
            for m in others
        )
        kept.append(row)
    out = pl.DataFrame(
        kept,
        schema={
            **findings.schema,
            "requests": pl.Int64,
            "network_of": pl.String,
            "signals": pl.String,
        },
    )
    return out.select(*findings.columns, "signals")
