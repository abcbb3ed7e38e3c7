"""The detectors page (``docs/detectors.md``), generated from the rule files and the models'
parameters.

``make docs`` rewrites it (:mod:`meterlog.commands.reference`); a test checks that the file
matches, so the page cannot drift from the rules and parameters that ship.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import fields

from meterlog.anomalies.registry import DETECTOR_TYPES
from meterlog.anomalies.rules import Rule, builtin_rules, pattern_set_info

HEADER = """# Detectors

This page is generated from the built-in rule files and the models' parameters by `make docs`;
do not edit it by hand.
[Anomalies and rules](anomalies.md) explains how findings are judged and folded into incidents,
and how to tune any detector, turn it off or declare a rule of your own in `meterlog.toml`.
"""


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _rule_line(rule: Rule) -> str:
    severity = rule.severity
    if rule.high_at:
        severity += f"; high from {rule.high_at:g}× capacity"
    if rule.critical_at:
        severity += f"; critical from {rule.critical_at:g}×"
    if rule.success_severity:
        severity += f"; {rule.success_severity} when a matched request got a 2xx"
    history = "yes" if (rule.min_ratio or rule.min_score) else "no"
    cells = [
        f"`{rule.name}`",
        rule.description,
        rule.filter.describe(),
        ", ".join(rule.group_by) + (f" (per {rule.per})" if rule.per else ""),
        rule.thresholds(),
        history,
        severity,
    ]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _paragraph(text: str) -> str:
    """A docstring paragraph on one line, or a list with one line per item."""
    items: list[list[str]] = []
    for line in text.strip().splitlines():
        if line.startswith("* ") or not items:
            items.append([])
        items[-1].append(line.strip())
    return "\n".join(" ".join(" ".join(item).split()) for item in items)


def _code(pattern: str) -> str:
    return f"`` {pattern} ``" if "`" in pattern else f"`{pattern}`"


def _model_text(kind: str) -> str:
    module = importlib.import_module(f"meterlog.anomalies.{kind}")
    doc = (module.__doc__ or "").strip()
    doc = doc.replace("``", "`")
    doc = re.sub(r":(?:mod|func|data|class):`~?([^`]+)`", r"`\1`", doc)
    # the first line names the kind: "`spike`: what it finds"
    head, _, rest = doc.partition("\n")
    head = re.sub(rf"^`{kind}`:\s*", "", head)
    paragraphs = [_paragraph(p) for p in (head + "\n" + rest).split("\n\n")]
    params = [
        f"`{f.name}` ({_shown(f.default)})"
        for f in fields(DETECTOR_TYPES[kind].params_type)
        if f.name != "enabled"
    ]
    text = f"**`{kind}`** — " + "\n\n".join(p for p in paragraphs if p)
    return text + "\n\nParameters (defaults): " + ", ".join(params) + "."


def detector_page() -> str:
    """The whole page as Markdown."""
    lines = [
        HEADER,
        "## Rules",
        "",
        "Declared in `meterlog/anomalies/rules/builtin.toml`, most specific first (an incident",
        "is named by the first of its rules). History: whether the count must also stand out",
        "against the entity's own baseline (`min_ratio`, `min_score`).",
        "",
        "| rule | finds | looks at | entity | fires at | history | severity |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [_rule_line(rule) for rule in builtin_rules().values()]
    lines += ["", "Sources the rules follow (read as references; nothing is copied):", ""]
    lines += [f"* `{rule.name}`: {rule.source}" for rule in builtin_rules().values()]
    lines += ["", "## Pattern sets", ""]
    lines.append(
        "Named with `@SET` in a filter (`meterlog/anomalies/rules/patterns.toml`); "
        "case-insensitive regular expressions."
    )
    lines.append("")
    for name, info in pattern_set_info().items():
        patterns = " ".join(_code(p) for p in info["patterns"])
        lines.append(f"* `@{name}`: {info['description']} (after {info['source']}): {patterns}")
    lines += ["", "## Models", ""]
    for kind in DETECTOR_TYPES:
        lines += [_model_text(kind), ""]
    return "\n".join(lines).rstrip() + "\n"
