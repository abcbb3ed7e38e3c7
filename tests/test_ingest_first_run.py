"""A first ingest that just works (issue 15, section 3): a detected format that is a guess
is said so, meterlog.toml names the log format once, and the JSON options on the CLI."""

from __future__ import annotations

from pathlib import Path

from meterlog.formats.nginx import COMBINED
from tests.support import cli, events, utc

API_KEY_LINES = [
    f'10.0.0.{i} - - [01/Oct/2026:10:00:0{i} +0000] "GET /v1/items/{i} HTTP/1.1" 200 {i} "-" '
    f'"curl/8" "key_live_{i}abc"'
    for i in range(5)
]
API_KEY_FORMAT = COMBINED + ' "$http_x_api_key"'


def test_an_api_key_detected_as_forwarded_for_is_named_as_a_guess(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("\n".join(API_KEY_LINES) + "\n")
    result = cli("ingest", "--store", str(tmp_path / "store"), str(log))
    assert result.exit_code == 0, result.stderr
    assert "detected as main" in result.stdout
    assert "stored as http_x_forwarded_for, a guess" in result.stdout
    assert f"--log-format '{API_KEY_FORMAT}'" in result.stdout


def test_real_forwarded_for_addresses_are_not_a_guess(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        '10.0.0.1 - - [01/Oct/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8" '
        '"203.0.113.9, 2001:db8::1"\n'
        '10.0.0.1 - - [01/Oct/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8" "-"\n'
    )
    result = cli("ingest", "--store", str(tmp_path / "store"), str(log))
    assert result.exit_code == 0, result.stderr
    assert "guess" not in result.stdout
    assert events(tmp_path / "store").get_column("http_x_forwarded_for").to_list() == [
        "203.0.113.9, 2001:db8::1",
        None,
    ]


def test_meterlog_toml_names_the_log_format(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("\n".join(API_KEY_LINES) + "\n")
    (tmp_path / "meterlog.toml").write_text(f"store = \"store\"\nlog_format = '{API_KEY_FORMAT}'\n")
    result = cli("ingest", str(log))
    assert result.exit_code == 0, result.stderr
    assert "guess" not in result.stdout
    stored = events(tmp_path / "store")
    assert stored.get_column("http_x_api_key").to_list() == [f"key_live_{i}abc" for i in range(5)]
    assert "http_x_forwarded_for" not in stored.columns


def test_meterlog_toml_names_an_nginx_config_and_format(tmp_path: Path) -> None:
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "nginx.conf").write_text(
        f"http {{\n    log_format keyed '{API_KEY_FORMAT}';\n}}\n"
    )
    (tmp_path / "meterlog.toml").write_text(
        'store = "store"\nnginx_conf = "nginx/nginx.conf"\nlog_format_name = "keyed"\n'
    )
    log = tmp_path / "access.log"
    log.write_text("\n".join(API_KEY_LINES) + "\n")
    result = cli("ingest", str(log))
    assert result.exit_code == 0, result.stderr
    assert events(tmp_path / "store").get_column("http_x_api_key").to_list()[0] == "key_live_0abc"
    (tmp_path / "meterlog.toml").write_text('nginx_conf = "nginx/nginx.conf"\n')
    broken = cli("ingest", str(log))
    assert broken.exit_code == 1
    assert "'nginx_conf' and 'log_format_name' go together" in broken.stderr


def test_json_options_on_the_command_line_and_in_meterlog_toml(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    log.write_text(
        '{"when":"2026-10-02T00:30:00","api_key":"k1","req":{"uri":"/v1/a?x=1"}}\n'
        '{"when":"2026-10-02T00:31:00","api_key":"k2","req":{"uri":"/v1/b"}}\n'
    )
    result = cli(
        "ingest", "--store", str(tmp_path / "cli"), "--json-field", "ts=when",
        "--json-field", "http_x_api_key=api_key", "--json-field", "path=req.uri",
        "--json-tz", "Europe/Berlin", str(log),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    expected = [
        (utc(2026, 10, 1, 22, 30), "k1", "/v1/a", "x=1"),
        (utc(2026, 10, 1, 22, 31), "k2", "/v1/b", None),
    ]
    columns = ("ts", "http_x_api_key", "path", "query")
    assert events(tmp_path / "cli").select(columns).rows() == expected
    (tmp_path / "meterlog.toml").write_text(
        'store = "toml"\n[json]\ntz = "Europe/Berlin"\n'
        'fields = { ts = "when", http_x_api_key = "api_key", path = "req.uri" }\n'
    )
    result = cli("ingest", str(log))
    assert result.exit_code == 0, result.stderr
    assert events(tmp_path / "toml").select(columns).rows() == expected


def test_json_option_mistakes_are_usage_errors(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    log.write_text('{"time":"2026-10-02T00:30:00Z"}\n')
    store = str(tmp_path / "store")
    for args in (
        ("--json-tz", "Europe/Berln"),
        ("--json-preset", "apache"),
        ("--json-field", "source_id=x"),
        ("--json-field", "nokey"),
    ):
        result = cli("ingest", "--store", store, *args, str(log))
        assert result.exit_code == 2, (args, result.stderr)
    assert (
        "did you mean Europe/Berlin"
        in cli("ingest", "--store", store, "--json-tz", "Europe/Berln", str(log)).stderr
    )


TRAEFIK_LINES = [
    '{"ClientHost":"192.0.2.7","ClientUsername":"-","DownstreamContentSize":512,'
    f'"DownstreamStatus":200,"Duration":{1_500_000 * (i + 1)},"RequestHost":"api.example.com",'
    f'"RequestMethod":"GET","RequestPath":"/v1/items/{i}","RequestProtocol":"HTTP/1.1",'
    f'"StartUTC":"2026-09-30T23:59:5{i}.5Z","level":"info","msg":"",'
    '"time":"2026-10-01T00:00:01Z"}'
    for i in range(3)
]


def test_auto_recognises_traefik_and_caddy_access_logs(tmp_path: Path) -> None:
    traefik = tmp_path / "traefik.jsonl"
    traefik.write_text("\n".join(TRAEFIK_LINES) + "\n")
    result = cli("ingest", "--store", str(tmp_path / "t"), str(traefik))
    assert result.exit_code == 0, result.stderr
    assert "[json/traefik]" in result.stdout
    stored = events(tmp_path / "t")
    assert stored.get_column("ts").dt.day().to_list() == [30, 30, 30]  # the request's day
    assert stored.get_column("request_time").to_list() == [0.0015, 0.003, 0.0045]
    caddy = tmp_path / "access.log"
    caddy.write_text(
        '{"level":"info","ts":1790812800.25,"logger":"http.log.access","msg":"handled request",'
        '"request":{"remote_ip":"10.0.0.1","client_ip":"203.0.113.5","proto":"HTTP/2.0",'
        '"method":"POST","host":"api.example.com","uri":"/v1/orders?x=1","headers":{}},'
        '"user_id":"","duration":0.25,"size":42,"status":201}\n'
    )
    result = cli("ingest", "--store", str(tmp_path / "c"), str(caddy))
    assert result.exit_code == 0, result.stderr
    assert "[json/caddy]" in result.stdout
    row = events(tmp_path / "c").select("ts", "remote_addr", "method", "path", "query", "host")
    assert row.row(0) == (
        utc(2026, 10, 1, 0, 0, 0, 250000), "203.0.113.5", "POST", "/v1/orders", "x=1",
        "api.example.com",
    )  # fmt: skip
    plain = tmp_path / "app.jsonl"
    plain.write_text('{"time":"2026-10-01T00:00:00Z","request":"GET /a HTTP/1.1"}\n')
    result = cli("ingest", "--store", str(tmp_path / "p"), str(plain))
    assert result.exit_code == 0, result.stderr
    assert "[json]" in result.stdout
