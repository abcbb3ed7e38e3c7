"""``meterlog usage`` on the command line: output choice, messages, exit codes, config, and the
acceptance checks (totals equal the stored line count, independent reference, one-day reads)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner, Result

from meterlog.cli import main
from meterlog.schema import conform_events
from meterlog.store import Store
from tests.support.usage import ACCOUNTS_CSV, build_store, requests_frame, utc


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("usage-cli") / "store"
    build_store(path)
    return path


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """``meterlog usage ARGS`` with no config file or store from the environment."""
    isolated: dict[str, str | None] = {"METERLOG_CONFIG": None, "METERLOG_STORE": None}
    return CliRunner().invoke(main, ["usage", *args], env={**isolated, **(env or {})})


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_piped_output_is_csv(store_path: Path) -> None:
    result = run("--store", str(store_path), "--by", "status_class")
    assert result.exit_code == 0, result.output
    assert csv_rows(result.stdout) == [
        [
            *["status_class", "requests", "errors_4xx", "errors_5xx", "bytes_sent", "users"],
            *["latency_p50", "latency_p95", "latency_p99"],
        ],
        ["2xx", "6", "0", "0", "1020", "2", "0.1", "0.28", "0.296"],
        ["3xx", "1", "0", "0", "0", "1", "0.5", "0.5", "0.5"],
        ["4xx", "1", "1", "0", "50", "0", "0.4", "0.4", "0.4"],
        ["5xx", "2", "0", "2", "20", "1", "1.5", "1.95", "1.99"],
    ]
    assert result.stderr == ""


def test_store_comes_from_the_environment(store_path: Path) -> None:
    result = run("--by", "month", env={"METERLOG_STORE": str(store_path)})
    assert result.exit_code == 0
    assert csv_rows(result.stdout)[1][:2] == ["2026-10-01T00:00:00+00:00", "10"]


def test_table_on_request_has_totals_and_a_bar(store_path: Path) -> None:
    # a table written to a pipe is as wide as $COLUMNS (160 without it): room for every column
    result = run("--store", str(store_path), "--by", "day", "-f", "table", env={"COLUMNS": "160"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.split("│")[1:-1]]

    first = next(line for line in lines if "2026-10-01" in line)
    # the largest value fills the bar
    expected = ["2026-10-01", "5", "1", "0", "660", "2", "0.200", "0.380", "0.396", "█" * 20]
    assert cells(first) == expected
    total = next(line for line in lines if "total" in line)
    # bytes summed with a thousands separator; users and latency over all requests
    assert cells(total) == ["total", "10", "1", "2", "1,090", "3", "0.300", "1.600", "1.920", ""]


def test_output_file_format_from_extension(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "usage.parquet"
    result = run("--store", str(store_path), "--by", "day", "-o", str(out))
    assert result.exit_code == 0
    frame = pl.read_parquet(out)
    assert frame.schema["day"] == pl.Datetime("us", "UTC")
    assert frame.get_column("requests").to_list() == [5, 4, 0, 0, 1]  # 3 and 4 Oct: none


def test_empty_result_is_header_only_with_a_note(store_path: Path) -> None:
    result = run("--store", str(store_path), "--by", "day", "--status", "1xx", "-f", "csv")
    assert result.exit_code == 0
    assert result.stdout_bytes == b"day,requests,errors_4xx,errors_5xx,bytes_sent,users\r\n"
    assert result.stderr == "meterlog: note: no requests match --status 1xx\n"


def test_empty_table_exits_zero(store_path: Path) -> None:
    result = run("--store", str(store_path), "--since", "2030-01-01", "-f", "table")
    assert result.exit_code == 0
    assert "requests" in result.stdout
    assert "no requests stored from 2030-01-01" in result.stderr


def test_unmapped_account_keys_warning(store_path: Path, tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(ACCOUNTS_CSV)
    result = run(
        "--store",
        str(store_path),
        "--by",
        "account",
        "--account-field",
        "http_x_api_key",
        "--accounts",
        str(accounts),
    )
    assert result.exit_code == 0
    assert [row[:2] for row in csv_rows(result.stdout)] == [
        ["account", "requests"],
        ["acme", "7"],
        ["k3", "2"],
        ["", "1"],
    ]
    assert result.stderr.startswith("meterlog: warning: 1 account key is not in ")
    assert result.stderr.endswith(": k3; add them to the file to roll them up to an account\n")


#   user                         path          user agent
CSV_INJECTION = [
    ('=HYPERLINK("http://evil")', "=cmd|' /C calc'!A0", "=1+1"),
    ("+cmd", "+x", "+agent"),
    ("-cmd", "-x", "-agent"),
    ("@SUM(A1)", "@x", "@agent"),
    ("\tcmd", "\tx", "\tagent"),
    ("\rcmd", "\rx", "\ragent"),
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def injection_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [
        ("2026-10-01T08:00", user, None, "GET", path, 200, 1, agent, None)
        for user, path, agent in CSV_INJECTION
    ]
    path = tmp_path_factory.mktemp("injection") / "store"
    build_store(path, requests_frame(rows), sources=1)
    return path


@pytest.mark.parametrize(("field", "index"), [("remote_user", 0), ("user_agent", 2)])
def test_csv_injection_in_user_values(injection_store: Path, field: str, index: int) -> None:
    result = run("--store", str(injection_store), "--by", "user", "--user-field", field)
    assert result.exit_code == 0
    cells = sorted(row[0] for row in csv_rows(result.stdout_bytes.decode())[1:])
    # identities are trimmed, so a leading tab or CR is gone before the CSV writer sees it
    identities = {values[index].strip() for values in CSV_INJECTION}
    assert cells == sorted(
        "'" + value if value.startswith(FORMULA_STARTS) else value for value in identities
    )
    assert not any(cell.startswith(FORMULA_STARTS) for cell in cells)


def test_csv_injection_in_paths(injection_store: Path) -> None:
    result = run("--store", str(injection_store), "--by", "endpoint")
    cells = sorted(row[0] for row in csv_rows(result.stdout_bytes.decode())[1:])
    assert cells == sorted("'" + values[1] for values in CSV_INJECTION)


def test_a_formula_character_inside_a_value_is_left_alone(tmp_path: Path) -> None:
    rows = [("2026-10-01T08:00", "a=b", None, "GET", "/v1/=x", 200, 1, None, None)]
    build_store(tmp_path / "s", requests_frame(rows), sources=1)
    result = run("--store", str(tmp_path / "s"), "--by", "user", "--by", "endpoint")
    assert csv_rows(result.stdout)[1][:2] == ["a=b", "/v1/=x"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "region"], "'region' is not one of hour, day"),
        (["--status", "2x"], "cannot read status '2x'"),
        (["--sort", "speed"], "'speed' is not one of"),
        (["--top", "0"], "0 is not in the range x>=1"),
        (["--format", "xlsx"], "'xlsx' is not one of"),
    ],
)
def test_usage_errors_exit_2(store_path: Path, args: list[str], message: str) -> None:
    result = run("--store", str(store_path), *args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "cannot read 'yesterday' as a date or time"),
        (["--tz", "Mars/Base"], "unknown time zone 'Mars/Base'"),
        (["--since", "2026-10-02", "--until", "2026-10-01T00:00"], "is not before --until"),
    ],
)
def test_bad_value_is_one_line_and_exit_2(store_path: Path, args: list[str], message: str) -> None:
    result = run("--store", str(store_path), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("meterlog: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accounts", "accounts.csv"], "no account field says which column holds them"),
        (["--by", "endpoint", "--openapi", "absent.yaml"], "cannot read the OpenAPI document"),
        (["-o", "out.xlsx"], "cannot tell the output format from 'out.xlsx'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(store_path: Path, args: list[str], message: str) -> None:
    result = run("--store", str(store_path), *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("meterlog: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_store_is_one_line(tmp_path: Path) -> None:
    result = run("--store", str(tmp_path / "nothing"))
    assert result.exit_code == 1
    assert result.stderr == (  # issue 15: a mistyped --store is named as such
        f"meterlog: error: no meterlog store at {tmp_path / 'nothing'} "
        "(check --store / METERLOG_STORE)\n"
    )


CONFIG = """\
store = "store"
tz = "Europe/Berlin"
user_field = "http_x_api_key"
account_field = "http_x_api_key"
accounts = "accounts.csv"

