"""`lapor-hub import FILE` on real PostgreSQL: bad rows reported, the rest imported, once."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lapor_hub.cli import app
from tests.integration.test_intake import CSV_IMPORT


def test_the_import_command_reports_bad_rows_and_imports_the_rest_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPOR_HUB_DATABASE_URL", database_url)
    backlog = tmp_path / "outage-backlog.csv"
    backlog.write_text(CSV_IMPORT.replace("P-", "CLI-"))
    runner = CliRunner()

    first = runner.invoke(app, ["import", str(backlog), "--operator", "rina"])
    assert first.exit_code == 1  # rows were refused
    assert "accepted: 3, already imported: 0, rejected rows: 2" in first.output
    assert "line 3: title:" in first.output and "line 5: location.region_code:" in first.output

    again = runner.invoke(app, ["import", str(backlog), "--operator", "rina"])
    assert "accepted: 0, already imported: 3, rejected rows: 2" in again.output
