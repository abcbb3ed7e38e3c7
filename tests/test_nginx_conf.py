"""``--nginx-conf``: nginx's escapes, includes and error lines (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterlog.errors import FormatError
from meterlog.formats import read_log_format_from_config
from tests.support import cli, events, utc


def test_escapes_are_read_as_nginx_reads_them(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "http {\n"
        "  log_format tsv '$remote_addr\\t$status\\t[$time_local]';\n"
        "  log_format quotes '$remote_addr \\'$status\\' \\\"$time_local\\\"'\n"
        '                    " \\"$request\\" \\\\ \\n";\n'
        "}\n"
    )
    assert read_log_format_from_config(conf, "tsv").format_string == (
        "$remote_addr\t$status\t[$time_local]"
    )
    assert read_log_format_from_config(conf, "quotes").format_string == (
        '$remote_addr \'$status\' "$time_local" "$request" \\ \n'
    )


def test_errors_name_the_directive_line(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "# comment\n"
        "events {}\n"
        "http {\n"
        "    log_format good '$remote_addr [$time_local]';\n"
        "\n"
        "    log_format bad\n"
        "        '$remote_addr [$time_local] $oops';\n"
        "}\n"
    )
    with pytest.raises(FormatError, match=r"nginx\.conf:6: .*unknown nginx variable \$oops"):
        read_log_format_from_config(conf, "bad")
    broken = tmp_path / "broken.conf"
    broken.write_text("http {\n  server {\n    listen 80;\n  }\n  log_format x '$time_local'\n")
    with pytest.raises(FormatError, match=r"broken\.conf:5: cannot read the nginx config"):
        read_log_format_from_config(broken, "x")


def test_a_tab_separated_format_in_an_included_file(tmp_path: Path) -> None:
    conf_dir = tmp_path / "etc"
    (conf_dir / "conf.d").mkdir(parents=True)
    (conf_dir / "nginx.conf").write_text("events {}\nhttp {\n    include conf.d/*.conf;\n}\n")
    (conf_dir / "conf.d" / "logging.conf").write_text(
        "\n\nlog_format tsv '$time_iso8601\\t$remote_addr\\t$request\\t$status\\t'\n"
        "               '$body_bytes_sent\\t$http_x_api_key';\n"
    )
    log = tmp_path / "api.log"
    log.write_text(
        "2026-10-01T10:00:00+00:00\t10.0.0.1\tGET /v1/a?x=1 HTTP/1.1\t200\t15\tkey one\n"
        "2026-10-01T10:00:01+00:00\t10.0.0.2\tPOST /v1/b HTTP/1.1\t201\t0\t-\n"
    )
    store = tmp_path / "store"
    result = cli(
        "ingest", "--store", str(store), "--nginx-conf", str(conf_dir / "nginx.conf"),
        "--log-format-name", "tsv", str(log),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    stored = events(store).select(
        "ts", "remote_addr", "method", "path", "query", "status", "bytes_sent", "http_x_api_key"
    )
    assert stored.rows() == [
        (utc(2026, 10, 1, 10), "10.0.0.1", "GET", "/v1/a", "x=1", 200, 15, "key one"),
        (utc(2026, 10, 1, 10, 0, 1), "10.0.0.2", "POST", "/v1/b", None, 201, 0, None),
    ]
    # an error in the included file names that file and the directive's line
    (conf_dir / "conf.d" / "logging.conf").write_text("\nlog_format tsv '$time_local\\t$nope';\n")
    with pytest.raises(FormatError, match=r"logging\.conf:2: .*unknown nginx variable \$nope"):
        read_log_format_from_config(conf_dir / "nginx.conf", "tsv")


DEBIAN_NGINX_CONF = """\
user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
include modules-enabled/*.conf;

events {
\tworker_connections 768;
\t# multi_accept on;
}

http {

\t##
\t# Basic Settings
\t##

\tsendfile on;
\ttcp_nopush on;
\ttypes_hash_max_size 2048;
\t# server_tokens off;

\tinclude mime.types;
\tdefault_type application/octet-stream;

\t##
\t# SSL Settings
\t##

\tssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
\tssl_prefer_server_ciphers on;

\t##
\t# Logging Settings
\t##

\taccess_log /var/log/nginx/access.log;

\t##
\t# Gzip Settings
\t##

\tgzip on;

\t##
\t# Virtual Host Configs
\t##

\tinclude conf.d/*.conf;
\tinclude sites-enabled/*;
}
"""


def test_a_debian_layout_config_tree(tmp_path: Path) -> None:
    """nginx.conf includes conf.d/*.conf and sites-enabled/*; a site includes a snippet by a
    path relative to the main config's directory (as nginx resolves it), and the format uses
    a variable a map in another file defines."""
    etc = tmp_path / "nginx"
    for folder in ("conf.d", "sites-available", "sites-enabled", "snippets", "modules-enabled"):
        (etc / folder).mkdir(parents=True)
    (etc / "nginx.conf").write_text(DEBIAN_NGINX_CONF)
    (etc / "mime.types").write_text("types {\n    text/html html htm;\n}\n")
    (etc / "conf.d" / "maps.conf").write_text(
        'map $http_authorization $api_client {\n    default "-";\n'
        "    ~^Bearer\\s+(?<token>\\S+)$ $token;\n}\n"
    )
    (etc / "snippets" / "api-log.conf").write_text(
        "log_format api '$remote_addr - $remote_user [$time_local] \"$request\" '\n"
        '               \'$status $body_bytes_sent "$http_referer" "$http_user_agent" \'\n'
        "               '$request_time \"$api_client\"';\n"
    )
    site = etc / "sites-available" / "api"
    site.write_text(
        "server {\n    listen 80 default_server;\n    server_name _;\n"
        "    include snippets/api-log.conf;\n"
        "    access_log /var/log/nginx/api.log api;\n"
        "    location / {\n        proxy_pass http://127.0.0.1:8080;\n    }\n}\n"
    )
    (etc / "sites-enabled" / "api").symlink_to(site)
    log_format = read_log_format_from_config(etc / "nginx.conf", "api")
    assert log_format.format_string.endswith('$request_time "$api_client"')
    log = tmp_path / "api.log"
    log.write_text(
        '192.0.2.1 - ann [01/Oct/2026:12:00:00 +0200] "GET /v1/x HTTP/1.1" 200 10 "-" "curl/8" '
        '0.012 "tok-1"\n'
    )
    store = tmp_path / "store"
    result = cli(
        "ingest", "--store", str(store), "--nginx-conf", str(etc / "nginx.conf"),
        "--log-format-name", "api", str(log),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert events(store).select("ts", "remote_user", "request_time", "api_client").row(0) == (
        utc(2026, 10, 1, 10),
        "ann",
        0.012,
        "tok-1",
    )
    with pytest.raises(FormatError, match=r"no log_format named 'main' .*: api\)"):
        read_log_format_from_config(etc / "nginx.conf", "main")