[endpoints]
routes = ["/v1/users/{user_id}/orders"]

[bots]
patterns = ["python-requests"]
"""


def test_config_file_and_overrides(store_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "store").symlink_to(store_path)
    (folder / "accounts.csv").write_text(ACCOUNTS_CSV)
    (folder / "meterlog.toml").write_text(CONFIG)
    runner = CliRunner()
    args = ["usage", "--by", "account", "--by", "day", "--exclude-bots"]
    env = {"METERLOG_CONFIG": str(folder / "meterlog.toml")}
    result = runner.invoke(main, args, env=env)
    assert result.exit_code == 0, result.stderr
    table = csv_rows(result.stdout)
    assert table[0][:4] == ["account", "day", "requests", "errors_4xx"]
    # Berlin days; python-requests (#3) dropped; users counted by API key; days without
    # requests of an account are rows of zeros (left out here)
    assert len(table) == 1 + 3 * 5  # three accounts (acme, k3, none) times 1 to 5 October
    assert [row[:3] + row[6:7] for row in table[1:] if row[2] != "0"] == [
        ["acme", "2026-10-01T00:00:00+02:00", "4", "2"],
        ["acme", "2026-10-02T00:00:00+02:00", "1", "1"],
        ["acme", "2026-10-05T00:00:00+02:00", "1", "1"],
        ["k3", "2026-10-02T00:00:00+02:00", "2", "1"],
        ["", "2026-10-02T00:00:00+02:00", "1", "0"],
    ]
    override = runner.invoke(main, [*args, "--tz", "UTC", "--user-field", "remote_user"], env=env)
    assert csv_rows(override.stdout)[1][1] == "2026-10-01T00:00:00+00:00"
    routes = runner.invoke(main, ["usage", "--by", "endpoint", "--path", "/v1/users/*"], env=env)
    assert csv_rows(routes.stdout)[1][:2] == ["/v1/users/{user_id}/orders", "5"]


def test_config_errors_name_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "meterlog.toml"
    config.write_text('colour = "blue"\n')
    result = CliRunner().invoke(main, ["usage", "--config", str(config)])
    assert result.exit_code == 1
    assert f"{config}: unknown key 'colour'" in result.stderr


# -- acceptance ------------------------------------------------------------------------------


def random_requests(count: int, days: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = utc("2026-08-01T00:00")
    users = np.array(["ann", "bob", "cid", "dan", "eve", "-", "", "anon"], dtype=object)
    users[7] = None
    keys = np.array(["k1", "k2", "k3", "k4", None], dtype=object)
    frame = pl.DataFrame(
        {
            "ts": [start + timedelta(seconds=int(s)) for s in rng.integers(0, days * 86400, count)],
            "remote_user": users[rng.integers(0, len(users), count)].tolist(),
            "http_x_api_key": keys[rng.integers(0, len(keys), count)].tolist(),
            "method": "GET",
            "path": [f"/v1/items/{n}" for n in rng.integers(0, 50, count)],
            "status": rng.choice([200, 201, 404, 500], count).tolist(),
            "bytes_sent": rng.integers(0, 5000, count).tolist(),
        }
    )
    return conform_events(frame)


@pytest.fixture(scope="module")
def random_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    frame = random_requests(1500, days=92, seed=7)
    path = tmp_path_factory.mktemp("random") / "store"
    build_store(path, frame, sources=3)
    return path, frame


def test_by_day_csv_sums_to_the_stored_line_count(random_store: tuple[Path, pl.DataFrame]) -> None:
    path, frame = random_store
    result = run("--store", str(path), "--by", "day", "--format", "csv")
    assert result.exit_code == 0
    rows = csv_rows(result.stdout)
    assert rows[0][:2] == ["day", "requests"]
    lines = sum(Store(path).progress(f"src{index}").lines for index in range(3))
    assert sum(int(row[1]) for row in rows[1:]) == lines == frame.height == 1500


def reference(frame: pl.DataFrame, group: str | None, accounts: dict[str, str]) -> dict:
    """Requests and distinct users per group, computed row by row in plain Python."""
    requests: dict = defaultdict(int)
    users: dict = defaultdict(set)
    for row in frame.iter_rows(named=True):
        user = (row["remote_user"] or "").strip()
        key = (row["http_x_api_key"] or "").strip() or None
        account = accounts.get(key, key) if key is not None else None
        name = {"account": account, "user": user if user not in ("", "-") else None}[group]
        requests[name] += 1
        if user not in ("", "-"):
            users[name].add(user)
    return {name: (requests[name], len(users[name])) for name in requests}


@pytest.mark.parametrize("group", ["account", "user"])
def test_requests_and_users_match_an_independent_reference(
    random_store: tuple[Path, pl.DataFrame], tmp_path: Path, group: str
) -> None:
    path, frame = random_store
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("key,account\nk1,acme\nk2,acme\nk3,globex\n")
    args = ["--store", str(path), "--by", group, "-f", "csv"]
    result = run(*args, "--account-field", "http_x_api_key", "--accounts", str(accounts))
    assert result.exit_code == 0
    rows = csv_rows(result.stdout)
    expected = reference(frame, group, {"k1": "acme", "k2": "acme", "k3": "globex"})
    if group == "user":  # no users column: it would always be 1 (0 for anonymous)
        assert rows[0][:2] == [group, "requests"] and "users" not in rows[0]
        computed = {(row[0] or None): (int(row[1]), int(bool(row[0]))) for row in rows[1:]}
    else:
        assert rows[0][:1] + rows[0][1:2] + rows[0][5:6] == [group, "requests", "users"]
        computed = {(row[0] or None): (int(row[1]), int(row[5])) for row in rows[1:]}
    assert computed == expected
    assert "k4" in result.stderr  # the unmapped key is warned about


def test_one_day_query_reads_only_that_days_files(tmp_path: Path) -> None:
    frame = random_requests(900, days=92, seed=3)  # August to October
    path = tmp_path / "store"
    build_store(path, frame, sources=1)
    day_folder = "day=2026-09-15"
    files = list((path / "events").rglob("*.parquet"))
    assert len({file.parent.name for file in files}) > 80
    for file in files:
        if file.parent.name != day_folder:
            file.unlink()  # any attempt to read another day now fails
    expected = frame.filter(pl.col("ts").dt.date() == pl.date(2026, 9, 15)).height
    result = run(
        "--store", str(path), "--since", "2026-09-15", "--until", "2026-09-15", "--by", "day"
    )
    assert result.exit_code == 0, result.stderr
    assert csv_rows(result.stdout)[1][:2] == ["2026-09-15T00:00:00+00:00", str(expected)]
    assert run("--store", str(path), "--by", "day").exit_code != 0
