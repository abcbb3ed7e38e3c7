"""A newcomer's first hour: the commands that used to end in a traceback or say the wrong
thing on ordinary input, run on real stores built from generated logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.anomaly_support import at, hourly, ingest
from tests.conftest import cli

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
