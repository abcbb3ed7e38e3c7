"""Plan and config files read into msgspec specs: one-line errors naming the file and key, the
accepted forms of amounts, [anomalies] checked by the anomalies package, and the key tables in
docs/ generated from the specs."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from meterlog.anomalies.base import Params
from meterlog.anomalies.registry import build_detectors, params_spec
from meterlog.billing.plans import AccountSpec, ChargeSpec, PlanFileSpec, PlanSpec, load_plan_file
from meterlog.config import BotsSpec, ConfigSpec, EndpointsSpec, JsonSpec, Section, load_config
from meterlog.errors import ConfigError
from meterlog.meters import METERS
from meterlog.pricing import PRICING_MODELS, pricing_from_params
from meterlog.pricing.tiers import TierSpec
from meterlog.validation import ParameterError

ROOT = Path(__file__).resolve().parent.parent


def config_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "meterlog.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 'red'\n", "unknown key 'colour'; known keys: account_field, accounts, "),
        ("[json]\ncolour = 'red'\n", "unknown key 'json.colour'; known keys: fields, preset, tz"),
        ("[endpoints]\nroute = ['/v1']\n", "unknown key 'endpoints.route'; known keys: openapi, "),
        ("store = 3\n", "key 'store' must be a non-empty string, not integer 3"),
        ("tz = ' '\n", "key 'tz' must be a non-empty string, not string ' '"),
        ("engine = 'spork'\n", "key 'engine' must be one of polars, duckdb, spark"),
        ("[endpoints]\nroutes = '/v1'\n", "key 'endpoints.routes' must be a list of strings"),
        ("[bots]\npatterns = ['bot', '']\n", "key 'bots.patterns' must be a list of strings"),
        ("[json.fields]\nuser = 3\n", "key 'json.fields' must be a table of COLUMN = \"KEY\""),
        ("endpoints = 'x'\n", "key 'endpoints' must be a table, not string 'x'"),
        ("anomalies = 3\n", "key 'anomalies' must be a table of [anomalies.KIND]"),
    ],
)
def test_config_mistakes_are_one_line_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    assert config_error(tmp_path, text).startswith(message)


def test_config_values_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "meterlog.toml"
    path.write_text(
        'store = "data"\nlog_format = "$remote_addr [$time_local] "\nengine = "duckdb"\n'
        '[json]\nfields = { user = "sub" }\n[bots]\npatterns = []\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.store == str(tmp_path / "data")
    assert config.log_format == "$remote_addr [$time_local] "  # verbatim, blanks kept
    assert (config.engine, config.json_fields, config.bot_patterns) == (
        "duckdb",
        {"user": "sub"},
        (),
    )
    assert (config.routes, config.openapi, config.tz) == ((), None, None)


def test_the_config_file_does_not_load_the_anomalies_package(tmp_path: Path) -> None:
    """meterlog.config is a ground module: [anomalies] is kept as data with its file, and the
    anomalies package checks it where the detectors are built."""
    path = tmp_path / "meterlog.toml"
    path.write_text("[anomalies.spike]\nmin_ratio = 4\n", encoding="utf-8")
    code = (
        "import sys; from meterlog.config import load_config; "
        f"config = load_config({str(path)!r}); "
        "print(dict(config.anomalies), config.anomalies.path, "
        "any(m.startswith('meterlog.anomalies') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["{'spike':", "{'min_ratio':", "4}}", str(path), "False"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[anomalies.spike]\nmin_ratioo = 4\n",
            "unknown key 'anomalies.spike.min_ratioo'; known keys: critical_ratio, enabled, "
            "high_ratio, max_p, min_excess, min_history_weeks, min_ratio, min_score",
        ),
        (
            "[anomalies.spike]\nmin_ratio = 'x'\n",
            "key 'anomalies.spike.min_ratio' must be a number",
        ),
        ("[anomalies.drop]\nmin_hours = 2.5\n", "key 'anomalies.drop.min_hours' must be a whole"),
        ("[anomalies.drop]\nmin_fall = -1\n", "key 'anomalies.drop.min_fall' must be at least 0"),
        ("[anomalies.spike]\nenabled = 1\n", "key 'anomalies.spike.enabled' must be true or false"),
        (
            "[anomalies.key_sharing]\nwindow = 'soon'\n",
            "key 'anomalies.key_sharing.window' must be a duration such as 10m or 1h",
        ),
        ("[anomalies.spike]\n[anomalies.x-y]\n", "'anomalies.x-y': name a rule with letters"),
        (
            "[anomalies.probing]\nfilter = { colour = 1 }\n",
            "unknown key 'anomalies.probing.filter.colour'; known keys: agent, key, method, "
            "not_agent, not_path, path, query, request, status, user",
        ),
        (
            "[anomalies.probing]\nfilter = { path = [3] }\n",
            "key 'anomalies.probing.filter.path' must be a list of strings, not list",
        ),
        (
            "[anomalies.probing]\nfilter = { status = ['9xx'] }\n",
            "key 'anomalies.probing.filter.status[0]': '9xx' is not a status code or a class",
        ),
        (
            "[anomalies.probing]\nseverity = 'huge'\n",
            "key 'anomalies.probing.severity' must be one",
        ),
        ("[anomalies.probing]\ncapacity = 0\n", "key 'anomalies.probing.capacity' must be a whole"),
    ],
)
def test_detector_parameter_mistakes_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "meterlog.toml"
    path.write_text(text, encoding="utf-8")
    overrides = load_config(path).anomalies
    with pytest.raises(ConfigError) as caught:
        build_detectors(overrides)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert "\n" not in str(caught.value)


def test_watch_refuses_a_wrong_anomalies_table_when_it_starts(tmp_path: Path) -> None:
    from meterlog.anomalies.live import LiveAnomalies

    wrong = Section({"spike": {"min_ratio": "x"}}, tmp_path / "meterlog.toml")
    with pytest.raises(ConfigError, match=r"meterlog\.toml: key 'anomalies\.spike\.min_ratio'"):
        LiveAnomalies(None, wrong)  # type: ignore[arg-type]


def test_detector_parameters_keep_their_types(tmp_path: Path) -> None:
    from meterlog.anomalies.rules import RuleFilter

    path = tmp_path / "meterlog.toml"
    path.write_text(
        "[anomalies.spike]\nmin_ratio = 4\nmin_history_weeks = 3\n"
        "[anomalies.key_sharing]\nwindow = '30m'\n[anomalies.drop]\nenabled = false\n"
        "[anomalies.probing]\ncapacity = 5\nmin_ratio = 2\n"
        "filter = { status = [404, '5XX'], path = ['@mass_scanners'], method = ['GET'] }\n",
        encoding="utf-8",
    )
    detectors = {d.kind: d for d in build_detectors(load_config(path).anomalies)}
    probing = detectors["probing"].params
    assert (probing.capacity, probing.min_ratio, probing.group_by) == (5, 2.0, ("ip",))
    assert probing.filter == RuleFilter(
        status=("404", "5xx"), method=("GET",), path=("@mass_scanners",)
    )
    spike = detectors["spike"].params
    assert (spike.min_ratio, type(spike.min_ratio), spike.min_history_weeks) == (4.0, float, 3)
    assert spike.min_score == 6.0  # the default of the parameter's declaration
    assert detectors["key_sharing"].params.window == "30m"
    assert "drop" not in detectors


def test_optional_parameters_are_read_by_their_declared_type() -> None:
    """A parameter declared ``int | None`` is a whole number (the registry used to read the
    annotation's text and took it for a list)."""

    @dataclass(frozen=True)
    class LimitParams(Params):
        limit: int | None = None
        names: tuple[str, ...] = ()

    spec = params_spec(LimitParams)
    assert msgspec.convert({"limit": 5, "names": ["a"]}, spec).limit == 5
    assert msgspec.convert({}, spec).limit is None
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"limit": "5"}, spec)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, 'unit_price: must be a decimal string such as "0.50", not integer 5'),
        ("1e3", "unit_price: must be a decimal such as \"0.50\", got '1e3'"),
        ("NaN", "unit_price: must be a decimal such as \"0.50\", got 'NaN'"),
        (True, 'unit_price: must be a decimal string such as "0.50", not boolean True'),
        ("-0", "unit_price: must not be negative, got '-0'"),
    ],
)
def test_amounts_are_decimal_strings_only(value: object, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        pricing_from_params("per_unit", {"unit_price": value})
    assert str(caught.value) == message


def test_amounts_are_exact_decimals() -> None:
    model = pricing_from_params("per_unit", {"unit_price": " 0.10 "})
    assert type(model.unit_price) is Decimal  # type: ignore[attr-defined]
    assert model.unit_price == Decimal("0.10")  # type: ignore[attr-defined]
    assert str(model.price(3).amount) == "0.30"


def test_a_charge_names_its_missing_kind(tmp_path: Path) -> None:
    path = tmp_path / "plans.toml"
    text = 'default_plan = "x"\ncurrency = "EUR"\n[[plans.x.charges]]\n{}unit_price = "1"\n'
    for given, missing in (('pricing = "per_unit"\n', "meter"), ('meter = "mau"\n', "pricing")):
        path.write_text(text.format(given), encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_plan_file(path)
        assert str(caught.value) == f"{path}: plans.x.charges[0].{missing}: is required"


SPECS = [
    PlanFileSpec,
    AccountSpec,
    PlanSpec,
    ChargeSpec,
    TierSpec,
    *(meter.spec for meter in METERS.values()),
    *(model.spec for model in PRICING_MODELS.values()),
    ConfigSpec,
    EndpointsSpec,
    BotsSpec,
    JsonSpec,
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.__name__)
def test_every_key_is_described(spec: type[msgspec.Struct]) -> None:
    from meterlog.validation import key_rows

    rows = key_rows(spec)[2:]
    assert rows
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 4 and all(cells), row
