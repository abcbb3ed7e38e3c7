"""A newcomer's first hour: the commands that used to end in a traceback or say the wrong
thing on ordinary input, run on real stores built from generated logs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.support import cli
from tests.support.anomalies import at, hourly, ingest

IDENTITY = ("--account-field", "http_x_api_key")


@pytest.fixture(scope="module")
def three_weeks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with three weeks of steady traffic from 2026-10-01 (about 2,000 requests)."""
    folder = tmp_path_factory.mktemp("three-weeks")
    return ingest(folder, hourly(at(2026, 10, 1), 21 * 24, 4, seed=7, key="acme"))


def test_a_baseline_shorter_than_a_week_says_which_detectors_cannot_judge(
    three_weeks: Path,
) -> None:
    result = cli(
        "anomalies", "--store", str(three_weeks), *IDENTITY, "-f", "csv",
        "--since", "2026-10-20", "--until", "2026-10-20", "--baseline", "3d",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("id,kind,severity")
    assert "spike, drop could not judge" in result.stderr
    assert "--baseline 3d holds 0; give --baseline 14d or longer" in result.stderr


def test_a_range_without_requests_says_so_and_names_the_detectors_without_history(
    three_weeks: Path,
) -> None:
    result = cli(
        "anomalies", "--store", str(three_weeks), *IDENTITY, "-f", "csv",
        "--since", "2025-10-20", "--until", "2025-10-20",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "no requests from 2025-10-20T00:00:00+00:00 to 2025-10-21T00:00:00+00:00" in (
        result.stderr
    )
    assert "the store holds requests from 2026-10-01T" in result.stderr
    assert "spike, drop could not judge: no history" in result.stderr


def test_the_first_days_of_a_store_have_too_little_history(three_weeks: Path) -> None:
    result = cli(
        "anomalies", "--store", str(three_weeks), *IDENTITY, "-f", "csv",
        "--since", "2026-10-05", "--until", "2026-10-05",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "no requests from" not in result.stderr
    assert "spike, drop could not judge: the history begins at 2026-10-01T" in result.stderr


def test_quiet_anomalies_print_no_notes(three_weeks: Path) -> None:
    result = cli(
        "anomalies", "--store", str(three_weeks), *IDENTITY, "-q",
        "--since", "2025-10-20", "--until", "2025-10-20",
    )  # fmt: skip
    assert result.exit_code == 0
    assert result.stderr == result.stdout == ""


PRORATED_PLANS = """
default_plan = "pro"
currency = "EUR"

[accounts]
acme = { plan = "pro", start = 2026-10-15 }
globex = { plan = "pro", start = 2026-10-15 }

[plans.pro]
[[plans.pro.charges]]
name = "requests"
meter = "count"
pricing = "per_unit"
unit_price = "1.00"
minimum = "8.00"
maximum = "9.00"
"""


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_a_prorated_minimum_or_maximum_is_shown_as_money(tmp_path: Path, fmt: str) -> None:
    from tests.support.billing import build_store

    # acme: 20 requests, capped at 9.00 x 17/31; globex: 1 request, raised to 8.00 x 17/31
    rows = [{"ts": f"2026-10-20T12:00:{n:02d}", "http_x_api_key": "acme"} for n in range(20)]
    rows.append({"ts": "2026-10-21T12:00:00", "http_x_api_key": "globex"})
    build_store(tmp_path / "store", rows)
    (tmp_path / "plans.toml").write_text(PRORATED_PLANS, encoding="utf-8")
    result = cli(
        "bill", "--period", "2026-10", "--plan", str(tmp_path / "plans.toml"),
        "--store", str(tmp_path / "store"), "--account-field", "http_x_api_key", "-f", fmt,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    # 9.00 x 17/31 = 4.935..., 8.00 x 17/31 = 4.387...: billed and shown as 4.94 and 4.39
    assert "20 @ 1.00; maximum 4.94 applies" in result.stdout
    assert "1 @ 1.00; minimum 4.39 applies" in result.stdout
    assert "4.9354" not in result.stdout and "4.3870" not in result.stdout
    if fmt == "csv":
        rows_out = {
            (r["account"], r["charge"]): r for r in csv.DictReader(io.StringIO(result.stdout))
        }
        assert rows_out["acme", "requests"]["amount"] == "4.94"
        assert rows_out["globex", "requests"]["amount"] == "4.39"


BASIC_AUTH_LOG = """\
10.0.0.1 - John Begood [07/Dec/2026:00:00:01 +0000] "GET /v1/a HTTP/1.1" 200 1 "-" "curl/8.0"
10.0.0.2 - u1 [07/Dec/2026:00:00:02 +0000] "GET /v1/b?x=1 HTTP/1.1" 200 2 "-" "Mozilla/5.0 (X11)"
10.0.0.3 - - [07/Dec/2026:00:00:03 +0000] "GET /v1/c HTTP/1.1" 200 3 "-" "curl/8.0"
10.0.0.4 - Mary  Ann\\x22Lee [07/Dec/2026:00:00:04 +0000] "GET /v1/d HTTP/1.1" 200 4 "-" "curl/8.0"
"""


@pytest.mark.parametrize("fmt", ["auto", "combined"])
def test_a_basic_auth_user_with_spaces_is_stored(tmp_path: Path, fmt: str) -> None:
    from tests.support import events

    log = tmp_path / "access.log"
    log.write_text(BASIC_AUTH_LOG, encoding="utf-8")
    result = cli("ingest", "--store", str(tmp_path / "store"), "--format", fmt, str(log))
    assert result.exit_code == 0, result.stderr
    assert "0 rejected" in result.stdout
    stored = events(tmp_path / "store")
    assert stored.get_column("remote_user").to_list() == [
        "John Begood", "u1", None, 'Mary  Ann"Lee',
    ]  # fmt: skip
    assert stored.get_column("path").to_list() == ["/v1/a", "/v1/b", "/v1/c", "/v1/d"]
    assert stored.get_column("bytes_sent").to_list() == [1, 2, 3, 4]


def test_spaces_in_a_user_only_where_the_format_ends_it_unambiguously(tmp_path: Path) -> None:
    """``$remote_user`` followed by a plain space and another variable cannot hold spaces:
    such a line is rejected, not split somewhere."""
    log = tmp_path / "access.log"
    log.write_text(
        "[07/Dec/2026:00:00:01 +0000] u1 10.0.0.1 200\n"
        "[07/Dec/2026:00:00:02 +0000] John Begood 10.0.0.1 200\n",
        encoding="utf-8",
    )
    fmt = "[$time_local] $remote_user $remote_addr $status"
    result = cli("ingest", "--store", str(tmp_path / "store"), "--log-format", fmt, str(log))
    assert result.exit_code == 0, result.stderr
    assert "1 stored, 1 rejected" in result.stdout


KEYED_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_api_key"'
)


def _public_site(tmp_path: Path, user: str = "-") -> Path:
    """A store of a log without ``$remote_user`` values (``-`` on every line)."""
    tmp_path.mkdir(exist_ok=True)
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'10.0.0.{n} - {user} [0{1 + n % 9}/Oct/2026:10:00:00 +0000] "GET /v1/{n} HTTP/1.1" '
            f'200 10 "-" "curl/8.0" "key-{n % 2}"\n'
            for n in range(30)
        ),
        encoding="utf-8",
    )
    store = tmp_path / "store"
    result = cli("ingest", "-q", "--store", str(store), "--log-format", KEYED_FORMAT, str(log))
    assert result.exit_code == 0, result.stderr
    return store


@pytest.mark.parametrize(
    "command",
    [
        ("mau", "--month", "2026-10"),
        ("mau", "--month", "2026-10", "--list-users"),
        ("peak", "--month", "2026-10", "--metric", "users", "--window", "1h"),
        ("usage", "--by", "day"),
        ("usage",),
    ],
    ids=" ".join,
)
def test_a_log_without_users_says_every_request_is_anonymous(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    store = _public_site(tmp_path)
    result = cli(*command, "--store", str(store), "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert "every request is anonymous" in result.stderr
    assert "--user-field remote_addr" in result.stderr
    assert "--user-field http_x_api_key" in result.stderr
    with_users = _public_site(tmp_path / "users", user="ann")
    result = cli(*command, "--store", str(with_users), "-f", "csv")
    assert "anonymous" not in result.stderr


def test_files_skipped_by_name_in_a_folder_are_named_in_the_summary(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "old").mkdir(parents=True)
    line = '10.0.0.1 - - [07/Oct/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8.0"\n'
    (logs / "access.log").write_text(line)
    (logs / "error.log").write_text("2026/10/07 10:00:00 [error] 1#1: oops\n")
    (logs / "old" / "access_log_dupe.0").write_text(line.replace("10:00", "11:00"))
    (logs / ".hidden.log").write_text(line)
    result = cli("ingest", "--store", str(tmp_path / "store"), str(logs))
    assert result.exit_code == 0, result.stderr
    assert "files: 1 (1 new, 0 grown, 0 unchanged, 0 duplicate); 3 skipped by name" in (
        result.stdout
    )
    assert f"  skipped   1 hidden: {logs / '.hidden.log'}" in result.stdout
    assert f"  skipped   1 matches --exclude: {logs / 'error.log'}" in result.stdout
    assert f"  skipped   1 not matching --include: {logs / 'old' / 'access_log_dupe.0'}" in (
        result.stdout
    )
    # a file named on its own is read, not skipped
    named = cli("ingest", "--store", str(tmp_path / "s2"), str(logs), str(logs / "error.log"))
    assert "matches --exclude" not in named.stdout
    assert "; 2 skipped by name" in named.stdout


def test_a_file_in_no_known_format_is_not_labelled_with_a_format(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("this is not\na log line\n")
    result = cli("ingest", "--store", str(tmp_path / "store"), str(log))
    assert result.exit_code == 1
    assert f"  failed    {log} [no known format]" in result.stdout
    assert "json/caddy" not in result.stdout
    assert "no line matches a known log format" in result.stderr


def test_one_name_per_idea_in_every_command() -> None:
    """``--format`` is the output format wherever it is shown, the month is ``--month``
    wherever a command takes one, and older spellings are hidden aliases."""
    import click

    from meterlog.cli import main
    from meterlog.commands.options import OUTPUT_FORMATS

    context = click.Context(main)
    shown: dict[str, set[str]] = {}
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        assert command is not None
        for param in command.params:
            record = param.get_help_record(click.Context(command))
            if not isinstance(param, click.Option) or record is None:
                continue
            visible = [o for o in param.opts if o in record[0]]
            for option in visible:
                shown.setdefault(option, set()).add(name)
            if "--format" in visible:
                assert isinstance(param.type, click.Choice)
                assert tuple(param.type.choices) == OUTPUT_FORMATS, name
            assert "--period" not in visible, name
            if "--month" in visible:
                assert record[0].startswith("--month YYYY-MM|previous|current"), (name, record)
    assert shown["--month"] >= {"mau", "peak", "report", "bill"}
    assert shown["--input-format"] == {"ingest", "watch"}


def test_older_spellings_still_work(tmp_path: Path) -> None:
    from tests.support.billing import build_store

    log = tmp_path / "access.log"
    log.write_text(BASIC_AUTH_LOG, encoding="utf-8")
    for option in ("--format", "--input-format"):
        store = tmp_path / option.strip("-")
        result = cli("ingest", "--store", str(store), option, "combined", str(log))
        assert result.exit_code == 0, result.stderr
        assert "[combined] +4 rows" in result.stdout
    build_store(tmp_path / "bills", [{"ts": "2026-10-20T12:00:00", "http_x_api_key": "acme"}])
    (tmp_path / "plans.toml").write_text(PRORATED_PLANS, encoding="utf-8")
    outputs = []
    for option in ("--period", "--month"):
        result = cli(
            "bill", option, "2026-10", "--plan", str(tmp_path / "plans.toml"),
            "--store", str(tmp_path / "bills"), "--account-field", "http_x_api_key", "-f", "csv",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("command", ["mau", "peak"])
def test_mau_and_peak_take_previous_and_current_as_bill_does(tmp_path: Path, command: str) -> None:
    from datetime import UTC, datetime

    from meterlog.periods import Month

    store = _public_site(tmp_path, user="ann")
    this_month = Month.containing(datetime.now(UTC), UTC)
    for word, month in (("current", this_month), ("previous", this_month.previous())):
        result = cli(command, "--store", str(store), "--month", word, "-f", "csv")
        assert result.exit_code == 0, result.stderr
        assert f"no requests stored in {month} (UTC)" in result.stderr
    result = cli(command, "--store", str(store), "--month", "2026-10..current", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert "default,2026-10," in result.stdout
    spelled = cli(command, "--store", str(store), "--month", f"2026-10..{this_month}", "-f", "csv")
    assert result.stdout == spelled.stdout


ZONED_PLANS = """
default_plan = "basic"
currency = "EUR"

[accounts]
acme = { plan = "basic", tz = "Europe/Berlin" }
globex = { plan = "basic", tz = "America/New_York" }

[plans.basic]
[[plans.basic.charges]]
name = "requests"
meter = "count"
pricing = "per_unit"
unit_price = "1.00"
"""


def test_data_ending_before_the_month_ends_is_one_warning_for_every_time_zone(
    tmp_path: Path,
) -> None:
    from tests.support.billing import build_store

    rows = [
        {"ts": "2026-10-20T12:00:00", "http_x_api_key": "acme"},
        {"ts": "2026-10-31T22:59:00", "http_x_api_key": "globex"},
    ]
    build_store(tmp_path / "store", rows)
    (tmp_path / "plans.toml").write_text(ZONED_PLANS, encoding="utf-8")
    result = cli(
        "bill", "--month", "2026-10", "--plan", str(tmp_path / "plans.toml"),
        "--store", str(tmp_path / "store"), "--account-field", "http_x_api_key", "-f", "table",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    incomplete = [line for line in result.stderr.splitlines() if "may be incomplete" in line]
    assert len(incomplete) == 1, result.stderr
    for zone in ("Europe/Berlin", "UTC", "America/New_York"):
        assert zone in incomplete[0]
    assert "complete: no (1 completeness warnings)" in result.stdout


def test_third_party_logs_are_read_only_through_the_helper_that_skips_visibly() -> None:
    """Tests read ``../shared/realdata`` through :func:`tests.support.realdata`, which skips
    with a reason naming the missing path (shown by ``-ra``) instead of failing."""
    import re

    from tests.support import REPO, realdata

    with pytest.raises(pytest.skip.Exception, match=r"third-party logs not found at .*no-such"):
        realdata("no-such-log-folder")
    direct = re.compile(r"[\"']shared[\"']|[\"'](\.\./)?shared/realdata|REALDATA\b")
    offenders = [
        path.relative_to(REPO / "tests").as_posix()
        for path in sorted((REPO / "tests").rglob("*.py"))
        if path.relative_to(REPO / "tests").as_posix()
        not in ("support/__init__.py", "test_first_hour.py")
        and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"read shared/realdata through tests.support.realdata: {offenders}"
    assert "-ra" in (REPO / "pyproject.toml").read_text(encoding="utf-8")
