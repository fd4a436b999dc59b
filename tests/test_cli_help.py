"""The help of the commands that touch a campaign says what they read from the environment and how they exit."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from photogpt_batch.cli import cli


@pytest.mark.parametrize("command", ["run", "plan", "status"])
def test_help_names_the_environment_and_the_exit_codes(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=120)
    assert result.exit_code == 0
    text = result.output
    assert "PHOTOGPT_API_KEY" in text and "PHOTOGPT_BASE_URL" in text
    assert "Exit codes:" in text
    assert "  0    " in text and "  2    bad spec, usage or configuration" in text


def test_run_help_lists_every_exit_code_it_uses() -> None:
    text = CliRunner().invoke(cli, ["run", "--help"], terminal_width=120).output
    exit_codes = text.split("Exit codes:")[1]
    assert [line.split()[0] for line in exit_codes.strip().splitlines()] == ["0", "1", "2", "130"]
